"""Email through the SMTP backend, against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

from collections import deque
from email import message_from_bytes, policy

import pytest

from audit.models import AuditEvent
from delivery.models import Message
from delivery.services import message_enqueue
from tests.delivery.brokers import closed_port

LINK = "https://portal.example/reset/Zx81-kq/"
BODY = f"Hello Jane,\n\nOpen {LINK} to choose a new password.\n"


@pytest.fixture
def send_email(django_capture_on_commit_callbacks, user):
    def send(recipient: str = "jane.doe@hms.harvard.edu") -> Message:
        with django_capture_on_commit_callbacks(execute=True):
            message = message_enqueue(
                channel=Message.Channel.EMAIL,
                recipient=recipient,
                subject="Reset your HMS password",
                body=BODY,
                purpose="password_reset",
                secrets=[LINK],
                user=user,
            )
        message.refresh_from_db()
        return message

    return send


@pytest.mark.django_db
def test_smtp_server_receives_the_email(smtp_server, send_email, settings):
    message = send_email()

    [envelope] = smtp_server.received
    assert envelope.rcpt_tos == ["jane.doe@hms.harvard.edu"]
    assert envelope.mail_from == "noreply@hms.harvard.edu"
    email = message_from_bytes(envelope.original_content, policy=policy.default)
    assert email["Subject"] == "Reset your HMS password"
    assert email["From"] == settings.DEFAULT_FROM_EMAIL
    assert email["To"] == "jane.doe@hms.harvard.edu"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email.get_content().replace("\r\n", "\n") == BODY
    assert message.status == Message.Status.SENT
    assert message.provider_id == email["Message-ID"]
    assert LINK not in message.body


@pytest.mark.django_db
def test_refused_recipient_fails_the_message(smtp_server, send_email, user):
    smtp_server.refuse["nobody@hms.harvard.edu"] = deque(["550 5.1.1 No such user"])

    message = send_email("nobody@hms.harvard.edu")

    assert smtp_server.received == []
    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert "550" in message.last_error
    event = AuditEvent.objects.get(event="delivery.failed")
    assert event.subject == user
    assert event.detail["recipient"] == "n•••@hms.harvard.edu"
    assert event.detail["reason"] == "permanent"


@pytest.mark.django_db
def test_temporary_refusal_is_retried(smtp_server, send_email):
    smtp_server.refuse["jane.doe@hms.harvard.edu"] = deque(["451 4.3.0 Try again later"])

    message = send_email()

    assert len(smtp_server.received) == 1
    assert message.status == Message.Status.SENT
    assert message.attempts == 2


@pytest.mark.django_db
def test_unreachable_smtp_server_is_retried_then_failed(settings, send_email):
    settings.DELIVERY_EMAIL_BACKEND = "delivery.backends.smtp.SMTPBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port()
    settings.DELIVERY_MAX_ATTEMPTS = 2

    message = send_email()

    assert message.status == Message.Status.FAILED
    assert message.attempts == 2
    assert "ConnectionRefusedError" in message.last_error
    assert AuditEvent.objects.get(event="delivery.failed").detail["reason"] == (
        "attempts_exhausted"
    )
