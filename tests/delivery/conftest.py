"""Fixtures of the delivery tests: in-process Celery, a scripted Twilio, a local SMTP server."""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from twilio.http import HttpClient
from twilio.http.response import Response

from portal.celery import app as celery_app
from tests.delivery.brokers import closed_port

TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_FROM = "+16175550100"


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run in-process here whatever broker the environment names (REDIS_URL included)."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


@pytest.fixture
def user(db):
    from accounts.models import User

    return User.objects.create_user(username="jdoe", email="jane.doe@hms.harvard.edu")


@dataclass
class RecordedRequest:
    method: str
    url: str
    data: dict[str, Any]
    auth: tuple[str, str] | None


class RecordingHttpClient(HttpClient):
    """Twilio's HTTP layer, replaced: answers come from a script, requests are recorded."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("tests.twilio"), is_async=False, timeout=None)
        self.script: deque[Response | Exception] = deque()
        self.requests: list[RecordedRequest] = []
        self.configured_timeout: float | None = None

    def __call__(self, *, timeout: float | None = None, **kwargs) -> RecordingHttpClient:
        """Stands in for the ``TwilioHttpClient`` class the backend instantiates."""
        self.configured_timeout = timeout
        return self

    def respond(self, status: int, payload: dict[str, Any]) -> None:
        self.script.append(Response(status, json.dumps(payload)))

    def created(self, sid: str) -> None:
        self.respond(201, {"sid": sid, "status": "queued"})

    def error(self, status: int, code: int, message: str) -> None:
        self.respond(status, {"code": code, "message": message, "status": status})

    def raise_(self, exc: Exception) -> None:
        self.script.append(exc)

    def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        self.requests.append(RecordedRequest(method, url, dict(data or {}), auth))
        answer = self.script.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def twilio(settings, monkeypatch) -> RecordingHttpClient:
    """The Twilio backend for texts and calls, over a scripted HTTP client."""
    from delivery.backends import twilio as twilio_backend

    settings.DELIVERY_SMS_BACKEND = "delivery.backends.twilio.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = "auth-token-for-tests"
    settings.TWILIO_FROM_NUMBER = TWILIO_FROM
    settings.TWILIO_TIMEOUT_SECONDS = 7.5
    client = RecordingHttpClient()
    monkeypatch.setattr(twilio_backend, "TwilioHttpClient", client)
    return client


@dataclass
class SMTPHandler:
    """Accepts mail, except for addresses listed in ``refuse`` (address -> reply)."""

    received: list[Any] = field(default_factory=list)
    refuse: dict[str, deque[str]] = field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.refuse.get(address)
        if replies:
            return replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1, and the SMTP backend pointed at it."""
    handler = SMTPHandler()
    port = closed_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.DELIVERY_EMAIL_BACKEND = "delivery.backends.smtp.SMTPBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield handler
    controller.stop()
