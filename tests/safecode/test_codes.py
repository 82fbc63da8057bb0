"""The code service: expiry, single use, attempt limits, lockout and send throttles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from safecode.errors import (
    SafeCodeChannelUnusable,
    SafeCodeInvalidFormat,
    SafeCodeLockedOut,
    SafeCodeThrottled,
)
from safecode.models import Channel, Purpose, SafeCode, WrongEntry
from safecode.selectors import safecode_send_throttle
from safecode.services import CheckResult, safecode_check, safecode_issue, safecode_verify
from tests.safecode.conftest import PHONE, PHONE_MASKED, make_channel, make_user

UNLOCK = Purpose.UNLOCK


def issue(user, channel, purpose=UNLOCK):
    return safecode_issue(user=user, purpose=purpose, channel=channel)


def verify(user, code, purpose=UNLOCK, **kwargs):
    return safecode_verify(user=user, purpose=purpose, code=code, **kwargs)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# Expiry and single use -------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "accepted"), [(9 * 60 + 59, True), (10 * 60 + 1, False)])
def test_code_expires_ten_minutes_after_it_is_issued(user, phone, codes, clock, seconds, accepted):
    issue(user, phone)
    clock.shift(timedelta(seconds=seconds))

    assert verify(user, codes[0]) is accepted


def test_expired_code_says_so(user, phone, codes, clock):
    issue(user, phone)
    clock.shift(timedelta(minutes=10))

    assert safecode_check(user=user, purpose=UNLOCK, code=codes[0]) is CheckResult.EXPIRED
    assert AuditEvent.objects.filter(event="safecode.expired", subject=user).exists()


def test_code_works_once(user, phone, codes, clock):
    issue(user, phone)

    assert verify(user, codes[0]) is True
    assert verify(user, codes[0]) is False


def test_code_works_only_for_its_purpose(user, phone, codes, clock):
    issue(user, phone, purpose=Purpose.PASSWORD_RESET)

    assert verify(user, codes[0], purpose=Purpose.UNLOCK) is False
    assert verify(user, codes[0], purpose=Purpose.PASSWORD_RESET) is True


def test_code_works_only_for_its_account(user, phone, codes, clock):
    other = make_user("other")
    make_channel(other)
    issue(user, phone)

    assert verify(other, codes[0]) is False
    assert verify(user, codes[0]) is True


def test_sixth_entry_is_refused_even_with_the_right_code(user, phone, codes, clock):
    issue(user, phone)
    for _ in range(5):
        assert verify(user, wrong(codes[0])) is False

    assert verify(user, codes[0]) is False
    assert SafeCode.objects.get().invalidated_at is not None


def test_fifth_wrong_entry_says_the_code_is_spent(user, phone, codes, clock):
    issue(user, phone)
    results = [safecode_check(user=user, purpose=UNLOCK, code=wrong(codes[0])) for _ in range(5)]

    assert results == [CheckResult.WRONG] * 4 + [CheckResult.EXHAUSTED]


def test_right_code_after_four_wrong_entries_is_accepted(user, phone, codes, clock):
    issue(user, phone)
    for _ in range(4):
        verify(user, wrong(codes[0]))

    assert verify(user, codes[0]) is True


def test_new_code_kills_the_previous_one(user, phone, codes, clock):
    issue(user, phone)
    clock.shift(timedelta(seconds=61))
    issue(user, phone)

    assert verify(user, codes[0]) is False
    assert verify(user, codes[1]) is True


@pytest.mark.parametrize("typed", [" 100 001 ", "100-001", "１００００１", "100\u00a0001"])
def test_what_a_person_types_is_normalised(user, phone, codes, clock, typed):
    issue(user, phone)

    assert verify(user, typed) is True


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12345a", "١٢٣٤٥٦", None])
def test_anything_but_six_digits_asks_for_the_code_and_does_not_count(
    user, phone, codes, clock, typed
):
    issue(user, phone)

    with pytest.raises(SafeCodeInvalidFormat, match="Enter the 6-digit code"):
        verify(user, typed)
    assert SafeCode.objects.get().failed_attempts == 0
    assert not WrongEntry.objects.exists()


def test_leading_zeros_are_kept(user, phone, clock, monkeypatch):
    monkeypatch.setattr("safecode.services.generate_code", lambda: "004200")
    issue(user, phone)

    with pytest.raises(SafeCodeInvalidFormat):
        verify(user, "4200")
    assert verify(user, "004200") is True


def test_code_is_stored_only_as_a_keyed_hash(user, phone, codes, clock):
    row = issue(user, phone)

    stored = SafeCode.objects.filter(pk=row.pk).values().get()
    assert not any(codes[0] in str(value) for value in stored.values())
    assert len(row.code_hash) == 64


# Channels ---------------------------------------------------------------------------------------


def test_code_goes_to_the_channel_chosen(
    user, phone, email_channel, codes, clock, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        issue(user, email_channel)

    assert [m.recipient for m in outbox] == [email_channel.address]
    assert codes[0] in outbox[0].body


def test_text_message_says_what_the_code_is_and_who_to_call(
    user, phone, codes, clock, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        issue(user, phone)

    (sms,) = outbox
    assert sms.recipient == PHONE
    assert sms.body == (
        f"Your HMS SafeCode is {codes[0]}. It expires in 10 minutes. "
        "If you did not ask for it, call 617-432-2000."
    )


def test_message_is_handed_over_with_the_code_as_a_secret_and_the_code_expiry(
    user, phone, codes, clock
):
    from delivery.models import Message

    row = issue(user, phone)

    message = Message.objects.get()
    assert message.expires_at == row.expires_at
    assert codes[0] not in message.masked_body


def test_a_pending_channel_gets_only_confirmation_codes(user, codes, clock):
    pending = make_channel(user, status=Channel.Status.PENDING)

    with pytest.raises(SafeCodeChannelUnusable):
        issue(user, pending, purpose=UNLOCK)
    issue(user, pending, purpose=Purpose.CHANNEL_VERIFY)


def test_someone_elses_channel_is_refused(user, codes, clock):
    others = make_channel(make_user("other"))

    with pytest.raises(SafeCodeChannelUnusable):
        issue(user, others)


def test_code_bound_to_a_channel_is_refused_for_another(user, codes, clock):
    pending_phone = make_channel(user, status=Channel.Status.PENDING)
    pending_email = make_channel(
        user, kind=Channel.Kind.EMAIL, address="j@example.org", status=Channel.Status.PENDING
    )
    issue(user, pending_phone, purpose=Purpose.CHANNEL_VERIFY)

    check = {"user": user, "purpose": Purpose.CHANNEL_VERIFY, "code": codes[0]}
    assert safecode_verify(**check, channel=pending_email) is False
    assert safecode_verify(**check, channel=pending_phone) is True


# Audit ------------------------------------------------------------------------------------------


def test_every_step_is_audited_with_the_channel_masked_and_never_the_code(
    user, phone, codes, clock
):
    issue(user, phone)
    verify(user, wrong(codes[0]))
    verify(user, codes[0])

    events = list(AuditEvent.objects.filter(subject=user).order_by("id"))
    assert [e.event for e in events] == [
        "safecode.issued",
        "safecode.sent",
        "safecode.failed",
        "safecode.verified",
    ]
    assert events[0].detail["channel"] == PHONE_MASKED
    assert events[0].detail["purpose"] == "unlock"
    for event in events:
        assert codes[0] not in str(event.detail)
        assert wrong(codes[0]) not in str(event.detail)
        assert PHONE not in str(event.detail)


# Lockout ----------------------------------------------------------------------------------------


def enter_wrong_codes(user, phone, codes, clock, count: int, *, gap=timedelta(seconds=61)):
    """Enter ``count`` wrong codes, asking for a new code whenever one is spent."""
    entered = 0
    while entered < count:
        issue(user, phone)
        for _ in range(min(5, count - entered)):
            entered += 1
            try:
                verify(user, wrong(codes[-1]))
            except SafeCodeLockedOut:
                assert entered == count
                raise
        clock.shift(gap)


def test_ten_wrong_entries_within_an_hour_stop_codes_for_an_hour(user, phone, codes, clock):
    with pytest.raises(SafeCodeLockedOut) as locked:
        enter_wrong_codes(user, phone, codes, clock, 10)
    assert locked.value.until == timezone.now() + timedelta(hours=1)
    assert AuditEvent.objects.filter(event="safecode.locked_out", subject=user).exists()

    clock.shift(timedelta(hours=1) - timedelta(seconds=1))
    with pytest.raises(SafeCodeLockedOut):
        issue(user, phone)
    assert AuditEvent.objects.filter(event="safecode.throttled", subject=user).exists()

    clock.shift(timedelta(seconds=2))
    issue(user, phone)
    assert verify(user, codes[-1]) is True


def test_lockout_refuses_even_the_right_code_and_does_not_count_while_locked(
    user, phone, codes, clock
):
    issue(user, phone)
    for _ in range(4):
        verify(user, wrong(codes[-1]))
    clock.shift(timedelta(seconds=61))
    issue(user, phone)
    for _ in range(5):
        verify(user, wrong(codes[-1]))
    clock.shift(timedelta(seconds=61))
    issue(user, phone)
    with pytest.raises(SafeCodeLockedOut):
        verify(user, wrong(codes[-1]))
    count = WrongEntry.objects.count()

    with pytest.raises(SafeCodeLockedOut):
        verify(user, codes[-1])
    with pytest.raises(SafeCodeLockedOut):
        verify(user, wrong(codes[-1]))
    assert WrongEntry.objects.count() == count == 10


def test_a_new_code_does_not_reset_the_wrong_entry_count(user, phone, codes, clock):
    enter_wrong_codes(user, phone, codes, clock, 9)
    issue(user, phone)

    with pytest.raises(SafeCodeLockedOut):
        verify(user, wrong(codes[-1]))


def test_ten_wrong_entries_over_more_than_an_hour_do_not_lock(user, phone, codes, clock):
    enter_wrong_codes(user, phone, codes, clock, 5)
    clock.shift(timedelta(hours=1))
    issue(user, phone)
    for _ in range(4):
        verify(user, wrong(codes[-1]))

    tenth = safecode_check(user=user, purpose=UNLOCK, code=wrong(codes[-1]))
    assert tenth is CheckResult.EXHAUSTED
    clock.shift(timedelta(seconds=61))
    issue(user, phone)
    assert verify(user, codes[-1]) is True


def test_lockout_is_per_purpose(user, phone, codes, clock):
    with pytest.raises(SafeCodeLockedOut):
        enter_wrong_codes(user, phone, codes, clock, 10)

    issue(user, phone, purpose=Purpose.PASSWORD_CHANGE)


# Send throttles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "allowed"), [(59, False), (61, True)])
def test_a_resend_needs_a_minute(user, phone, codes, clock, seconds, allowed):
    first = issue(user, phone)
    clock.shift(timedelta(seconds=seconds))

    if allowed:
        issue(user, phone)
    else:
        with pytest.raises(SafeCodeThrottled) as throttled:
            issue(user, phone)
        assert throttled.value.reason == "resend"
        assert throttled.value.retry_after == first.created_at + timedelta(seconds=60)


def test_the_page_can_say_when_the_next_code_can_be_sent(user, phone, codes, clock):
    first = issue(user, phone)

    throttle = safecode_send_throttle(user=user, purpose=UNLOCK, channel=phone)
    assert throttle.retry_after == first.created_at + timedelta(seconds=60)
    clock.shift(timedelta(seconds=60))
    assert safecode_send_throttle(user=user, purpose=UNLOCK, channel=phone) is None


def test_five_codes_an_hour_per_purpose(user, phone, email_channel, codes, clock):
    first = issue(user, phone)
    for channel in (email_channel, phone, email_channel, phone):
        clock.shift(timedelta(seconds=61))
        issue(user, channel)
    clock.shift(timedelta(seconds=61))

    with pytest.raises(SafeCodeThrottled) as throttled:
        issue(user, email_channel)
    assert throttled.value.reason == "purpose_hourly"
    # Another purpose is not held up by it.
    issue(user, email_channel, purpose=Purpose.PASSWORD_CHANGE)
    assert throttled.value.retry_after == first.created_at + timedelta(hours=1)

    clock.move_to(first.created_at + timedelta(hours=1) - timedelta(seconds=1), tick=False)
    with pytest.raises(SafeCodeThrottled):
        issue(user, email_channel)
    clock.move_to(first.created_at + timedelta(hours=1) + timedelta(seconds=1), tick=False)
    issue(user, email_channel)


def test_ten_texts_a_day_per_number_across_accounts(db, codes, clock):
    people = [make_user(f"person{i}") for i in range(11)]
    channels = [make_channel(p) for p in people]  # eleven accounts, one number
    first = issue(people[0], channels[0])
    for person, channel in list(zip(people, channels, strict=True))[1:10]:
        clock.shift(timedelta(seconds=1))
        issue(person, channel)

    with pytest.raises(SafeCodeThrottled) as throttled:
        issue(people[10], channels[10])
    assert throttled.value.reason == "number_daily"
    assert throttled.value.retry_after == first.created_at + timedelta(days=1)

    clock.move_to(first.created_at + timedelta(days=1) - timedelta(seconds=1), tick=False)
    with pytest.raises(SafeCodeThrottled):
        issue(people[10], channels[10])
    clock.move_to(first.created_at + timedelta(days=1) + timedelta(seconds=1), tick=False)
    issue(people[10], channels[10])


def test_the_daily_text_limit_does_not_apply_to_email(db, codes, clock):
    people = [make_user(f"person{i}") for i in range(11)]
    for person in people:
        channel = make_channel(person, kind=Channel.Kind.EMAIL, address="shared@example.org")
        issue(person, channel)


def test_throttled_sends_are_audited(user, phone, codes, clock):
    issue(user, phone)
    with pytest.raises(SafeCodeThrottled):
        issue(user, phone)

    event = AuditEvent.objects.get(event="safecode.throttled")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.detail["reason"] == "resend"
    assert event.detail["channel"] == PHONE_MASKED


def test_a_right_code_clears_the_wrong_entry_count(user, phone, codes, clock):
    enter_wrong_codes(user, phone, codes, clock, 9)
    issue(user, phone)
    assert verify(user, codes[-1]) is True
    clock.shift(timedelta(seconds=61))
    issue(user, phone)

    assert safecode_check(user=user, purpose=UNLOCK, code=wrong(codes[-1])) is CheckResult.WRONG


def test_an_ordinary_hour_of_use_never_meets_a_limit(user, phone, email_channel, codes, clock):
    """Confirm a new phone and email, confirm it is you, unlock, change and reset the
    password, some with a resend: every code goes out."""
    new_phone = make_channel(user, address="+16175550142", status=Channel.Status.PENDING)
    new_email = make_channel(
        user, kind=Channel.Kind.EMAIL, address="new@example.org", status=Channel.Status.PENDING
    )
    steps = [
        (Purpose.CHANNEL_VERIFY, new_phone),
        (Purpose.CHANNEL_VERIFY, new_email),
        (Purpose.RECENT_PROOF, phone),
        (Purpose.UNLOCK, phone),
        (Purpose.UNLOCK, phone),
        (Purpose.PASSWORD_CHANGE, phone),
        (Purpose.PASSWORD_RESET, email_channel),
        (Purpose.PASSWORD_RESET, email_channel),
    ]
    for purpose, channel in steps:
        clock.shift(timedelta(seconds=61))
        issue(user, channel, purpose=purpose)
    assert len(codes) == len(steps)
