"""Messages and code limits: why codes are not arriving, in the desk's words, the last
deliveries to each of the account's addresses, and lifting the account's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from audit.models import AuditEvent
from delivery.models import Message
from safecode.app_settings import app_settings
from safecode.errors import SafeCodeLockedOut, SafeCodeThrottled
from safecode.models import Channel, Purpose, WrongEntry
from safecode.selectors import safecode_locked_until, safecode_pauses
from safecode.services import safecode_issue, safecode_limits_lift, safecode_verify
from servicedesk.actions.messages import messages_panel, pauses_in_words
from tests.factories import PHONE, ChannelFactory, UserFactory
from tests.helpers import code_sent_to

pytestmark = pytest.mark.django_db

# 9:00 in New York (EST).
START = datetime(2026, 1, 15, 14, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def person():
    account = UserFactory(username="pat.person", email="pat.person@hms.harvard.edu")
    ChannelFactory(user=account)
    return account


@pytest.fixture
def phone(person):
    return Channel.objects.get(user=person)


@pytest.fixture
def agent():
    account = UserFactory(is_staff=True, username="desk.agent")
    account.groups.add(Group.objects.get(name="Service desk"))
    return account


def send_until_paused(person, phone, clock, outbox, capture) -> None:
    """Ask for unlock codes, a minute and a bit apart, until the hourly limit holds."""
    for _ in range(app_settings.CODES_PER_PURPOSE_PER_HOUR):
        with capture(execute=True):
            safecode_issue(user=person, purpose=Purpose.UNLOCK, channel=phone)
        clock.shift(app_settings.RESEND_INTERVAL + timedelta(seconds=1))
    with pytest.raises(SafeCodeThrottled):
        safecode_issue(user=person, purpose=Purpose.UNLOCK, channel=phone)


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def lift(client, account, reason="Caller waited an hour already"):
    url = reverse("admin:servicedesk_act", args=[account.pk, "lift_limits"])
    return client.post(url, {"lift_limits-reason": reason})


def test_the_limits_in_force_are_said_in_the_desks_words(
    person, phone, clock, outbox, django_capture_on_commit_callbacks
):
    send_until_paused(person, phone, clock, outbox, django_capture_on_commit_callbacks)

    # The first code was sent at 9:00; the hour's limit lifts when it leaves the window.
    assert pauses_in_words(person) == [
        "Unlock codes paused until 10:00 AM: too many codes in an hour"
    ]


def test_too_many_wrong_codes_is_said_too(person, clock):
    for _ in range(app_settings.LOCKOUT_FAILURES):
        WrongEntry.objects.create(user=person, purpose=Purpose.PASSWORD_RESET)

    assert pauses_in_words(person) == [
        "Password-reset codes paused until 10:00 AM: too many wrong codes entered"
    ]


def test_the_panel_shows_the_limits_and_the_last_deliveries_with_their_errors(
    desk, person, phone, clock, outbox, django_capture_on_commit_callbacks
):
    send_until_paused(person, phone, clock, outbox, django_capture_on_commit_callbacks)
    code = code_sent_to(outbox, PHONE)
    Message.objects.create(
        user=person,
        channel="sms",
        recipient=PHONE,
        body="Your password was changed.",
        purpose="notice",
        status=Message.Status.FAILED,
        last_error="Twilio 30006: Landline or unreachable carrier",
    )

    response = desk.get(page(person))

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "Unlock codes paused until 10:00 AM: too many codes in an hour" in body
    assert "SafeCode mobile phone •••-•••-0123" in body
    assert "Twilio 30006: Landline or unreachable carrier" in body
    assert "<strong>Failed</strong>" in body
    assert f"?user__id__exact={person.pk}" in body
    assert 'id="act-lift_limits"' in body
    assert code not in body
    assert PHONE not in body


def test_the_panel_shows_at_most_three_deliveries_per_address(person, phone, rf):
    for n in range(5):
        Message.objects.create(
            user=person, channel="sms", recipient=PHONE, body=f"m{n}", purpose=f"p{n}"
        )
    request = rf.get("/")
    request.user = person

    [address, *_] = messages_panel(person, request)["addresses"]

    assert [d["purpose"] for d in address["deliveries"]] == ["p4", "p3", "p2"]


def test_lifting_the_limits_lets_a_code_be_sent_again(
    desk, agent, person, phone, clock, outbox, django_capture_on_commit_callbacks
):
    send_until_paused(person, phone, clock, outbox, django_capture_on_commit_callbacks)
    held = code_sent_to(outbox, PHONE)

    with django_capture_on_commit_callbacks(execute=True):
        response = lift(desk, person)

    assert response.status_code == HTTPStatus.FOUND
    assert safecode_pauses(person) == []
    # The code the person holds still works, and a new one can be sent.
    assert safecode_verify(user=person, purpose=Purpose.UNLOCK, code=held) is True
    clock.shift(app_settings.RESEND_INTERVAL + timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        safecode_issue(user=person, purpose=Purpose.UNLOCK, channel=phone)
    assert code_sent_to(outbox, PHONE) != held
    lifted = AuditEvent.objects.get(event="safecode.limits_lifted")
    assert (lifted.actor, lifted.subject) == (agent, person)
    assert lifted.detail["lifted"] == ["Unlock your account"]
    desk_event = AuditEvent.objects.get(event="desk.lift_limits")
    assert desk_event.detail["reason"] == "Caller waited an hour already"
    assert any(m.recipient == "pat.person@hms.harvard.edu" for m in outbox)  # told


def test_lifting_ends_a_lockout_by_wrong_codes(person, phone, clock, agent):
    for _ in range(app_settings.LOCKOUT_FAILURES):
        WrongEntry.objects.create(user=person, purpose=Purpose.UNLOCK)
    with pytest.raises(SafeCodeLockedOut):
        safecode_issue(user=person, purpose=Purpose.UNLOCK, channel=phone)

    result = safecode_limits_lift(user=person, agent=agent)

    assert result["wrong_entries"] == app_settings.LOCKOUT_FAILURES
    assert safecode_locked_until(user=person, purpose=Purpose.UNLOCK) is None
    safecode_issue(user=person, purpose=Purpose.UNLOCK, channel=phone)


def test_lifting_leaves_other_accounts_alone(person, phone, clock, agent):
    other = UserFactory()
    for _ in range(app_settings.LOCKOUT_FAILURES):
        WrongEntry.objects.create(user=other, purpose=Purpose.UNLOCK)
        WrongEntry.objects.create(user=person, purpose=Purpose.UNLOCK)

    safecode_limits_lift(user=person, agent=agent)

    assert safecode_locked_until(user=other, purpose=Purpose.UNLOCK) is not None


def test_the_action_is_offered_only_while_a_limit_holds(desk, person):
    assert 'id="act-lift_limits"' not in desk.get(page(person)).content.decode()

    response = lift(desk, person)

    assert response.status_code == HTTPStatus.FOUND
    assert not AuditEvent.objects.filter(event="safecode.limits_lifted").exists()


def test_lifting_needs_a_reason_or_a_verified_call(desk, person):
    for _ in range(app_settings.LOCKOUT_FAILURES):
        WrongEntry.objects.create(user=person, purpose=Purpose.UNLOCK)

    lift(desk, person, reason="")

    assert safecode_pauses(person) != []


def test_staff_without_the_permission_cannot_lift(client, person):
    helper = UserFactory(is_staff=True)
    helper.user_permissions.add(Permission.objects.get(codename="view_deskaccount"))
    client.force_login(helper)
    for _ in range(app_settings.LOCKOUT_FAILURES):
        WrongEntry.objects.create(user=person, purpose=Purpose.UNLOCK)

    body = client.get(page(person)).content.decode()
    response = lift(client, person)

    assert 'id="act-lift_limits"' not in body
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert safecode_pauses(person) != []
