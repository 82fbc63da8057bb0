"""Registration codes cannot be guessed without bound, nor mailboxes flooded.

The attack as performed: fifteen wrong guesses over three codes were followed by a fourth
code that worked, and one person received ten emails in seconds.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import RegistrationAttempt
from delivery.models import Message
from tests.accounts.test_registration import code_from, submit
from tests.factories import PersonFactory, UserFactory
from tests.helpers import in_threads, on_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

CODE = reverse("accounts:register_code")
ACCOUNT = reverse("accounts:register_account")
AFFILIATE = reverse("accounts:register_affiliate")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def codes_to(address: str) -> int:
    return Message.objects.filter(recipient=address, purpose="registration_code").count()


def test_wrong_codes_count_per_person_across_codes(outbox, time_machine):
    person = PersonFactory()
    time_machine.move_to(timezone.now(), tick=False)
    # Three wrong guesses on the first code, two on a second one mailed an hour later...
    client = Client()
    submit(client, last_name=person.last_name, huid=person.huid)
    first = code_from(outbox, person.email)
    for _ in range(3):
        client.post(CODE, {"code": wrong(first)})
    time_machine.shift(timedelta(minutes=61))
    client = Client()
    submit(client, last_name=person.last_name, huid=person.huid)
    second = code_from(outbox, person.email)
    assert second != first or codes_to(person.email) == 2
    for _ in range(2):
        client.post(CODE, {"code": wrong(second)})
    # ...spend the person's five tries: the right second code no longer works,
    refused = client.post(CODE, {"code": second})
    assert refused.status_code == HTTPStatus.OK
    assert client.get(ACCOUNT).url == CODE
    # and a further submission mails no new code with fresh tries.
    sent = codes_to(person.email)
    time_machine.shift(timedelta(minutes=61))
    submit(Client(), last_name=person.last_name, huid=person.huid)
    assert codes_to(person.email) == sent


def test_the_fifteen_guesses_attack_is_stopped_at_five(outbox, time_machine):
    person = PersonFactory()
    time_machine.move_to(timezone.now(), tick=False)
    guesses = 0
    for _ in range(3):
        client = Client()
        submit(client, last_name=person.last_name, huid=person.huid)
        code = code_from(outbox, person.email)
        for _ in range(5):
            client.post(CODE, {"code": wrong(code)})
            guesses += 1
        time_machine.shift(timedelta(minutes=61))
    client = Client()
    submit(client, last_name=person.last_name, huid=person.huid)
    latest = code_from(outbox, person.email)
    client.post(CODE, {"code": latest})
    assert client.get(ACCOUNT).url == CODE, "no fourth code works"
    assert codes_to(person.email) == 1, "after five wrong codes no new code was mailed"


def test_ten_matching_submissions_in_seconds_mail_at_most_the_hourly_cap(outbox):
    person = PersonFactory()
    for _ in range(10):
        page = submit(Client(), last_name=person.last_name, huid=person.huid)
        assert page.status_code == HTTPStatus.OK
    assert codes_to(person.email) == app_settings.REGISTRATION_CODES_PER_HOUR
    # The code mailed last is the one that works for a submission past the cap.
    client = Client()
    submit(client, last_name=person.last_name, huid=person.huid)
    assert client.post(CODE, {"code": code_from(outbox, person.email)}).url == ACCOUNT


def test_matching_submissions_per_ip_are_capped(settings):
    settings.ACCOUNTS_REGISTRATION_IP_SUBMISSIONS = 5
    people = PersonFactory.create_batch(6)
    answers = [submit(Client(), last_name=p.last_name, huid=p.huid).status_code for p in people]
    assert answers == [HTTPStatus.OK] * 5 + [HTTPStatus.TOO_MANY_REQUESTS]


def test_already_registered_notices_are_capped_per_address(outbox):
    user = UserFactory()
    for _ in range(5):
        submit(Client(), last_name=user.person.last_name, huid=user.person.huid)
    notices = Message.objects.filter(
        recipient=user.person.email, purpose="registration_account_exists"
    )
    assert notices.count() == app_settings.REGISTRATION_NOTICES_PER_HOUR


def test_affiliate_links_are_capped_per_address_and_per_ip(settings, outbox):
    settings.ACCOUNTS_AFFILIATE_IP_LIMIT = 6
    address = "resident@partners.org"
    answers = [Client().post(AFFILIATE, {"email": address}).status_code for _ in range(7)]
    assert answers == [HTTPStatus.OK] * 6 + [HTTPStatus.TOO_MANY_REQUESTS]
    links = Message.objects.filter(recipient=address, purpose="affiliate_signup")
    assert links.count() == app_settings.AFFILIATE_LINKS_PER_HOUR


@on_postgresql
def test_guesses_sent_at_once_from_one_address_get_no_more_than_the_limit(settings):
    """Eight wrong Harvard IDs sent together, one failure left in the address's budget: each
    attempt is written before the limit is counted, so at most one is looked up (none, when
    all eight are written before any counts: the limit fails closed)."""
    settings.ACCOUNTS_REGISTRATION_IP_LIMIT = 3
    for _ in range(2):
        RegistrationAttempt.objects.create(ip="127.0.0.1", matched=False)
    clients = [Client() for _ in range(8)]
    answers = in_threads(
        lambda i: submit(clients[i], last_name="Nobody", huid=f"{20_000_000 + i}").status_code, 8
    )
    assert answers.count(HTTPStatus.OK) <= 1
    assert answers.count(HTTPStatus.TOO_MANY_REQUESTS) >= 7
    assert RegistrationAttempt.objects.filter(ip="127.0.0.1", matched=False).count() <= 3
