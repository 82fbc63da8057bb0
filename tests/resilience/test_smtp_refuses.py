"""The SMTP relay refuses the mail for a while (451, "try again later"): the message is retried
and delivered once, and the person is told their code is on its way, never shown an error.

The person's unlock journey runs on the live server's pages (real HTTP); a real Celery worker
process (tests/integration/test_celery_worker.py's ``start_worker``, on the private Redis)
sends with the SMTP backend to an aiosmtpd server of this process whose first answer to the
recipient is a temporary refusal.
"""

from __future__ import annotations

from collections import deque

import pytest
from aiosmtpd.controller import Controller

from tests.delivery.brokers import closed_port
from tests.delivery.conftest import SMTPHandler
from tests.resilience.services import (
    CLIENT_TIMEOUT,
    assert_told_a_code_is_coming,
    locked_person_asks_for_email_code,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SAFECODE_EMAIL = "pat.refused@example.org"


@pytest.fixture
def relay():
    handler = SMTPHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=closed_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def test_refused_mail_is_retried_and_the_person_is_told_it_is_coming(
    relay, start_worker, live_server
):
    from delivery.models import Message

    handler, port = relay
    handler.refuse[SAFECODE_EMAIL] = deque(["451 4.3.2 System not accepting messages now"])
    _, log = start_worker(
        EMAIL_BACKEND="smtp", EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(port), EMAIL_TIMEOUT="10"
    )

    person, page = locked_person_asks_for_email_code(
        live_server.url, "smtp.refused", SAFECODE_EMAIL
    )

    assert_told_a_code_is_coming(page, live_server.url, kind="email")
    refused = wait_for(
        lambda: (
            Message.objects.filter(
                recipient=SAFECODE_EMAIL, status=Message.Status.QUEUED, attempts=1
            )
            .exclude(last_error="")
            .first()
        ),
        "the relay's refusal",
        log=log,
    )
    assert "451" in refused.last_error
    assert refused.next_attempt_at > refused.updated_at  # a retry is scheduled
    # The person, waiting, looks again: the same "on its way", no error.
    again = person.get(f"{live_server.url}/unlock/code/", timeout=CLIENT_TIMEOUT)
    assert_told_a_code_is_coming(again, live_server.url, kind="email")

    sent = wait_for(
        lambda: Message.objects.filter(pk=refused.pk, status=Message.Status.SENT).first(),
        "the retried mail to be accepted",
        log=log,
    )
    assert sent.attempts == 2
    assert [envelope.rcpt_tos for envelope in handler.received] == [[SAFECODE_EMAIL]]
    assert sent.last_error == ""
