"""Bypass codes from the service desk: 9 digits, shown once, stored hashed, used once, in time,
revocable; at the sign-in's second step and a reset's as "Enter a bypass code".

Service tests call ``twofactor.bypass`` as the desk and the pages do; page tests go through
the sign-in as a person would, with the password first.
"""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import UserFactory
from tests.helpers import in_threads, on_postgresql
from tests.twofactor.conftest import (
    CONFIRM,
    VERIFY,
    make_device,
    password_step,
    second_step,
    signed_in_as,
)
from twofactor.bypass import (
    BypassRefused,
    bypass_code_accept,
    bypass_code_check,
    bypass_code_revoke,
    bypass_codes_issue,
    bypass_codes_revoke_all,
)
from twofactor.models import BypassCode, Profile
from twofactor.remember import REMEMBER_COOKIE

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
WRONG = "That bypass code is not right, or it has expired or been used."
FORMAT = "Enter the 9-digit bypass code"


@pytest.fixture
def agent():
    return UserFactory(is_staff=True)


def issue(user, agent, count=1, lifetime=None):
    return bypass_codes_issue(user=user, agent=agent, count=count, lifetime=lifetime)


def accept(user, code):
    return bypass_code_accept(user=user, typed=code)


def other(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000_000:09d}"


# The codes ------------------------------------------------------------------------------------


def test_codes_are_9_distinct_digits(user, agent):
    codes = issue(user, agent, count=10)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"\d{9}", code) for code in codes)
    assert BypassCode.objects.filter(user=user, created_by=agent).count() == 10


def test_codes_come_from_secrets_and_keep_leading_zeros(user, agent, monkeypatch):
    drawn = []

    def randbelow(n):
        drawn.append(n)
        return 42

    monkeypatch.setattr("safecode.codes.secrets.randbelow", randbelow)
    assert issue(user, agent) == ["000000042"]
    assert drawn == [10**9]
    monkeypatch.undo()
    assert accept(user, "000000042")


def test_a_thousand_codes_do_not_repeat(user, agent):
    codes = [code for _ in range(100) for code in issue(user, agent, count=10)]
    assert len(set(codes)) == 1000
    # Every digit turns up in every position: nothing about the draw is fixed.
    for position in range(9):
        assert {code[position] for code in codes} == set("0123456789")


def test_only_a_keyed_hash_bound_to_the_account_is_stored(user, agent, monkeypatch):
    monkeypatch.setattr("safecode.codes.secrets.randbelow", lambda n: 123456789)
    [code] = issue(user, agent)
    someone = UserFactory()
    issue(someone, agent)
    mine, theirs = (BypassCode.objects.get(user=u) for u in (user, someone))
    for row in BypassCode.objects.values():
        assert not any(code in str(value) for value in row.values())
    assert re.fullmatch(r"[0-9a-f]{64}", mine.code_hash)
    assert mine.code_hash != theirs.code_hash
    # The same nine digits are not someone else's code.
    BypassCode.objects.filter(pk=theirs.pk).delete()
    assert not accept(someone, code)
    assert accept(user, code)


def test_what_the_person_types_is_normalised(user, agent):
    [code] = issue(user, agent)
    typed = f" {code[:3]}-{code[3:6]} {code[6:]} ".translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    assert accept(user, typed)


@pytest.mark.parametrize("count", [1, 10])
def test_one_to_ten_codes_may_be_issued(user, agent, count):
    assert len(issue(user, agent, count=count)) == count


@pytest.mark.parametrize("count", [0, 11, -1, True])
def test_another_count_is_refused_and_nothing_is_stored(user, agent, count):
    with pytest.raises(BypassRefused):
        issue(user, agent, count=count)
    assert not BypassCode.objects.exists()
    assert not Message.objects.exists()


def test_an_agent_cannot_issue_codes_for_their_own_account(agent):
    with pytest.raises(BypassRefused):
        issue(agent, agent)
    assert not BypassCode.objects.exists()


# Once, in time, until revoked ------------------------------------------------------------------


def test_a_code_works_once(user, agent):
    first, second = issue(user, agent, count=2)
    assert accept(user, first)
    assert not accept(user, first)
    assert accept(user, second)
    used = BypassCode.objects.filter(used_at__isnull=False)
    assert used.count() == 2


@pytest.mark.parametrize(
    ("after", "ok"), [(timedelta(hours=1) - SECOND, True), (timedelta(hours=1) + SECOND, False)]
)
def test_a_code_works_for_one_hour_by_default(user, agent, after, ok):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        [code] = issue(user, agent)
        clock.shift(after)
        assert accept(user, code) is ok


@pytest.mark.parametrize(
    ("after", "ok"),
    [(timedelta(minutes=30) - SECOND, True), (timedelta(minutes=30) + SECOND, False)],
)
def test_the_default_lifetime_is_a_setting(settings, user, agent, after, ok):
    settings.TWOFACTOR_BYPASS_CODE_TTL_MINUTES = 30
    with time_machine.travel(timezone.now(), tick=False) as clock:
        [code] = issue(user, agent)
        clock.shift(after)
        assert accept(user, code) is ok


@pytest.mark.parametrize(
    ("after", "ok"), [(timedelta(days=7) - SECOND, True), (timedelta(days=7) + SECOND, False)]
)
def test_a_code_may_work_for_up_to_seven_days(user, agent, after, ok):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        [code] = issue(user, agent, lifetime=timedelta(days=7))
        clock.shift(after)
        assert accept(user, code) is ok


@pytest.mark.parametrize("lifetime", [timedelta(days=7) + SECOND, timedelta(0), -SECOND])
def test_a_longer_or_empty_lifetime_is_refused(user, agent, lifetime):
    with pytest.raises(BypassRefused):
        issue(user, agent, lifetime=lifetime)
    assert not BypassCode.objects.exists()


def test_a_setting_cannot_stretch_the_default_past_seven_days(settings, user, agent):
    settings.TWOFACTOR_BYPASS_CODE_TTL_MINUTES = 60 * 24 * 30
    with time_machine.travel(timezone.now(), tick=False) as clock:
        [code] = issue(user, agent)
        clock.shift(timedelta(days=7) + SECOND)
        assert not accept(user, code)


def test_a_revoked_code_no_longer_works(user, agent):
    keep, drop = issue(user, agent, count=2)
    dropped = BypassCode.objects.order_by("pk").last()
    assert bypass_code_revoke(code_id=dropped.pk, agent=agent)
    assert not bypass_code_revoke(code_id=dropped.pk, agent=agent)
    dropped.refresh_from_db()
    assert dropped.revoked_by == agent
    # Which of the two rows is ``drop`` is not known (bulk order); exactly one still works.
    assert [accept(user, keep), accept(user, drop)].count(True) == 1
    assert AuditEvent.objects.filter(event="twofactor.bypass_revoked", actor=agent).count() == 1


def test_a_used_code_cannot_be_revoked_and_revoking_all_spares_it(user, agent):
    used, *unused = issue(user, agent, count=3)
    assert accept(user, used)
    used_row = BypassCode.objects.get(used_at__isnull=False)
    assert not bypass_code_revoke(code_id=used_row.pk, agent=agent)
    assert bypass_codes_revoke_all(user=user, agent=agent) == 2
    assert not any(accept(user, code) for code in unused)
    used_row.refresh_from_db()
    assert used_row.revoked_at is None


# Wrong codes count as wrong second factors -----------------------------------------------------


def test_a_wrong_code_counts_and_a_right_one_starts_the_count_again(user, agent):
    [code] = issue(user, agent)
    assert not accept(user, other(code))
    assert Profile.objects.get(user=user).failed_count == 1
    assert AuditEvent.objects.filter(
        event="twofactor.failed", subject=user, detail__method="bypass"
    ).exists()
    assert accept(user, code)
    assert Profile.objects.get(user=user).failed_count == 0


def test_ten_wrong_codes_lock_the_account_as_ten_wrong_passcodes_do(user, device, agent):
    from twofactor.services import second_factor_verify

    [code] = issue(user, agent)
    for _ in range(5):
        second_factor_verify(user=user, device_id=device.pk, method="passcode", code="000000")
    for _ in range(4):
        assert not bypass_code_check(user=user, typed=other(code)).locked
    assert bypass_code_check(user=user, typed=other(code)).locked
    user.refresh_from_db()
    assert user.is_locked


def test_another_persons_code_does_not_work_and_counts(user, agent):
    someone = UserFactory()
    [theirs] = issue(someone, agent)
    assert not accept(user, theirs)
    assert Profile.objects.get(user=user).failed_count == 1
    assert accept(someone, theirs)


# What the person is told, what the audit keeps ---------------------------------------------------


def test_the_person_is_emailed_when_codes_are_issued_and_when_one_is_used(user, agent):
    codes = issue(user, agent, count=3)
    issued = Message.objects.get(purpose="twofactor.bypass_issued", recipient=user.notice_email)
    assert "issued 3 bypass codes" in issued.body
    assert "IT Service Desk" in issued.subject
    assert accept(user, codes[0])
    used = Message.objects.get(purpose="twofactor.bypass_used", recipient=user.notice_email)
    assert "to sign in" in used.body
    for message in Message.objects.all():
        assert not any(code in message.body or code in message.subject for code in codes)


def test_the_audit_records_issue_and_use_without_the_codes(user, agent):
    codes = issue(user, agent, count=2)
    accept(user, codes[0])
    issued = AuditEvent.objects.get(event="twofactor.bypass_issued")
    assert issued.actor == agent
    assert issued.subject == user
    assert issued.detail["count"] == 2
    assert AuditEvent.objects.filter(event="twofactor.bypass_used", subject=user).exists()
    for event in AuditEvent.objects.all():
        assert not any(code in str(event.detail) for code in codes)


# Races -----------------------------------------------------------------------------------------


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_one_code_entered_at_once_in_five_places_works_once(user, agent):
    [code] = issue(user, agent)

    outcomes = in_threads(lambda i: bypass_code_accept(user=user, typed=code), 5)
    assert sorted(outcomes) == [False, False, False, False, True]
    assert BypassCode.objects.get().used_at is not None
    assert AuditEvent.objects.filter(event="twofactor.bypass_used").count() == 1
    assert Profile.objects.get(user=user).failed_count == 4


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_code_used_and_revoked_at_once_is_one_or_the_other(user, agent):
    [code] = issue(user, agent)
    pk = BypassCode.objects.get().pk

    def work(i):
        if i == 0:
            return "used" if bypass_code_accept(user=user, typed=code) else "refused"
        return "revoked" if bypass_code_revoke(code_id=pk, agent=agent) else "late"

    outcomes = sorted(in_threads(work, 2))
    assert outcomes in (["late", "used"], ["refused", "revoked"])
    row = BypassCode.objects.get()
    assert (row.used_at is None) != (row.revoked_at is None)


# The second step of sign-in ---------------------------------------------------------------------


def enter_bypass(client, code, url=VERIFY, **extra):
    return client.post(url, {"action": "bypass", "bypass-code": code, **extra})


def test_the_second_step_offers_a_bypass_code(client, user, device):
    password_step(client, user)
    page = client.get(VERIFY)
    assert b"Enter a bypass code" in page.content
    assert b'name="bypass-code"' in page.content


def test_a_bypass_code_passes_the_second_step_once(client, user, device, agent):
    [code] = issue(user, agent)
    password_step(client, user)
    response = enter_bypass(client, f"{code[:3]} {code[3:6]} {code[6:]}", **{"remember": "on"})
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in_as(client) == user.pk
    # No browser is remembered on a bypass code, and the session is not verified with a device.
    assert REMEMBER_COOKIE not in response.cookies
    assert "otp_device_id" not in client.session

    client.post(reverse("accounts:logout"))
    password_step(client, user)
    again = enter_bypass(client, code)
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert WRONG in again.content.decode()
    assert code not in again.content.decode()
    assert signed_in_as(client) is None


def test_a_badly_formed_bypass_code_is_asked_again_and_does_not_count(client, user, device):
    password_step(client, user)
    response = enter_bypass(client, "12345")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert FORMAT in response.content.decode()
    assert not Profile.objects.filter(user=user, failed_count__gt=0).exists()
    assert signed_in_as(client) is None


def test_ten_wrong_bypass_codes_at_the_second_step_lock_the_account(client, user, device):
    password_step(client, user)
    for _ in range(9):
        assert enter_bypass(client, "111111111").status_code == HTTPStatus.BAD_REQUEST
    locked = enter_bypass(client, "111111111")
    assert locked.status_code == HTTPStatus.FORBIDDEN
    assert User.objects.get(pk=user.pk).is_locked


def test_a_bypass_code_does_not_stand_in_for_a_device_before_a_change(client, user, device, agent):
    """The step-up before a change to devices offers no bypass code, and takes none."""
    [code] = issue(user, agent)
    password_step(client, user)
    second_step(client, device)
    page = client.get(CONFIRM)
    assert b"Enter a bypass code" not in page.content
    enter_bypass(client, code, url=CONFIRM)
    assert BypassCode.objects.get().used_at is None


def test_without_the_password_a_bypass_code_gets_no_one_in(client, user, device, agent):
    [code] = issue(user, agent)
    enter_bypass(client, code)
    assert signed_in_as(client) is None
    assert BypassCode.objects.get().used_at is None


def test_an_account_whose_only_device_was_removed_is_sent_to_enroll(client, agent):
    """No device, no second step: the password signs the person in and the enrollment
    requirement stands; a bypass code issued for the account is not a device and stays
    unused."""
    from tests.factories import ChannelFactory
    from twofactor.services import _delete

    person = UserFactory()
    ChannelFactory(user=person)
    _delete(make_device(person, name="Lost phone"))
    issue(person, agent)
    response = password_step(client, person)
    assert signed_in_as(client) == person.pk
    assert (
        client.get(response.url, follow=True)
        .redirect_chain[-1][0]
        .startswith(reverse("twofactor:enroll"))
    )
    assert BypassCode.objects.get().used_at is None


# The second factor of a forgotten-password reset -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_bypass_code_stands_in_for_the_device_at_a_reset(client, user, device, agent, outbox):
    from tests.twofactor.test_reset import CHECK, RESET, safecode_proven

    [code] = issue(user, agent)
    safecode_proven(client, user, outbox)
    page = client.get(RESET)
    assert b"Enter a bypass code" in page.content
    assert enter_bypass(client, code, url=RESET).url == CHECK
    assert AuditEvent.objects.filter(event="twofactor.bypass_used", detail__where="reset").exists()
