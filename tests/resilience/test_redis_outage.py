"""Redis stops while people ask for SafeCodes: the pages still answer, the messages wait in the
database, and once Redis is back the sweep sends each of them exactly once.

The stack (gunicorn, a Celery worker, production settings) uses the private redis-server as
its broker (tests/resilience/conftest.py). One test kills that server with SIGKILL, as a crash
would, and starts an empty one on the same port, as a restart without persistence does; the
other freezes it with SIGSTOP (connections open, nothing answered: a hung host or a full
network path), where only a timeout can tell the page that the broker is gone.
"""

from __future__ import annotations

import re
import signal

import pytest
import requests

from delivery.tasks import sweep_queued_messages
from tests.delivery.brokers import celery_broker
from tests.resilience.services import (
    CLIENT_TIMEOUT,
    SWEEP_DONE,
    Database,
    assert_told_a_code_is_coming,
    browser,
    log_since,
    seed,
    unlock_request_code,
    wait_for,
)

pytestmark = pytest.mark.integration

SEED = """
import json
from tests.factories import ChannelFactory, UserFactory, lock
people = []
for n in range({count}):
    user = UserFactory(username=f"{prefix}{{n}}")
    lock(user)
    ChannelFactory(user=user, address=f"+1617555{{n + {phones}:04d}}")
    people.append(user.username)
print("SEED:" + json.dumps(people))
"""


def ask_for_codes(stack, db: Database, usernames: list[str], network: int) -> list[int]:
    """Each person asks for an unlock code while the broker is out: every page answers and
    says the code is on its way, and the messages wait in the database. Returns their ids."""
    first_message = db.value("SELECT coalesce(max(id), 0) FROM delivery_message")
    pages = [
        unlock_request_code(browser(f"127.0.{network}.{n + 1}"), stack.url, name, db.captcha_answer)
        for n, name in enumerate(usernames)
    ]
    for page in pages:
        assert_told_a_code_is_coming(page, stack.url)
    health = requests.get(f"{stack.url}/healthz", timeout=CLIENT_TIMEOUT)
    # Up (the database answers), with the broker reported down.
    assert (health.status_code, health.json()) == (
        200,
        {"database": "ok", "broker": "unreachable"},
    )
    waiting = db.rows(
        "SELECT id, status, attempts FROM delivery_message "
        "WHERE id > %s AND purpose = 'safecode.unlock' ORDER BY id",
        first_message,
    )
    assert [(status, attempts) for _, status, attempts in waiting] == [("queued", 0)] * len(
        usernames
    )
    sent = db.value(
        "SELECT count(*) FROM delivery_outboxentry WHERE message_id > %s", first_message
    )
    assert sent == 0
    return [message_id for message_id, _, _ in waiting]


def sweep_sends_each_once(stack, db: Database, ids: list[int], mark: int) -> None:
    """The sweep, as beat runs it, sends each waiting message once; more sweeps send nothing."""
    worker_log = stack.directory / "worker.log"
    # The sweep takes what has waited longer than DELIVERY_SWEEP_AGE (2 minutes): the test
    # moves the messages' time back rather than wait for it.
    db.rows(
        "UPDATE delivery_message SET next_attempt_at = next_attempt_at - interval '3 minutes' "
        "WHERE id = ANY(%s)",
        ids,
    )
    done = len(SWEEP_DONE.findall(log_since(worker_log, mark)))
    # As beat does every minute: the sweep, published to the broker, run by the real worker;
    # twice, as two beats would after a long outage, and a second sweep must not resend.
    with celery_broker(stack.redis_url):
        sweep_queued_messages.apply_async()
        sweep_queued_messages.apply_async()

    def all_sent():
        statuses = db.rows("SELECT status FROM delivery_message WHERE id = ANY(%s)", ids)
        return all(status == "sent" for (status,) in statuses)

    wait_for(all_sent, "the swept messages to be sent", log=worker_log)
    with celery_broker(stack.redis_url):
        sweep_queued_messages.apply_async()
    # The third sweep has run (the worker logs each task it finished) and found nothing due.
    wait_for(
        lambda: len(SWEEP_DONE.findall(log_since(worker_log, mark))) >= done + 3,
        "the third sweep to finish",
        log=worker_log,
    )

    delivered = db.rows(
        "SELECT message_id, count(*) FROM delivery_outboxentry WHERE message_id = ANY(%s) "
        "GROUP BY message_id ORDER BY message_id",
        ids,
    )
    assert delivered == [(message_id, 1) for message_id in ids]
    attempts = db.rows("SELECT attempts FROM delivery_message WHERE id = ANY(%s)", ids)
    assert attempts == [(1,)] * len(ids)
    assert stack.healthz() == 200


def test_codes_asked_for_while_redis_is_down_are_sent_once_after_it_returns(
    portal_stack, redis_server
):
    stack = portal_stack
    db = Database(stack.database_url)
    usernames = seed(stack, SEED.format(count=3, prefix="outage.person", phones=200))
    worker_log = stack.directory / "worker.log"

    redis_server.stop()
    try:
        assert not redis_server.ping()
        ids = ask_for_codes(stack, db, usernames, network=3)
        mark = worker_log.stat().st_size
    finally:
        redis_server.start()

    # The worker finds the new (empty) Redis by itself.
    wait_for(
        lambda: re.search(
            rf"Connected to redis://\S*127\.0\.0\.1:{redis_server.port}/",
            log_since(worker_log, mark),
        ),
        "the Celery worker to reconnect to Redis",
        log=worker_log,
    )
    sweep_sends_each_once(stack, db, ids, mark)
    recipients = db.rows(
        "SELECT recipient FROM delivery_outboxentry WHERE message_id = ANY(%s) ORDER BY id", ids
    )
    assert sorted(r for (r,) in recipients) == [f"+1617555{n + 200:04d}" for n in range(3)]


def test_a_code_asked_for_while_redis_hangs_is_sent_once_after_it_answers_again(
    portal_stack, redis_server
):
    stack = portal_stack
    db = Database(stack.database_url)
    usernames = seed(stack, SEED.format(count=1, prefix="frozen.person", phones=250))
    mark = (stack.directory / "worker.log").stat().st_size
    if not redis_server.ping():
        redis_server.start()

    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        # The page waits for the broker's socket timeout (CELERY_BROKER_TRANSPORT_OPTIONS),
        # then answers as for a broker that is down; CLIENT_TIMEOUT bounds the wait.
        ids = ask_for_codes(stack, db, usernames, network=5)
    finally:
        redis_server.process.send_signal(signal.SIGCONT)

    sweep_sends_each_once(stack, db, ids, mark)
