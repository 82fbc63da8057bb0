"""Registration as a person meets it: a step bar on every page, "Send a new code" under the same
limits, a confirmation that names the username, and the page asked for at the end."""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from accounts.app_settings import app_settings
from delivery.models import Message
from tests.accounts.test_registration import GOOD_PASSWORD, code_from, submit
from tests.factories import PersonFactory, UserFactory
from tests.helpers import page_text

pytestmark = pytest.mark.django_db(transaction=True)

REGISTER = reverse("accounts:register")
CODE = reverse("accounts:register_code")
ACCOUNT = reverse("accounts:register_account")
PROMPT = reverse("safecode:prompt")
ADDRESS = reverse("accounts:address")
STEPS = ["Your details", "Confirm by email", "Username and password", "Done"]


def resend(client):
    return client.post(CODE, {"action": "resend"}, follow=True)


def codes_to(address: str) -> int:
    return Message.objects.filter(recipient=address, purpose="registration_code").count()


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def current_step(response) -> str:
    """The step the progress bar marks as current, as a screen reader announces it."""
    html = response.content.decode()
    nav = re.search(r'<nav class="steps-nav" aria-label="Progress">(.*?)</nav>', html, re.DOTALL)
    assert nav, "no step bar on the page"
    steps = re.findall(r"<li[^>]*>([^<]+)<", nav.group(1))
    assert steps == STEPS
    current = re.search(r'<li[^>]*aria-current="step"[^>]*>([^<]+)<', nav.group(1))
    return current.group(1)


def create_account(client, username="neil.smith", **follow):
    return client.post(
        ACCOUNT,
        {"username": username, "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
        **follow,
    )


def at(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "g:i A")


# Send a new code -------------------------------------------------------------------------------


def test_a_new_code_works_and_the_first_one_stops_working(client, outbox):
    person = PersonFactory()
    submit(client, last_name=person.last_name, huid=person.huid)
    first = code_from(outbox, person.email)

    page = resend(client)

    assert page.status_code == HTTPStatus.OK
    assert b"we sent a new code to the institutional email on file" in page.content
    assert codes_to(person.email) == 2
    second = code_from(outbox, person.email)
    if first != second:
        refused = client.post(CODE, {"code": first})
        assert b"That code is not right" in refused.content
    assert client.post(CODE, {"code": second}).url == ACCOUNT


def test_the_code_page_says_the_code_went_to_the_institutional_email(client):
    person = PersonFactory()
    page = submit(client, last_name=person.last_name, huid=person.huid)
    assert b"institutional email, the address on file with HR or your registrar" in page.content
    assert person.email.encode() not in page.content
    assert b"Send a new code" in page.content


def test_a_new_code_brings_no_new_tries(client, outbox):
    person = PersonFactory()
    submit(client, last_name=person.last_name, huid=person.huid)
    first = code_from(outbox, person.email)
    for _ in range(3):
        client.post(CODE, {"code": wrong(first)})
    resend(client)
    second = code_from(outbox, person.email)
    for _ in range(app_settings.REGISTRATION_CODE_MAX_FAILURES - 3):
        client.post(CODE, {"code": wrong(second)})

    refused = client.post(CODE, {"code": second})

    assert b"That code is not right" in refused.content
    assert client.get(ACCOUNT).url == CODE


def test_a_resend_past_the_cap_sends_nothing_and_reads_as_a_mismatch(outbox, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    person = PersonFactory()
    matched, mismatched = Client(), Client()
    submit(matched, last_name=person.last_name, huid=person.huid)
    submit(mismatched, last_name="Someone-Else", huid=person.huid)
    for _ in range(app_settings.REGISTRATION_CODES_PER_HOUR - 1):
        assert page_text(resend(matched)) == page_text(resend(mismatched))
    assert codes_to(person.email) == app_settings.REGISTRATION_CODES_PER_HOUR
    newest = code_from(outbox, person.email)

    capped, other = resend(matched), resend(mismatched)

    assert codes_to(person.email) == app_settings.REGISTRATION_CODES_PER_HOUR
    assert capped.status_code == other.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert page_text(capped) == page_text(other)
    assert b"No new code was sent: a code was already sent" in capped.content
    assert f"You can ask for a new code at {at(start + timedelta(hours=1))}".encode() in (
        capped.content
    )
    assert b"we sent a new code" not in capped.content
    assert matched.post(CODE, {"code": newest}).url == ACCOUNT, "the newest code still works"


def test_a_new_code_can_be_asked_for_again_when_the_hour_is_over(outbox, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    person = PersonFactory()
    client = Client()
    submit(client, last_name=person.last_name, huid=person.huid)
    for _ in range(app_settings.REGISTRATION_CODES_PER_HOUR - 1):
        resend(client)

    # Asking again every 20 minutes keeps the page's flow alive (it ends after 30 idle minutes).
    for minutes in (20, 40):
        time_machine.move_to(start + timedelta(minutes=minutes), tick=False)
        assert resend(client).status_code == HTTPStatus.TOO_MANY_REQUESTS
    time_machine.move_to(start + timedelta(hours=1) - timedelta(seconds=1), tick=False)
    assert resend(client).status_code == HTTPStatus.TOO_MANY_REQUESTS
    time_machine.move_to(start + timedelta(hours=1) + timedelta(seconds=1), tick=False)
    page = resend(client)

    assert page.status_code == HTTPStatus.OK
    assert codes_to(person.email) == app_settings.REGISTRATION_CODES_PER_HOUR + 1
    assert client.post(CODE, {"code": code_from(outbox, person.email)}).url == ACCOUNT


def test_the_per_person_cap_holds_across_flows_and_the_answer_stays_the_same(outbox):
    person = PersonFactory()
    for _ in range(app_settings.REGISTRATION_CODES_PER_HOUR):
        submit(Client(), last_name=person.last_name, huid=person.huid)
    newest = code_from(outbox, person.email)
    matched, mismatched = Client(), Client()
    submit(matched, last_name=person.last_name, huid=person.huid)
    submit(mismatched, last_name="Nobody", huid="99999999")

    assert page_text(resend(matched)) == page_text(resend(mismatched))
    assert codes_to(person.email) == app_settings.REGISTRATION_CODES_PER_HOUR
    assert matched.post(CODE, {"code": newest}).url == ACCOUNT


def test_a_resend_for_an_existing_account_is_a_capped_notice_and_reads_the_same(outbox):
    user = UserFactory()
    existing, mismatched = Client(), Client()
    submit(existing, last_name=user.person.last_name, huid=user.person.huid)
    submit(mismatched, last_name="Nobody", huid="99999999")

    assert page_text(resend(existing)) == page_text(resend(mismatched))
    notices = Message.objects.filter(
        recipient=user.person.email, purpose="registration_account_exists"
    )
    assert notices.count() == app_settings.REGISTRATION_NOTICES_PER_HOUR
    assert not codes_to(user.person.email)


# Steps, the confirmation and next ----------------------------------------------------------------


def test_every_registration_page_shows_where_the_person_is(client, outbox):
    person = PersonFactory()
    assert current_step(client.get(REGISTER)) == "Your details"
    code_page = submit(client, last_name=person.last_name, huid=person.huid)
    assert current_step(code_page) == "Confirm by email"
    assert current_step(resend(client)) == "Confirm by email"
    account_page = client.post(CODE, {"code": code_from(outbox, person.email)}, follow=True)
    assert current_step(account_page) == "Username and password"


def test_the_alternative_to_a_harvard_id_says_who_it_is_for(client):
    page = client.get(REGISTER)
    assert b"Step 3: Only if you have no Harvard ID" in page.content
    assert b"For people without a Harvard ID" in page.content


def test_the_confirmation_names_the_username_once(client, outbox):
    person = PersonFactory()
    submit(client, last_name=person.last_name, huid=person.huid)
    client.post(CODE, {"code": code_from(outbox, person.email)})

    landed = create_account(client, follow=True)

    assert landed.redirect_chain[-1][0].startswith(PROMPT)
    assert b"Your account is ready. Your username is neil.smith." in landed.content
    assert b"Your account is ready" not in client.get(landed.redirect_chain[-1][0]).content


def test_next_given_to_register_is_reached_at_the_end(client, outbox):
    person = PersonFactory()
    details = client.get(REGISTER, {"next": ADDRESS})
    assert f'name="next" value="{ADDRESS}"'.encode() in details.content
    submit(client, last_name=person.last_name, huid=person.huid, next=ADDRESS)
    client.post(CODE, {"code": code_from(outbox, person.email)})

    landed = create_account(client, follow=True)

    prompt = landed.redirect_chain[-1][0]
    assert prompt == f"{PROMPT}?{urlencode({'next': ADDRESS})}"
    assert f'name="next" value="{ADDRESS}"'.encode() in landed.content
    skipped = client.post(PROMPT, {"next": ADDRESS})
    assert skipped.status_code == HTTPStatus.FOUND and skipped.url == ADDRESS
    assert client.get(ADDRESS).status_code == HTTPStatus.OK


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_a_next_to_another_site_is_dropped(client, outbox, target):
    person = PersonFactory()
    details = client.get(REGISTER, {"next": target})
    assert b'name="next"' not in details.content
    submit(client, last_name=person.last_name, huid=person.huid, next=target)
    client.post(CODE, {"code": code_from(outbox, person.email)})

    created = create_account(client)

    assert created.status_code == HTTPStatus.FOUND
    assert "evil.example" not in created.url


def test_the_sign_in_page_register_link_keeps_next(client):
    page = client.get(reverse("accounts:login"), {"next": "/preferences/address/"})
    assert b'href="/register/?next=/preferences/address/"' in page.content
