"""Delivery without a broker, as in the embedded default: a background thread sends.

No request waits for a provider, however slow or stuck it is, and a message that fails to
send (the provider down, the database locked) is retried until it goes, never lost. These
tests switch the suite's synchronous sending off and run the background thread itself.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.utils import timezone

import delivery.services
from delivery.backends.base import Outgoing, TransientDeliveryError
from delivery.backends.locmem import LocmemBackend
from delivery.inprocess import worker
from delivery.models import Message
from delivery.services import message_enqueue
from safecode.models import Channel
from tests.accounts.pages import FORGOT, FORGOT_CODE, FORGOT_SEND, UNLOCK, UNLOCK_CODE, UNLOCK_SEND
from tests.delivery.brokers import celery_broker, closed_port
from tests.factories import PHONE, SAFECODE_EMAIL, ChannelFactory, UserFactory, lock
from tests.helpers import captcha_answer

pytestmark = pytest.mark.django_db(transaction=True)


# Every wait is bounded; none of them is asserted on.
WAIT = 15.0
POLL_SECONDS = 0.05
POLLS = 600  # at most 30 s, for a loaded machine


@pytest.fixture
def background(settings, transactional_db):
    """The embedded default's delivery: no broker, the background thread, short backoffs."""
    settings.DELIVERY_WITHOUT_BROKER = "thread"
    settings.DELIVERY_BACKOFF_BASE_SECONDS = 0.05
    settings.DELIVERY_BACKOFF_CAP_SECONDS = 0.2
    worker.stop()
    yield worker
    worker.stop()


class Gate:
    """A provider whose send blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.sent: list[Outgoing] = []


gate = Gate()


class GatedBackend:
    def send(self, outgoing: Outgoing) -> str:
        gate.entered.set()
        if not gate.opened.wait(timeout=WAIT):
            raise TransientDeliveryError("the provider never answered")
        gate.sent.append(outgoing)
        return f"gated-{len(gate.sent)}"


class FlakyBackend:
    """Fails the first ``failures`` sends the way the given exception says, then sends."""

    failures: list[Exception] = []

    def send(self, outgoing: Outgoing) -> str:
        if FlakyBackend.failures:
            raise FlakyBackend.failures.pop(0)
        return LocmemBackend().send(outgoing)


@pytest.fixture
def gated(settings):
    global gate
    gate = Gate()
    settings.DELIVERY_SMS_BACKEND = f"{__name__}.GatedBackend"
    yield gate
    gate.opened.set()


def sms(body: str = "Your HMS code is 123456.") -> Message:
    return message_enqueue(
        channel=Message.Channel.SMS,
        recipient=PHONE,
        body=body,
        purpose="test",
        secrets=[secret for secret in ["123456"] if secret in body],
    )


def status_of(message: Message) -> str:
    return Message.objects.values_list("status", flat=True).get(pk=message.pk)


def eventually_sent(message: Message) -> Message:
    for _ in range(POLLS):
        message.refresh_from_db()
        if message.status == Message.Status.SENT:
            return message
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"message {message.pk} is still {message.status}")


def locked_account_on_the_send_step(client):
    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)
    page = client.get(UNLOCK)
    started = client.post(UNLOCK, {"username": user.username, **captcha_answer(page)})
    assert started.url == UNLOCK_SEND
    return user


# The request never waits for the provider --------------------------------------------------


def test_unlock_page_answers_while_the_provider_is_still_sending(background, gated, client):
    locked_account_on_the_send_step(client)

    response = client.post(UNLOCK_SEND, {"kind": "phone"})

    assert response.status_code == HTTPStatus.FOUND
    assert response.url == UNLOCK_CODE
    assert gated.entered.wait(timeout=WAIT), "the provider was never called"
    (message,) = Message.objects.filter(purpose="safecode.unlock")
    assert message.status == Message.Status.SENDING
    assert gated.sent == []

    gated.opened.set()

    assert background.wait_idle(timeout=WAIT)
    assert status_of(message) == Message.Status.SENT
    assert [sent.recipient for sent in gated.sent] == [PHONE]
    assert re.search(r"\b\d{6}\b", gated.sent[0].body)


class HangingSMTPServer:
    """Accepts connections and never says a word, like a relay that has stopped answering."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connected = threading.Event()
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        try:
            while True:
                conn, _ = self.listener.accept()
                self.connections.append(conn)
                self.connected.set()
        except OSError:
            return

    def hang_up(self) -> None:
        for conn in self.connections:
            conn.close()
        self.listener.close()


def test_forgotten_password_answers_while_the_mail_relay_hangs(
    background, settings, smtp_server, client
):
    user = UserFactory()
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    hanging = HangingSMTPServer()
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = hanging.port
    settings.EMAIL_TIMEOUT = 60
    try:
        page = client.get(FORGOT)
        details = {
            "login": user.username,
            "last_name": user.person.last_name,
            "huid": user.person.huid,
            "date_of_birth": "",
        }
        assert client.post(FORGOT, {**details, **captcha_answer(page)}).url == FORGOT_SEND

        response = client.post(FORGOT_SEND, {"kind": "email"})

        assert response.status_code == HTTPStatus.FOUND
        assert response.url == FORGOT_CODE
        assert hanging.connected.wait(timeout=WAIT), "the relay was never called"
        (message,) = Message.objects.filter(recipient=SAFECODE_EMAIL)
        assert message.status == Message.Status.SENDING
        assert smtp_server.received == []
        # The relay comes back: the stuck attempt fails and the retry goes to the working one.
        settings.EMAIL_PORT = working_port
    finally:
        hanging.hang_up()

    assert eventually_sent(message).attempts == 2
    assert background.wait_idle(timeout=WAIT)
    assert [envelope.rcpt_tos for envelope in smtp_server.received] == [[SAFECODE_EMAIL]]


# Failures are retried, not lost ---------------------------------------------------------------


@pytest.fixture
def flaky(settings):
    settings.DELIVERY_SMS_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.failures = []
    yield FlakyBackend.failures
    FlakyBackend.failures = []


def test_a_provider_outage_is_retried_and_the_message_sent(background, flaky, outbox):
    flaky.extend([TransientDeliveryError("503 from the provider")] * 2)

    message = sms()

    message = eventually_sent(message)
    assert message.attempts == 3
    assert [sent.recipient for sent in outbox] == [PHONE]


def test_a_locked_database_when_writing_the_message_is_retried(background, flaky, outbox):
    """The dev outbox writes a row to deliver a message; SQLite may refuse it."""
    flaky.append(OperationalError("database is locked"))

    message = eventually_sent(sms())

    assert message.attempts == 2
    assert [sent.recipient for sent in outbox] == [PHONE]


def test_a_locked_database_when_claiming_the_message_is_retried(background, monkeypatch, outbox):
    real = delivery.services.message_deliver
    refusals = [OperationalError("database is locked")] * 2

    def message_deliver(*, message_id):
        if refusals:
            raise refusals.pop()
        return real(message_id=message_id)

    monkeypatch.setattr(delivery.services, "message_deliver", message_deliver)

    message = eventually_sent(sms())

    assert refusals == []
    assert message.attempts == 1
    assert [sent.recipient for sent in outbox] == [PHONE]


def test_a_message_left_queued_is_swept_without_a_beat(background, settings, outbox):
    """A process that ended before sending leaves a queued row; the thread sweeps it up, at
    start and then periodically, with no Celery beat."""
    settings.DELIVERY_INPROCESS_SWEEP_SECONDS = 0.2
    long_ago = timezone.now() - timedelta(hours=1)
    left_before_start = Message.objects.create(
        channel=Message.Channel.SMS, recipient=PHONE, purpose="test", body="first"
    )
    Message.objects.filter(pk=left_before_start.pk).update(next_attempt_at=long_ago)

    eventually_sent(sms("second"))
    eventually_sent(left_before_start)
    left_while_running = Message.objects.create(
        channel=Message.Channel.SMS, recipient=PHONE, purpose="test", body="third"
    )
    Message.objects.filter(pk=left_while_running.pk).update(next_attempt_at=long_ago)
    eventually_sent(left_while_running)

    assert sorted(sent.body for sent in outbox) == ["first", "second", "third"]


# The thread's own hygiene, and the broker configuration --------------------------------------


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="counts server-side connections",
)
def test_the_thread_keeps_no_database_connection_between_messages(background, outbox):
    eventually_sent(sms())
    assert background.wait_idle(timeout=WAIT)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (others,) = cursor.fetchone()
    assert others == 0


def test_with_a_broker_messages_go_to_the_broker_not_the_thread(background, outbox):
    with celery_broker(f"redis://127.0.0.1:{closed_port()}/0"):
        message = sms()

    assert background.wait_idle(timeout=0)
    assert status_of(message) == Message.Status.QUEUED
    assert outbox == []
