"""Fixtures of the fault tests: a private Redis, the stack that uses it as its broker, and, for
the tests that run the portal in this process, a broker and real Celery workers.

Two ways to run the portal, chosen per fault:

- A ``bench.stack.Stack`` (gunicorn, a Celery worker, production settings) where the fault is
  in a service the whole deployment shares: Redis stopping (test_redis_outage), PostgreSQL
  restarting (test_postgres_restart), and the races of test_concurrency, which need a real
  multi-threaded server with several processes. One stack serves all three (package scope:
  it stops after the last test of this directory): preparing, starting, stopping and
  dropping one takes 15-30 s on this 2-core machine, and the directory must stay within its
  time. Its database is on the private cluster, which the
  restart test needs anyway, and where (without fsync, a throwaway cluster) creating and
  dropping a database does not wait for the shared server's checkpoints.
- pytest-django's live server (a real HTTP server in this process, on the test database) where
  the fault is in a provider and the tests need to hold it in their hands: the scripted Twilio
  HTTP client lives in this process (test_sms_provider_faults), and the SMTP servers that
  refuse or stall are threads of this process, while the Celery worker that talks to them is a
  real process (test_smtp_refuses, test_worker_killed). The stack cannot do that: its settings
  always deliver to the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.delivery.brokers import celery_broker
from tests.resilience.services import (
    PrivateCluster,
    PrivateRedis,
    private_cluster,
    private_redis,
    resilience_stack,
)

STACK_PORT = 8401
# Database 0 of the private Redis is the stack's broker; 1 is the live server's.
LIVE_BROKER_DB = 1


def pytest_collection_modifyitems(config, items):
    """Like every test that runs real workers, these need the real services CI has: on the
    embedded default (SQLite) they are reported as skipped, with the reason."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason="needs a PostgreSQL DATABASE_URL and Redis, as CI has")
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(skip)


@pytest.fixture(scope="package")
def redis_server(tmp_path_factory) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="package")
def postgres_cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="package")
def portal_stack(redis_server, postgres_cluster, tmp_path_factory):
    """gunicorn with 2 workers of 8 threads each, one Celery worker, production settings, the
    private Redis as its broker and its own database on the private PostgreSQL cluster (which
    test_postgres_restart restarts under it; the tests after it find it serving again, which
    is what that test proves)."""
    with resilience_stack(
        "stack",
        port=STACK_PORT,
        redis_url=redis_server.url(0),
        directory=tmp_path_factory.mktemp("stack"),
        database_base=postgres_cluster.base_url,
        web_workers=2,
        threads=8,
        celery_concurrency=2,
    ) as stack:
        yield stack


@pytest.fixture
def broker(redis_server) -> Iterator[str]:
    """The private Redis as this process's broker: the live server's pages publish there, and
    the workers of ``start_worker`` (tests/integration/test_celery_worker.py) consume there.

    Named as the fixture of that module which ``start_worker`` asks for, so that its workers
    use the private Redis and never the shared one."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail(
            "the fault tests run Celery workers on the test database, which must be PostgreSQL: "
            "run with DATABASE_URL=postgres://... (as CI does)",
            pytrace=False,
        )
    if not redis_server.ping():
        redis_server.start()
    url = redis_server.url(LIVE_BROKER_DB)
    redis.Redis.from_url(url).flushdb()
    with celery_broker(url, eager=False):
        yield url
    redis.Redis.from_url(url).flushdb()


# The real Celery worker processes of the delivery integration tests, on the private Redis
# (through ``broker`` above), not a copy of them.
from tests.integration.test_celery_worker import start_worker  # noqa: E402, F401
