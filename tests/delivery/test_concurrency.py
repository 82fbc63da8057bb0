"""Workers racing for one message, with real threads against PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from delivery.models import Message
from delivery.services import DeliveryResult, message_deliver

WORKERS = 8

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="row locks are only meaningful on PostgreSQL (DATABASE_URL=postgres://...)",
)


@pytest.mark.django_db(transaction=True)
def test_racing_workers_send_a_message_once(outbox):
    message = Message.objects.create(
        channel=Message.Channel.SMS, recipient="+16175551234", body="Hello", purpose="notice"
    )
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

    assert sorted(outcomes) == [DeliveryResult.SENT] + [DeliveryResult.SKIPPED] * (WORKERS - 1)
    assert len(outbox) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
