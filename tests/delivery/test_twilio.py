"""Texts and calls through the real twilio library, over a scripted HTTP client."""

from __future__ import annotations

import logging
from xml.etree import ElementTree

import pytest
import requests

from audit.models import AuditEvent
from delivery.models import Message
from delivery.services import message_enqueue
from tests.delivery.conftest import TWILIO_FROM, TWILIO_SID

CODE = "204518"
BODY = f"Your HMS SafeCode is {CODE}. Do not share it."
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
CALLS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Calls.json"


@pytest.fixture
def send(django_capture_on_commit_callbacks, user):
    def send(channel: str = Message.Channel.SMS, body: str = BODY, secret: str = CODE) -> Message:
        with django_capture_on_commit_callbacks(execute=True):
            message = message_enqueue(
                channel=channel,
                recipient="+16175551234",
                body=body,
                purpose="safecode",
                secrets=[secret],
                user=user,
            )
        message.refresh_from_db()
        return message

    return send


@pytest.mark.django_db
def test_sms_is_posted_to_twilio_messages(twilio, send):
    twilio.created("SM0001")

    message = send()

    [request] = twilio.requests
    assert request.method == "POST"
    assert request.url == MESSAGES_URL
    assert request.data == {"To": "+16175551234", "From": TWILIO_FROM, "Body": BODY}
    assert request.auth == (TWILIO_SID, "auth-token-for-tests")
    assert twilio.configured_timeout == 7.5
    assert message.status == Message.Status.SENT
    assert message.provider_id == "SM0001"
    assert CODE not in message.body


@pytest.mark.django_db
def test_voice_call_speaks_the_body(twilio, send):
    twilio.created("CA0001")
    spoken_code = ", ".join(CODE)
    spoken = f"Your H M S code is {spoken_code}. Again: {spoken_code}."

    message = send(channel=Message.Channel.VOICE, body=spoken, secret=spoken_code)

    [request] = twilio.requests
    assert request.url == CALLS_URL
    assert request.data["To"] == "+16175551234"
    assert request.data["From"] == TWILIO_FROM
    twiml = ElementTree.fromstring(request.data["Twiml"])  # noqa: S314 (the library's own TwiML)
    assert twiml.tag == "Response"
    assert [say.text for say in twiml.iter("Say")] == [spoken]
    assert message.status == Message.Status.SENT
    assert spoken_code not in message.body
    assert message.provider_id == "CA0001"


@pytest.mark.django_db
def test_twilio_server_error_is_retried_and_sent_once(twilio, send, outbox):
    twilio.error(500, 20500, "Internal Server Error")
    twilio.created("SM0002")

    message = send()

    assert [r.url for r in twilio.requests] == [MESSAGES_URL, MESSAGES_URL]
    assert all(r.data["Body"] == BODY for r in twilio.requests)
    assert message.status == Message.Status.SENT
    assert message.provider_id == "SM0002"
    assert message.attempts == 2
    assert not AuditEvent.objects.filter(event="delivery.failed").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ReadTimeout("read timed out"), requests.ConnectionError("reset")],
    ids=["timeout", "connection-error"],
)
def test_twilio_timeout_is_retried(twilio, send, failure):
    twilio.raise_(failure)
    twilio.created("SM0003")

    message = send()

    assert len(twilio.requests) == 2
    assert message.status == Message.Status.SENT
    assert message.provider_id == "SM0003"


@pytest.mark.django_db
def test_twilio_rate_limit_is_retried(twilio, send):
    twilio.error(429, 20429, "Too Many Requests")
    twilio.created("SM0004")

    message = send()

    assert len(twilio.requests) == 2
    assert message.status == Message.Status.SENT


@pytest.mark.django_db
def test_invalid_number_fails_at_once_and_is_audited(twilio, send, user):
    twilio.error(400, 21211, "The 'To' number +16175551234 is not a valid phone number.")

    message = send()

    assert len(twilio.requests) == 1
    assert message.status == Message.Status.FAILED
    assert "21211" in message.last_error
    assert CODE not in message.body
    event = AuditEvent.objects.get(event="delivery.failed")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.subject == user
    assert event.detail == {
        "message_id": message.pk,
        "channel": "sms",
        "purpose": "safecode",
        "recipient": "+•••••••••34",
        "reason": "permanent",
    }


@pytest.mark.django_db
def test_message_fails_when_attempts_are_exhausted(twilio, send, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    for _ in range(3):
        twilio.error(503, 20503, "Service Unavailable")

    message = send()

    assert len(twilio.requests) == 3
    assert message.status == Message.Status.FAILED
    assert message.attempts == 3
    assert "503" in message.last_error
    event = AuditEvent.objects.get(event="delivery.failed")
    assert event.detail["reason"] == "attempts_exhausted"


@pytest.mark.django_db
def test_retry_waits_longer_after_each_failure(twilio, django_capture_on_commit_callbacks):
    from delivery.services import message_deliver

    with django_capture_on_commit_callbacks():
        message = message_enqueue(
            channel="sms", recipient="+16175551234", body=BODY, purpose="safecode"
        )
    twilio.error(500, 20500, "Internal Server Error")
    twilio.error(500, 20500, "Internal Server Error")

    first = message_deliver(message_id=message.pk)
    second = message_deliver(message_id=message.pk)

    # Full wait after attempt n is base * 2**(n-1), of which at least half is always waited.
    assert 2.5 <= first.retry_in <= 5
    assert 5 <= second.retry_in <= 10
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.next_attempt_at > message.created_at


@pytest.mark.django_db
def test_provider_error_echoing_the_code_is_neither_stored_nor_logged(twilio, send, caplog):
    twilio.error(500, 20500, f"Upstream rejected body '{BODY}'")
    twilio.error(400, 21610, f"Blocked body '{BODY}'")

    with caplog.at_level(logging.DEBUG):
        message = send()

    assert message.status == Message.Status.FAILED
    assert "Blocked body" in message.last_error
    assert CODE not in message.last_error
    assert CODE not in caplog.text
    assert "Upstream rejected" in caplog.text


@pytest.mark.django_db
def test_unconfigured_twilio_fails_the_message(twilio, send, settings):
    settings.TWILIO_AUTH_TOKEN = ""

    message = send()

    assert twilio.requests == []
    assert message.status == Message.Status.FAILED
    assert "not configured" in message.last_error
