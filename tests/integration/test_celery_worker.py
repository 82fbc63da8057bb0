"""Delivery through a real Celery worker process, consuming from a real Redis.

Needs REDIS_URL and a PostgreSQL DATABASE_URL. The worker and this process share Redis
database 15 on REDIS_URL's server, which is flushed first: do not point it at a Redis whose
database 15 holds anything of value. The worker uses the test database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from delivery.app_settings import app_settings
from delivery.models import Message, OutboxEntry
from delivery.services import message_enqueue
from delivery.tasks import deliver_message, sweep_queued_messages
from tests.delivery.brokers import celery_broker

BROKER_DB = 15
WAIT_SECONDS = 60

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL")
        or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs REDIS_URL and a PostgreSQL DATABASE_URL for a real Celery worker",
    ),
]


def _broker_url() -> str:
    parts = urlsplit(os.environ["REDIS_URL"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{BROKER_DB}", "", ""))


def _test_database_url() -> str:
    """The test database (created by pytest-django) as a DATABASE_URL for the worker."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{db['NAME']}"


def _wait_for(condition: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no worker log)"
    raise AssertionError(f"gave up waiting for {what}; worker log:\n{tail}")


@pytest.fixture
def broker() -> Iterator[str]:
    url = _broker_url()
    redis.Redis.from_url(url).flushdb()
    with celery_broker(url, eager=False):
        yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def start_worker(broker, tmp_path) -> Iterator[Callable[..., tuple[subprocess.Popen, Path]]]:
    """Start ``celery worker`` processes with the given settings; all are stopped at the end."""
    processes: list[subprocess.Popen] = []

    def start(**environment: str) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"worker-{len(processes)}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
            "DATABASE_URL": _test_database_url(),
            "CELERY_BROKER_URL": broker,
            "REDIS_URL": broker,
            "SECRET_KEY": "integration-test-only-" + "k" * 50,
            "SMS_BACKEND": "outbox",
            "EMAIL_BACKEND": "outbox",
            **environment,
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--loglevel=info",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=delivery-test-{uuid.uuid4().hex[:8]}@%h",
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        _wait_for(lambda: b" ready." in log.read_bytes(), "the worker to start", log)
        return process, log

    yield start

    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _status(message: Message) -> str:
    return Message.objects.values_list("status", flat=True).get(pk=message.pk)


@pytest.mark.django_db(transaction=True)
def test_worker_delivers_an_enqueued_message(start_worker):
    _, log = start_worker()

    message = message_enqueue(
        channel=Message.Channel.SMS,
        recipient="+16175551234",
        body="Your HMS code is 550137.",
        purpose="safecode",
        secrets=["550137"],
    )

    _wait_for(lambda: _status(message) == Message.Status.SENT, "the message to be sent", log)
    entry = OutboxEntry.objects.get()
    assert entry.message_id == message.pk
    assert entry.body == "Your HMS code is 550137."
    message.refresh_from_db()
    assert message.attempts == 1
    assert message.body == "Your HMS code is ••••••."


@contextmanager
def _silent_smtp_server() -> Iterator[tuple[int, threading.Event]]:
    """A TCP server that accepts connections and never says a word: an SMTP client talking
    to it waits for the greeting until its timeout, so a worker can be killed mid-send."""
    listener = socket.create_server(("127.0.0.1", 0))
    connected = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                conn, _ = listener.accept()
                held.append(conn)
                connected.set()
        except OSError:
            return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], connected
    finally:
        listener.close()
        for conn in held:
            conn.close()
        thread.join(timeout=5)


@pytest.mark.django_db(transaction=True)
def test_message_of_a_worker_killed_mid_send_is_delivered_once_after_restart(start_worker):
    with _silent_smtp_server() as (port, connected):
        stuck, stuck_log = start_worker(
            EMAIL_BACKEND="smtp",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(port),
            EMAIL_TIMEOUT="300",
        )
        message = message_enqueue(
            channel=Message.Channel.EMAIL,
            recipient="jane.doe@hms.harvard.edu",
            subject="Reset your HMS password",
            body="Open https://portal.example/reset/Q7-x/ to choose a new password.",
            purpose="password_reset",
            secrets=["https://portal.example/reset/Q7-x/"],
        )
        _wait_for(connected.is_set, "the worker to connect to the SMTP server", stuck_log)
        assert _status(message) == Message.Status.SENDING

        stuck.kill()
        stuck.wait()

    assert _status(message) == Message.Status.SENDING
    assert not OutboxEntry.objects.exists()

    _, log = start_worker()
    lease_ran_out = timezone.now() - app_settings.LEASE - timedelta(seconds=1)
    Message.objects.filter(pk=message.pk).update(claimed_at=lease_ran_out)
    sweep_queued_messages.apply_async()
    _wait_for(lambda: _status(message) == Message.Status.SENT, "the swept message", log)

    # A late duplicate of the task, then a sentinel behind it in the same queue: once the
    # sentinel is sent, the duplicate has been handled, and must not have sent again.
    deliver_message.apply_async(args=(message.pk,))
    sentinel = message_enqueue(
        channel=Message.Channel.SMS, recipient="+16175550000", body="sentinel", purpose="test"
    )
    _wait_for(lambda: _status(sentinel) == Message.Status.SENT, "the sentinel", log)

    assert OutboxEntry.objects.filter(message=message).count() == 1
    message.refresh_from_db()
    assert message.attempts == 2
    assert "portal.example/reset/Q7-x" not in message.body


def _other_backends() -> set[int]:
    """PostgreSQL backends on the test database other than this process's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_worker_keeps_its_database_connection_between_messages(start_worker):
    """Each task used to open a new PostgreSQL connection (Celery's Django fixup closes it);
    the worker now keeps one, by CONN_MAX_AGE, as the web processes do."""
    before = _other_backends()
    _, log = start_worker(DB_CONN_MAX_AGE="60")

    sent_with: list[set[int]] = []
    for n in range(3):
        message = message_enqueue(
            channel=Message.Channel.SMS, recipient="+16175551234", body=f"n{n}", purpose="test"
        )
        _wait_for(lambda m=message: _status(m) == Message.Status.SENT, f"message {n}", log)
        sent_with.append(_other_backends() - before)

    assert len(sent_with[0]) == 1, sent_with
    assert sent_with[1] == sent_with[0]
    assert sent_with[2] == sent_with[0]
