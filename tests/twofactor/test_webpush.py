"""Web Push wake-ups: pywebpush's real request, received by a local push service that decrypts
it as the phone's browser would and checks the VAPID signature as a push service would."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import call_command
from django.utils import timezone

from portal.celery import app as celery_app
from tests.delivery.brokers import celery_broker, closed_port
from tests.factories import UserFactory
from twofactor.models import AppKey, Device, PushRequest
from twofactor.tasks import push_wake
from twofactor.webpush import TransientPushError, push_wake_enqueue, push_wake_send

SUBJECT = "mailto:security@hms.example.org"
NUMBER = "739"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run in-process here whatever broker the environment names (REDIS_URL included)."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


@pytest.fixture
def vapid(settings) -> dict[str, str]:
    """A fresh VAPID key pair from ``manage.py vapid_keys``, configured as an operator would."""
    out = io.StringIO()
    call_command("vapid_keys", stdout=out)
    pair = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    settings.TWOFACTOR_VAPID_PUBLIC_KEY = pair["TWOFACTOR_VAPID_PUBLIC_KEY"]
    settings.TWOFACTOR_VAPID_PRIVATE_KEY = pair["TWOFACTOR_VAPID_PRIVATE_KEY"]
    settings.TWOFACTOR_VAPID_SUBJECT = SUBJECT
    return pair


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] | None = None
    error: str = ""


@dataclass
class PushService:
    """A push service on 127.0.0.1 that holds the browser's keys, so it can decrypt what it
    receives (RFC 8291). It answers ``status`` to every request."""

    url: str
    browser_key: ec.EllipticCurvePrivateKey
    auth: bytes
    status: int = 201
    received: list[Received] = field(default_factory=list)
    on_request: Callable[[], None] | None = None

    @property
    def origin(self) -> str:
        return self.url.split("/push/")[0]

    @property
    def p256dh(self) -> str:
        point = self.browser_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        received = Received(path=path, headers=headers, body=body)
        try:
            plain = http_ece.decrypt(
                body, private_key=self.browser_key, auth_secret=self.auth, version="aes128gcm"
            )
            received.payload = json.loads(plain)
        except Exception as exc:
            received.error = f"{type(exc).__name__}: {exc}"
        self.received.append(received)
        if self.on_request is not None:
            self.on_request()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        service: PushService = self.server.service  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        service.record(self.path, headers, body)
        self.send_response(service.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def push_service() -> Iterator[PushService]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    host, port = server.server_address[:2]
    service = PushService(
        url=f"http://{host}:{port}/push/v2/subscription-abc",
        browser_key=ec.generate_private_key(ec.SECP256R1()),
        auth=os.urandom(16),
    )
    server.service = service  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def app_key(db, push_service) -> AppKey:
    user = UserFactory()
    return AppKey.objects.create(
        user=user,
        name="iPhone",
        confirmed=True,
        public_key="x",
        push_endpoint=push_service.url,
        push_p256dh=push_service.p256dh,
        push_auth=b64url(push_service.auth),
    )


def make_push(app_key: AppKey, **extra) -> PushRequest:
    device = Device.objects.filter(app=app_key).first() or Device.objects.create(
        user=app_key.user,
        kind=Device.Kind.MOBILE,
        name="iPhone",
        app=app_key,
        confirmed_at=timezone.now(),
    )
    fields = {
        "user": app_key.user,
        "device": device,
        "purpose": "Sign in",
        "number": NUMBER,
        "expires_at": timezone.now() + timedelta(seconds=60),
        **extra,
    }
    return PushRequest.objects.create(**fields)


@pytest.fixture
def push(app_key) -> PushRequest:
    return make_push(app_key)


def vapid_claims(received: Received, *, public_key: str, audience: str) -> dict[str, Any]:
    """Check ``Authorization: vapid t=<jwt>, k=<key>`` as a push service does (RFC 8292)."""
    scheme, _, params = received.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(public_key))
    return jwt.decode(fields["t"], key, algorithms=["ES256"], audience=audience)


def subscription_of(app_key: AppKey) -> tuple[str, str, str]:
    app_key.refresh_from_db()
    return app_key.push_endpoint, app_key.push_p256dh, app_key.push_auth


# Sending ---------------------------------------------------------------------------------------


def test_the_phone_gets_the_request_encrypted_for_it_and_signed_by_the_portal(
    vapid, push_service, push
):
    assert push_wake_send(push_id=push.id) == "sent"

    [received] = push_service.received
    assert received.path == "/push/v2/subscription-abc"
    assert not received.error
    assert received.payload == {
        "id": str(push.id),
        "account": push.user.username,
        "purpose": "Sign in",
    }
    # The phone must read the number on the screen being signed in to, never in the push.
    assert NUMBER not in received.payload.values()
    assert NUMBER.encode() not in received.body
    assert received.headers["content-encoding"] == "aes128gcm"
    assert 55 <= int(received.headers["ttl"]) <= 60
    assert received.headers["urgency"] == "high"
    assert received.headers["topic"] == push.id.hex

    claims = vapid_claims(
        received,
        public_key=vapid["TWOFACTOR_VAPID_PUBLIC_KEY"],
        audience=push_service.origin,
    )
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 60 * 60


def test_a_push_signed_with_another_key_does_not_verify(vapid, push_service, push):
    """The signature check above is a real one: another VAPID key does not pass it."""
    assert push_wake_send(push_id=push.id) == "sent"
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_public = b64url(other.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))

    received = push_service.received[0]
    received.headers["authorization"] = received.headers["authorization"].replace(
        vapid["TWOFACTOR_VAPID_PUBLIC_KEY"], other_public
    )
    with pytest.raises(jwt.InvalidSignatureError):
        vapid_claims(received, public_key=other_public, audience=push_service.origin)


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_no_longer_knows_is_cleared(
    vapid, push_service, app_key, push, status
):
    push_service.status = status

    assert push_wake_send(push_id=push.id) == "gone"

    assert subscription_of(app_key) == ("", "", "")
    # The next push does not try it again.
    assert push_wake_send(push_id=make_push(app_key).id) == "skipped"
    assert len(push_service.received) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_push_service_error_is_transient_and_keeps_the_subscription(
    vapid, push_service, app_key, push, status
):
    push_service.status = status

    with pytest.raises(TransientPushError) as raised:
        push_wake_send(push_id=push.id)

    assert str(status) in str(raised.value)
    assert "subscription-abc" not in str(raised.value)
    assert subscription_of(app_key)[0] == push_service.url


def test_an_unreachable_push_service_is_transient(vapid, app_key, push):
    AppKey.objects.filter(pk=app_key.pk).update(
        push_endpoint=f"http://127.0.0.1:{closed_port()}/push/v2/subscription-abc"
    )

    with pytest.raises(TransientPushError):
        push_wake_send(push_id=push.id)


def test_a_refusal_is_not_retried_and_keeps_the_subscription(vapid, push_service, app_key, push):
    push_service.status = 403

    assert push_wake_send(push_id=push.id) == "failed"
    assert subscription_of(app_key)[0] == push_service.url


@pytest.mark.parametrize(
    "state",
    [
        PushRequest.State.APPROVED,
        PushRequest.State.USED,
        PushRequest.State.DENIED,
        PushRequest.State.FRAUD,
        PushRequest.State.WRONG_NUMBER,
    ],
)
def test_an_answered_push_wakes_nothing(vapid, push_service, app_key, state):
    push = make_push(app_key, state=state)

    assert push_wake_send(push_id=push.id) == "skipped"
    assert push_service.received == []


def test_an_expired_push_wakes_nothing(vapid, push_service, app_key):
    push = make_push(app_key, expires_at=timezone.now() - timedelta(seconds=1))

    assert push_wake_send(push_id=push.id) == "skipped"
    assert push_service.received == []


def test_an_app_without_a_subscription_is_skipped(vapid, push_service, app_key, push):
    AppKey.objects.filter(pk=app_key.pk).update(push_endpoint="", push_p256dh="", push_auth="")

    assert push_wake_send(push_id=push.id) == "skipped"
    assert push_service.received == []


def test_with_web_push_off_nothing_is_sent(settings, push_service, push):
    settings.TWOFACTOR_VAPID_PUBLIC_KEY = ""
    settings.TWOFACTOR_VAPID_PRIVATE_KEY = ""

    assert push_wake_send(push_id=push.id) == "skipped"
    assert push_service.received == []


def test_an_unknown_push_is_skipped(vapid, push_service, db):
    assert push_wake_send(push_id="00000000-0000-4000-8000-000000000000") == "skipped"
    assert push_wake_send(push_id="not-a-uuid") == "skipped"
    assert push_service.received == []


# The task --------------------------------------------------------------------------------------


def test_the_task_sends_once(vapid, push_service, push):
    result = push_wake.apply(args=(str(push.id),))

    assert result.get() == "sent"
    assert len(push_service.received) == 1


def test_the_task_retries_a_transient_error_three_times_then_gives_up(vapid, push_service, push):
    push_service.status = 503

    result = push_wake.apply(args=(str(push.id),))

    assert result.failed()
    assert isinstance(result.result, TransientPushError)
    assert len(push_service.received) == 4  # the first try and three retries


def test_the_task_does_not_retry_once_the_push_expired(vapid, push_service, push):
    push_service.status = 503
    with time_machine.travel(timezone.now(), tick=True) as clock:
        # The push service fails, and the push expires before the retry runs.
        push_service.on_request = lambda: clock.shift(timedelta(seconds=61))

        result = push_wake.apply(args=(str(push.id),))

    assert result.get() == "skipped"
    assert len(push_service.received) == 1


def test_a_redelivered_task_after_the_answer_sends_nothing(vapid, push_service, push):
    assert push_wake.apply(args=(str(push.id),)).get() == "sent"
    PushRequest.objects.filter(pk=push.pk).update(state=PushRequest.State.APPROVED)

    assert push_wake.apply(args=(str(push.id),)).get() == "skipped"
    assert len(push_service.received) == 1


# Enqueueing ------------------------------------------------------------------------------------


def test_enqueue_wakes_the_phone_once_the_transaction_commits(
    vapid, push_service, push, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert push_wake_enqueue(push=push) is True
        assert push_service.received == []

    assert len(callbacks) == 1
    [received] = push_service.received
    assert received.payload["id"] == str(push.id)


def test_enqueue_does_nothing_with_web_push_off(
    settings, push_service, push, django_capture_on_commit_callbacks
):
    settings.TWOFACTOR_VAPID_PRIVATE_KEY = ""

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert push_wake_enqueue(push=push) is False

    assert callbacks == []
    assert push_service.received == []


def test_enqueue_does_nothing_for_an_app_without_a_subscription(
    vapid, push_service, app_key, push, django_capture_on_commit_callbacks
):
    AppKey.objects.filter(pk=app_key.pk).update(push_endpoint="", push_p256dh="", push_auth="")
    push.device.app.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert push_wake_enqueue(push=push) is False

    assert callbacks == []


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_a_background_thread_wakes_the_phone(settings, vapid, push_service, push):
    """The embedded default: no broker, and the request that enqueued does not wait."""
    settings.DELIVERY_WITHOUT_BROKER = "thread"

    assert push_wake_enqueue(push=push) is True  # no transaction open: runs at once

    deadline = time.monotonic() + 10
    while not push_service.received and time.monotonic() < deadline:
        time.sleep(0.05)
    for thread in threading.enumerate():
        if thread.name == "push-wake":
            thread.join(5)
    [received] = push_service.received
    assert received.payload["id"] == str(push.id)


def test_a_broker_outage_does_not_break_the_sign_in(
    vapid, push_service, push, django_capture_on_commit_callbacks, caplog
):
    with (
        celery_broker(f"redis://127.0.0.1:{closed_port()}/0"),
        caplog.at_level(logging.WARNING, logger="twofactor.webpush"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        assert push_wake_enqueue(push=push) is True

    assert len(callbacks) == 1
    assert push_service.received == []
    assert f"push {push.id} is not woken" in caplog.text


# The key pair ----------------------------------------------------------------------------------


def test_vapid_keys_prints_a_matching_pair():
    out = io.StringIO()
    call_command("vapid_keys", stdout=out)
    pair = dict(line.split("=", 1) for line in out.getvalue().splitlines())

    public = b64url_decode(pair["TWOFACTOR_VAPID_PUBLIC_KEY"])
    scalar = b64url_decode(pair["TWOFACTOR_VAPID_PRIVATE_KEY"])
    assert len(public) == 65 and public[0] == 4
    assert len(scalar) == 32
    derived = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    point = derived.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert point == public
