"""Workers racing for one message, with real threads against PostgreSQL.

Delivery claims a row with a compare-and-swap UPDATE rather than a row lock, so these races
are what proves it sends once.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from delivery.app_settings import app_settings
from delivery.models import Message
from delivery.services import DeliveryResult, message_deliver

WORKERS = 8

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="workers racing over real connections need PostgreSQL (DATABASE_URL=postgres://...)",
)


def _message(**fields) -> Message:
    return Message.objects.create(
        channel=Message.Channel.SMS,
        recipient="+16175551234",
        body="Hello",
        purpose="notice",
        **fields,
    )


def _race(message: Message) -> list[str]:
    """``WORKERS`` threads deliver the message at the same instant; their outcomes, sorted."""
    start = threading.Barrier(WORKERS)
    outcomes: list[str] = []

    def worker() -> None:
        try:
            start.wait()
            outcomes.append(message_deliver(message_id=message.pk).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_racing_workers_send_a_message_once(outbox):
    message = _message()

    outcomes = _race(message)

    assert outcomes == [DeliveryResult.SENT] + [DeliveryResult.SKIPPED] * (WORKERS - 1)
    assert len(outbox) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_racing_workers_reclaim_an_abandoned_message_once(outbox):
    """A row whose worker died mid-send (lease run out) is taken over by exactly one."""
    message = _message(
        status=Message.Status.SENDING,
        attempts=1,
        claimed_at=timezone.now() - app_settings.LEASE - timedelta(seconds=1),
    )

    outcomes = _race(message)

    assert outcomes == [DeliveryResult.SENT] + [DeliveryResult.SKIPPED] * (WORKERS - 1)
    assert len(outbox) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENT, 2)


@pytest.mark.django_db(transaction=True)
def test_racing_workers_fail_an_expired_message_once(outbox, user):
    message = _message(user=user, expires_at=timezone.now() - timedelta(seconds=1))

    outcomes = _race(message)

    assert outcomes == [DeliveryResult.FAILED] + [DeliveryResult.SKIPPED] * (WORKERS - 1)
    assert outbox == []
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert AuditEvent.objects.filter(event="delivery.failed", subject=user).count() == 1
