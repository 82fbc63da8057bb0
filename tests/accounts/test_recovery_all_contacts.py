"""Unlock and forgotten password send the code to every SafeCode contact by default, and say
plainly that codes are limited and when the person may ask again.

A person who does not remember which contact the account holds gets the code at the first try
instead of guessing, waiting a minute and guessing again. The page after sending reads the
same for an account with two contacts, one with none, one whose codes are paused and a missing
account; the limits line is said from the flow's own counters, never from the account's.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from accounts.models import User
from safecode.errors import SafeCodeThrottled
from safecode.models import Channel, Purpose, SafeCode
from safecode.services import safecode_issue, safecode_issue_to_all, safecode_verify
from tests.accounts.pages import (
    FORGOT,
    FORGOT_CODE,
    FORGOT_NEW,
    FORGOT_SEND,
    UNLOCK,
    UNLOCK_CODE,
    UNLOCK_SEND,
)
from tests.factories import ChannelFactory, UserFactory, lock
from tests.helpers import captcha_answer, code_sent_to, page_text

# Messages leave when the request's transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+16175550142"
EMAIL = "own.address@example.org"


def with_both_contacts(user, phone: str = PHONE, email: str = EMAIL):
    ChannelFactory(user=user, kind=Channel.Kind.PHONE, address=phone)
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=email)
    return user


def checked_choice(page) -> str:
    inputs = re.findall(rb'<input[^>]*name="kind"[^>]*>', page.content)
    assert inputs, "no choice of where the code goes"
    chosen = [i for i in inputs if b"checked" in i]
    assert len(chosen) == 1, "exactly one choice is ticked"
    return re.search(rb'value="([^"]*)"', chosen[0]).group(1).decode()


def start_unlock(client, username: str):
    page = client.get(UNLOCK)
    return client.post(UNLOCK, {"username": username, **captcha_answer(page)})


def forgot_details(user) -> dict:
    return {
        "login": user.username,
        "last_name": user.person.last_name,
        "huid": user.person.huid,
        "date_of_birth": "",
    }


def start_forgot(client, data: dict):
    page = client.get(FORGOT)
    return client.post(FORGOT, {**data, **captcha_answer(page)})


@pytest.fixture
def still_clock(time_machine):
    """The clock stands still unless a test moves it."""
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


# The default ------------------------------------------------------------------------------


def test_all_contacts_is_the_default_choice_in_unlock_and_forgotten_password(client):
    start_unlock(client, "someone")
    page = client.get(UNLOCK_SEND)
    assert b"All my SafeCode contacts" in page.content
    assert checked_choice(page) == "all"

    start_forgot(client, {"login": "someone", "last_name": "Doe", "huid": "12345678"})
    page = client.get(FORGOT_SEND)
    assert b"All my SafeCode contacts" in page.content
    assert checked_choice(page) == "all"


# One code to every contact ----------------------------------------------------------------


@pytest.mark.parametrize("read_from", [PHONE, EMAIL])
def test_unlock_sends_one_code_to_the_phone_and_the_email_and_it_works_from_either(
    client, outbox, read_from
):
    user = with_both_contacts(UserFactory())
    lock(user)
    start_unlock(client, user.username)
    assert client.post(UNLOCK_SEND, {"kind": "all"}).url == UNLOCK_CODE

    assert code_sent_to(outbox, PHONE) == code_sent_to(outbox, EMAIL)
    page = client.get(UNLOCK_CODE)
    assert b"has SafeCode contacts, we sent a code to them" in page.content

    done = client.post(UNLOCK_CODE, {"code": code_sent_to(outbox, read_from)}, follow=True)
    assert b"Your account is unlocked" in done.content
    user.refresh_from_db()
    assert not user.is_locked


@pytest.mark.parametrize("read_from", [PHONE, EMAIL])
def test_forgotten_password_code_reaches_both_contacts_and_works_once(client, outbox, read_from):
    user = with_both_contacts(UserFactory())
    start_forgot(client, forgot_details(user))
    assert client.post(FORGOT_SEND, {"kind": "all"}).url == FORGOT_CODE
    code = code_sent_to(outbox, read_from)
    assert code == code_sent_to(outbox, PHONE if read_from == EMAIL else EMAIL)

    assert client.post(FORGOT_CODE, {"code": code}).url == FORGOT_NEW

    # Used once, the code works nowhere else, not even in a new run of the flow.
    other = Client()
    start_forgot(other, forgot_details(user))
    other.post(FORGOT_SEND, {"kind": "all"})
    assert other.post(FORGOT_CODE, {"code": code}).status_code == HTTPStatus.OK
    assert other.get(FORGOT_NEW).url == FORGOT_CODE


@pytest.mark.parametrize("read_from", [PHONE, EMAIL])
def test_the_one_code_is_verified_once_whichever_contact_it_was_read_from(outbox, read_from):
    user = with_both_contacts(UserFactory())
    safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    code = code_sent_to(outbox, read_from)
    assert safecode_verify(user=user, purpose=Purpose.UNLOCK, code=code) is True
    assert safecode_verify(user=user, purpose=Purpose.UNLOCK, code=code) is False


def test_one_code_is_open_and_every_destination_is_recorded(outbox):
    user = with_both_contacts(UserFactory())
    first = safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    rows = SafeCode.objects.filter(user=user, purpose=Purpose.UNLOCK)
    assert sorted(rows.values_list("destination", flat=True)) == sorted([PHONE, EMAIL])
    open_codes = rows.filter(used_at__isnull=True, invalidated_at__isnull=True)
    assert list(open_codes) == [first]
    assert len(outbox) == 2


def test_a_code_to_all_contacts_replaces_the_previous_one(outbox, still_clock):
    user = with_both_contacts(UserFactory())
    first = safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    still_clock.shift(timedelta(seconds=61))
    second = safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    first.refresh_from_db()
    assert first.invalidated_at is not None, "only the newest code works"
    assert (
        SafeCode.objects.filter(
            user=user, purpose=Purpose.UNLOCK, used_at__isnull=True, invalidated_at__isnull=True
        ).get()
        == second
    )
    new = code_sent_to(outbox, EMAIL)
    assert safecode_verify(user=user, purpose=Purpose.UNLOCK, code=new) is True


# The caps still count each destination -----------------------------------------------------


def test_within_the_minute_no_contact_is_sent_another_code_and_the_first_still_works(
    outbox, still_clock
):
    user = with_both_contacts(UserFactory())
    safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    code = code_sent_to(outbox, PHONE)
    still_clock.shift(timedelta(seconds=59))
    with pytest.raises(SafeCodeThrottled) as refused:
        safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    assert refused.value.reason == "resend"
    assert len(outbox) == 2
    assert safecode_verify(user=user, purpose=Purpose.UNLOCK, code=code) is True


def test_the_per_channel_cap_counts_a_code_sent_to_all_contacts(settings, outbox, still_clock):
    settings.SAFECODE_CODES_PER_CHANNEL_PER_HOUR = 2
    user = with_both_contacts(UserFactory())
    email = Channel.objects.get(user=user, kind=Channel.Kind.EMAIL)
    safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    safecode_issue_to_all(user=user, purpose=Purpose.PASSWORD_RESET)
    with pytest.raises(SafeCodeThrottled) as refused:
        safecode_issue(user=user, purpose=Purpose.PASSWORD_CHANGE, channel=email)
    assert refused.value.reason == "channel_hourly"
    with pytest.raises(SafeCodeThrottled) as refused:
        safecode_issue_to_all(user=user, purpose=Purpose.PASSWORD_CHANGE)
    assert refused.value.reason == "channel_hourly"


def test_the_per_number_cap_counts_a_code_sent_to_all_contacts(settings, outbox):
    settings.SAFECODE_SMS_PER_NUMBER_PER_DAY = 1
    user = with_both_contacts(UserFactory())
    safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    # Another account with the same number: the one text a day was already sent to it.
    other = UserFactory()
    phone = ChannelFactory(user=other, kind=Channel.Kind.PHONE, address=PHONE)
    with pytest.raises(SafeCodeThrottled) as refused:
        safecode_issue(user=other, purpose=Purpose.UNLOCK, channel=phone)
    assert refused.value.reason == "number_daily"


def test_a_contact_a_cap_holds_is_skipped_and_the_others_get_the_code(settings, outbox):
    settings.SAFECODE_SMS_PER_NUMBER_PER_DAY = 1
    neighbour = UserFactory()
    safecode_issue(
        user=neighbour,
        purpose=Purpose.UNLOCK,
        channel=ChannelFactory(user=neighbour, kind=Channel.Kind.PHONE, address=PHONE),
    )
    outbox.clear()
    user = with_both_contacts(UserFactory())
    row = safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    assert row.destination == EMAIL
    assert [m.recipient for m in outbox] == [EMAIL]
    code = code_sent_to(outbox, EMAIL)
    assert safecode_verify(user=user, purpose=Purpose.UNLOCK, code=code) is True


# The page after sending reads the same for everyone ------------------------------------------


def paused(user) -> User:
    """An account whose unlock codes are held by the hourly cap."""
    now = timezone.now()
    phone = Channel.objects.get(user=user, kind=Channel.Kind.PHONE)
    for minutes in range(5):
        SafeCode.objects.create(
            user=user,
            purpose=Purpose.UNLOCK,
            channel=phone,
            channel_kind=phone.kind,
            destination=phone.address,
            code_hash=f"{minutes:064d}",  # a code that was sent, not a copy to another contact
            created_at=now - timedelta(minutes=10 + minutes),
            expires_at=now - timedelta(minutes=minutes),
            invalidated_at=now,
        )
    return user


def unlock_pages(username: str) -> list[tuple]:
    client = Client()
    start_unlock(client, username)
    send = client.get(UNLOCK_SEND)
    sent = client.post(UNLOCK_SEND, {"kind": "all"})
    code = client.get(UNLOCK_CODE)
    return [
        (r.status_code, r.get("Location", ""), page_text(r, username)) for r in (send, sent, code)
    ]


def test_unlock_pages_after_sending_are_the_same_for_every_account(outbox, still_clock):
    two = with_both_contacts(UserFactory())
    lock(two)
    none = UserFactory()
    lock(none)
    held = paused(with_both_contacts(UserFactory(), "+16175550143", "held@example.org"))
    lock(held)

    seen = {
        name: unlock_pages(username)
        for name, username in [
            ("two contacts", two.username),
            ("no contact", none.username),
            ("codes paused", held.username),
            ("missing", "nobody.here"),
        ]
    }
    first = seen["two contacts"]
    for name, pages in seen.items():
        assert pages == first, f"{name} reads differently"
    assert b"If this account is locked and has SafeCode contacts" in first[2][2]
    # The difference in work: the codes, one a contact of the account that has two.
    assert sorted(m.recipient for m in outbox) == sorted([PHONE, EMAIL])


def forgot_pages(data: dict) -> list[tuple]:
    client = Client()
    start_forgot(client, data)
    send = client.get(FORGOT_SEND)
    sent = client.post(FORGOT_SEND, {"kind": "all"})
    code = client.get(FORGOT_CODE)
    return [
        (r.status_code, r.get("Location", ""), page_text(r, data["login"]))
        for r in (send, sent, code)
    ]


def test_forgotten_password_pages_after_sending_are_the_same_for_every_account(outbox, still_clock):
    two = with_both_contacts(UserFactory())
    none = UserFactory()
    missing = {**forgot_details(two), "login": "nobody.here"}
    seen = {
        "two contacts": forgot_pages(forgot_details(two)),
        "no contact": forgot_pages(forgot_details(none)),
        "missing": forgot_pages(missing),
    }
    first = seen["two contacts"]
    for name, pages in seen.items():
        assert pages == first, f"{name} reads differently"
    assert b"match an account that has SafeCode contacts, we sent a code" in first[2][2]
    assert sorted(m.recipient for m in outbox) == sorted([PHONE, EMAIL])


# Codes are limited, and the page says when to ask again ------------------------------------


@pytest.mark.parametrize(
    ("start", "send", "code"),
    [
        (lambda c: start_unlock(c, "someone"), UNLOCK_SEND, UNLOCK_CODE),
        (
            lambda c: start_forgot(c, {"login": "someone", "last_name": "Doe", "huid": "12345678"}),
            FORGOT_SEND,
            FORGOT_CODE,
        ),
    ],
    ids=["unlock", "forgotten password"],
)
def test_the_limits_line_says_when_a_new_code_may_be_asked_for(
    client, still_clock, start, send, code
):
    start(client)
    before = client.get(send).content
    assert (
        b"Codes are limited: one a minute, at most 3 each time you start, and a few an hour."
        in before
    )
    assert b"You can ask for a code now." in before

    client.post(send, {"kind": "all"})
    for page in (client.get(code), client.get(send)):
        assert b"Codes are limited" in page.content
        assert b"You can ask for a new code in 60 seconds." in page.content

    still_clock.shift(timedelta(seconds=59))
    assert b"You can ask for a new code in 1 second." in client.get(code).content
    still_clock.shift(timedelta(seconds=1))
    assert b"You can ask for a code now." in client.get(code).content

    client.post(send, {"kind": "all"})
    still_clock.shift(timedelta(seconds=60))
    client.post(send, {"kind": "all"})
    still_clock.shift(timedelta(seconds=60))
    last = client.get(code).content
    assert b"You have asked for 3 codes: to ask for another," in last
    assert b"start again</a>" in last


def test_a_refused_early_send_keeps_the_limits_line(client, still_clock):
    start_unlock(client, "someone")
    client.post(UNLOCK_SEND, {"kind": "all"})
    still_clock.shift(timedelta(seconds=20))
    refused = client.post(UNLOCK_SEND, {"kind": "all"})
    assert refused.status_code == HTTPStatus.OK
    assert b"A new code can be sent once a minute. Wait 40 seconds." in refused.content
    assert b"You can ask for a new code in 40 seconds." in refused.content


# Races -------------------------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Row locking and concurrent UPDATEs need PostgreSQL; SQLite serialises writers.",
)
def test_ten_sends_to_all_contacts_at_once_issue_one_code_to_each_contact(outbox):
    user = with_both_contacts(UserFactory())
    count = 10
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def send(index: int) -> None:
        try:
            barrier.wait()
            results[index] = safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK).pk
        except SafeCodeThrottled as exc:
            results[index] = exc.reason
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(isinstance(r, int) for r in results) == 1
    assert results.count("resend") == count - 1
    assert SafeCode.objects.filter(user=user).count() == 2
    assert sorted(m.recipient for m in outbox) == sorted([PHONE, EMAIL])


def test_one_code_to_every_contact_counts_once_toward_the_hourly_cap_per_purpose():
    from safecode.selectors import safecode_send_throttle
    from safecode.services import safecode_issue_to_all

    user = with_both_contacts(UserFactory(), "+16175550177", "both@example.org")
    phone = Channel.objects.get(user=user, kind=Channel.Kind.PHONE)
    for minute in range(4):
        with time_machine.travel(timezone.now() + timedelta(minutes=2 * minute), tick=False):
            safecode_issue_to_all(user=user, purpose=Purpose.UNLOCK)
    later = timezone.now() + timedelta(minutes=9)
    throttle = safecode_send_throttle(user=user, purpose=Purpose.UNLOCK, channel=phone, now=later)
    assert throttle is None, "four codes to two contacts are four codes, not eight"
