"""A broker outage: the caller's request succeeds and the message waits in the database."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from delivery.app_settings import app_settings
from delivery.models import Message
from delivery.services import message_enqueue, message_sweep
from tests.delivery.brokers import celery_broker, closed_port

CODE = "308826"


@pytest.mark.django_db(transaction=True)
def test_broker_down_leaves_the_message_queued_and_the_caller_unharmed(outbox, caplog):
    with (
        celery_broker(f"redis://127.0.0.1:{closed_port()}/0"),
        caplog.at_level(logging.WARNING, logger="delivery"),
        transaction.atomic(),
    ):
        message = message_enqueue(
            channel=Message.Channel.SMS,
            recipient="+16175551234",
            body=f"Your HMS code is {CODE}.",
            purpose="safecode",
            secrets=[CODE],
        )

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 0
    assert outbox == []
    assert f"message {message.pk} stays queued" in caplog.text
    assert CODE not in caplog.text

    with time_machine.travel(timezone.now() + app_settings.SWEEP_AGE + timedelta(seconds=1)):
        assert message_sweep() == 1

    assert [sent.body for sent in outbox] == [f"Your HMS code is {CODE}."]
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
