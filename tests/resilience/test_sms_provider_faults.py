"""The SMS provider fails, then times out, then takes the text: the code is retried with a
growing wait, and the person gets exactly one text.

A person asks for an unlock code on the live server's pages (real HTTP); the page publishes
the message to the private Redis; a Celery worker consumes it there and sends it through the
real twilio library, whose HTTP layer is scripted (tests/delivery/conftest.py's
``RecordingHttpClient``): a 500, then a read timeout after the configured timeout, then 201.
The worker runs in this process (``celery.contrib.testing.worker``, a real consumer of the
broker, retries published back to it with their countdown) because the script is an object
of this process; the worker-process faults are in test_worker_killed.py.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import requests
from celery.contrib.testing import worker as celery_testing
from django.utils import timezone

from portal.celery import app
from tests.delivery.conftest import TWILIO_FROM, TWILIO_SID, RecordingHttpClient
from tests.resilience.services import (
    assert_told_a_code_is_coming,
    browser,
    unlock_request_code,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PHONE = "+16175550400"
BACKOFF_BASE = 1.0  # seconds: the first retry waits 0.5-1 s, the second 1-2 s
TIMEOUT = 1.0  # seconds the HTTP client waits for Twilio before giving up


@dataclass
class Call:
    started: datetime
    ended: datetime
    attempts: int  # the message's attempts when the provider was called (this one included)
    next_attempt_at: datetime  # as the row stood when the provider was called
    answer: str


class ScriptedTwilio(RecordingHttpClient):
    """The scripted HTTP layer, which also notes when each call came and how the message row
    stood then, and which times out the way requests does: after the configured timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.lock = threading.Lock()

    def request(self, method, url, params=None, data=None, headers=None, auth=None, **kwargs):
        from delivery.models import Message

        started = timezone.now()
        row = Message.objects.filter(recipient=PHONE).values("attempts", "next_attempt_at")
        row = row.get()
        next_answer = self.script[0] if self.script else None
        try:
            if isinstance(next_answer, requests.exceptions.ReadTimeout):
                time.sleep(self.configured_timeout or 0)
            answer = super().request(method, url, params, data, headers, auth, **kwargs)
            label = str(answer.status_code)
            return answer
        except requests.exceptions.ReadTimeout:
            label = "timeout"
            raise
        finally:
            with self.lock:
                self.calls.append(
                    Call(started, timezone.now(), row["attempts"], row["next_attempt_at"], label)
                )


@pytest.fixture
def twilio(settings, monkeypatch) -> ScriptedTwilio:
    from delivery.backends import twilio as twilio_backend

    settings.DELIVERY_SMS_BACKEND = "delivery.backends.twilio.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = "auth-token-for-tests"
    settings.TWILIO_FROM_NUMBER = TWILIO_FROM
    settings.TWILIO_TIMEOUT_SECONDS = TIMEOUT
    settings.DELIVERY_BACKOFF_BASE_SECONDS = BACKOFF_BASE
    client = ScriptedTwilio()
    monkeypatch.setattr(twilio_backend, "TwilioHttpClient", client)
    return client


@pytest.fixture
def worker(broker):
    """A Celery worker consuming the private Redis, in a thread of this process."""
    with celery_testing.start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=30
    ) as running:
        yield running


def test_provider_500_then_timeout_is_retried_with_backoff_and_sent_once(
    twilio, broker, worker, live_server
):
    from captcha.models import CaptchaStore

    from delivery.models import Message
    from tests.factories import ChannelFactory, UserFactory, lock

    user = UserFactory(username="sms.fault")
    lock(user)
    ChannelFactory(user=user, address=PHONE)
    twilio.error(500, 20500, "Internal Server Error")
    twilio.raise_(requests.exceptions.ReadTimeout("read timed out"))
    twilio.created("SM0000000000000000000000000000abcd")

    def captcha(key: str) -> str:
        return CaptchaStore.objects.get(hashkey=key).response

    page = unlock_request_code(browser(), live_server.url, "sms.fault", captcha)

    assert_told_a_code_is_coming(page, live_server.url)
    message = wait_for(
        lambda: Message.objects.filter(recipient=PHONE, status=Message.Status.SENT).first(),
        "the text to be sent",
    )
    assert [call.answer for call in twilio.calls] == ["500", "timeout", "201"]
    assert [request.data["To"] for request in twilio.requests] == [PHONE] * 3
    assert message.provider_id == "SM0000000000000000000000000000abcd"
    assert message.attempts == 3
    assert message.purpose == "safecode.unlock"
    assert "•" in message.body  # sent: the code is masked in the stored body
    # The second and third calls came after the wait the row recorded, and that wait grew:
    # after attempt n the full wait is base * 2**(n-1), of which at least half is waited.
    first, second, third = twilio.calls
    assert [call.attempts for call in twilio.calls] == [1, 2, 3]
    slack = timedelta(seconds=0.5)
    first_wait = second.next_attempt_at - first.ended
    second_wait = third.next_attempt_at - second.ended
    base = timedelta(seconds=BACKOFF_BASE)
    assert base / 2 <= first_wait <= base + slack, first_wait
    assert base <= second_wait <= 2 * base + slack, second_wait
    assert second.started >= second.next_attempt_at
    assert third.started >= third.next_attempt_at
    assert second.ended - second.started >= timedelta(seconds=TIMEOUT)
