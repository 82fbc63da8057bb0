"""A Celery worker is killed (SIGKILL) in the middle of sending a person's code by email: once
a worker runs again, the code is sent, exactly once, and the person was never shown an error.

tests/integration/test_celery_worker.py kills a worker that waits for an SMTP greeting, with
the message enqueued directly. Here the message comes from a person's unlock request on the
live server's pages, and the relay stalls later, in DATA: the whole mail has been handed over
and only the relay's "250" is missing when the worker dies. The relay never accepted that
copy, so the portal must send again, and only once. The workers are that module's
``start_worker`` processes, on the private Redis.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from delivery.app_settings import app_settings
from delivery.tasks import sweep_queued_messages
from tests.delivery.brokers import closed_port
from tests.resilience.services import (
    CLIENT_TIMEOUT,
    SWEEP_DONE,
    assert_told_a_code_is_coming,
    locked_person_asks_for_email_code,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SAFECODE_EMAIL = "pat.killed@example.org"


@dataclass
class StallingRelay:
    """Takes the first mail's DATA and never answers it; accepts every later mail."""

    stalled: list = field(default_factory=list)
    accepted: list = field(default_factory=list)
    in_data: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):
        if not self.stalled:
            self.stalled.append(envelope)
            self.in_data.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.4.2 Timeout"  # to a client that is gone by then
        self.accepted.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def relay():
    handler = StallingRelay()
    controller = Controller(handler, hostname="127.0.0.1", port=closed_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        handler.release.set()
        controller.stop()


def test_worker_killed_while_sending_a_persons_code_sends_it_once_after_restart(
    relay, start_worker, live_server, broker
):
    from delivery.models import Message, OutboxEntry

    handler, port = relay
    smtp = {"EMAIL_BACKEND": "smtp", "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port)}
    stuck, stuck_log = start_worker(**smtp, EMAIL_TIMEOUT="300")

    person, page = locked_person_asks_for_email_code(
        live_server.url, "worker.killed", SAFECODE_EMAIL
    )

    assert_told_a_code_is_coming(page, live_server.url, kind="email")
    wait_for(handler.in_data.is_set, "the worker to hand the mail over in DATA", log=stuck_log)
    message = Message.objects.get(recipient=SAFECODE_EMAIL)
    assert message.status == Message.Status.SENDING
    stuck.kill()  # SIGKILL: no warm shutdown, no chance to requeue or to mark anything
    stuck.wait()
    handler.release.set()

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENDING, 1)
    assert handler.accepted == []
    again = person.get(f"{live_server.url}/unlock/code/", timeout=CLIENT_TIMEOUT)
    assert_told_a_code_is_coming(again, live_server.url, kind="email")

    _, log = start_worker(**smtp, EMAIL_TIMEOUT="10")
    # The dead worker's claim holds for DELIVERY_LEASE_SECONDS (5 minutes, longer than any
    # provider timeout); the test moves the claim back rather than wait for it to run out.
    lease_ran_out = timezone.now() - app_settings.LEASE - timedelta(seconds=1)
    Message.objects.filter(pk=message.pk).update(claimed_at=lease_ran_out)
    sweep_queued_messages.apply_async()  # as beat does, every minute
    wait_for(
        lambda: Message.objects.filter(pk=message.pk, status=Message.Status.SENT).exists(),
        "the swept message to be sent",
        log=log,
    )
    # Another beat's sweep, run to its end by the worker, finds nothing more to send.
    sweep_queued_messages.apply_async()
    wait_for(lambda: len(SWEEP_DONE.findall(log.read_text())) >= 2, "the second sweep", log=log)

    assert [envelope.rcpt_tos for envelope in handler.accepted] == [[SAFECODE_EMAIL]]
    message.refresh_from_db()
    assert message.attempts == 2
    assert not OutboxEntry.objects.exists()
