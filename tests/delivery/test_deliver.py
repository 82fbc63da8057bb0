"""Delivery: once per row, never after expiry, masked once done, recovered by the sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audit.models import AuditEvent
from delivery.app_settings import app_settings
from delivery.models import Message
from delivery.services import DeliveryResult, message_deliver, message_enqueue, message_sweep
from delivery.tasks import deliver_message, sweep_queued_messages

CODE = "730154"
T0 = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)


def _queued(**overrides) -> Message:
    """A queued message that no task is carrying, as when the broker lost it.

    These tests run inside a transaction that never commits, so the on-commit hand-off to
    Celery does not happen; each test delivers or sweeps explicitly.
    """
    options = {
        "channel": Message.Channel.SMS,
        "recipient": "+16175551234",
        "body": f"Your HMS code is {CODE}.",
        "purpose": "unlock",
        "secrets": [CODE],
    }
    options.update(overrides)
    return message_enqueue(**options)


@pytest.mark.django_db
def test_task_run_twice_for_one_row_sends_once(outbox):
    message = _queued()
    assert outbox == []

    deliver_message.apply(args=(message.pk,))
    deliver_message.apply(args=(message.pk,))

    assert len(outbox) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert message.provider_id == "locmem-1"


@pytest.mark.django_db
def test_body_is_masked_once_sent_and_the_recipient_got_it_whole(outbox):
    message = _queued()

    assert message_deliver(message_id=message.pk) == DeliveryResult(DeliveryResult.SENT)

    assert outbox[0].body == f"Your HMS code is {CODE}."
    message.refresh_from_db()
    assert message.body == "Your HMS code is ••••••."
    assert message.sent_at is not None


@pytest.mark.django_db
def test_a_message_being_sent_is_left_alone_until_its_lease_runs_out(outbox):
    with time_machine.travel(T0, tick=False):
        message = _queued()
        Message.objects.filter(pk=message.pk).update(status=Message.Status.SENDING, claimed_at=T0)

    with time_machine.travel(T0 + app_settings.LEASE - timedelta(seconds=1), tick=False):
        assert message_deliver(message_id=message.pk).outcome == DeliveryResult.SKIPPED
    assert outbox == []

    with time_machine.travel(T0 + app_settings.LEASE + timedelta(seconds=1), tick=False):
        assert message_deliver(message_id=message.pk).outcome == DeliveryResult.SENT
    assert len(outbox) == 1
    message.refresh_from_db()
    assert message.attempts == 1


@pytest.mark.django_db
def test_sent_and_failed_messages_are_never_sent_again(outbox):
    sent = _queued()
    failed = _queued()
    Message.objects.filter(pk=sent.pk).update(status=Message.Status.SENT)
    Message.objects.filter(pk=failed.pk).update(status=Message.Status.FAILED)

    for message in (sent, failed):
        assert message_deliver(message_id=message.pk).outcome == DeliveryResult.SKIPPED
    assert outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("delay", "expected"),
    [(timedelta(seconds=-1), Message.Status.SENT), (timedelta(seconds=1), Message.Status.FAILED)],
    ids=["one-second-before-expiry", "one-second-after-expiry"],
)
def test_expired_message_is_failed_without_sending(outbox, user, delay, expected):
    expires_at = T0 + timedelta(minutes=10)
    with time_machine.travel(T0, tick=False):
        message = _queued(expires_at=expires_at, user=user)

    with time_machine.travel(expires_at + delay, tick=False):
        message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == expected
    failures = AuditEvent.objects.filter(event="delivery.failed", subject=user)
    if expected == Message.Status.SENT:
        assert len(outbox) == 1
        assert not failures.exists()
    else:
        assert outbox == []
        assert message.last_error == "Expired before it could be sent."
        assert CODE not in message.body
        assert failures.get().detail["reason"] == "expired"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "picked_up"),
    [(timedelta(seconds=-1), False), (timedelta(seconds=1), True)],
    ids=["one-second-too-young", "one-second-past-the-sweep-age"],
)
def test_sweep_sends_a_message_left_queued(outbox, age, picked_up):
    with time_machine.travel(T0, tick=False):
        message = _queued()

    with time_machine.travel(T0 + app_settings.SWEEP_AGE + age, tick=False):
        assert sweep_queued_messages.apply().get() == int(picked_up)

    message.refresh_from_db()
    assert (message.status == Message.Status.SENT) is picked_up
    assert len(outbox) == int(picked_up)


@pytest.mark.django_db
def test_sweep_recovers_a_message_whose_worker_died_mid_send(outbox):
    with time_machine.travel(T0, tick=False):
        message = _queued()
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SENDING, claimed_at=T0, attempts=1
        )

    with time_machine.travel(T0 + app_settings.LEASE - timedelta(seconds=1), tick=False):
        assert message_sweep() == 0
    with time_machine.travel(T0 + app_settings.LEASE + timedelta(seconds=1), tick=False):
        assert message_sweep() == 1

    assert len(outbox) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 2


@pytest.mark.django_db
def test_sweep_leaves_sent_and_failed_messages_alone(outbox):
    with time_machine.travel(T0, tick=False):
        for status in (Message.Status.SENT, Message.Status.FAILED):
            Message.objects.filter(pk=_queued().pk).update(status=status)

    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        assert message_sweep() == 0
    assert outbox == []


@pytest.mark.django_db
def test_a_stale_sending_message_out_of_attempts_is_failed_not_sent(outbox, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    with time_machine.travel(T0, tick=False):
        message = _queued()
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SENDING, claimed_at=T0, attempts=2
        )

    with time_machine.travel(T0 + app_settings.LEASE + timedelta(seconds=1), tick=False):
        message_sweep()

    assert outbox == []
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    event = AuditEvent.objects.get(event="delivery.failed")
    assert event.detail["reason"] == "attempts_exhausted"
