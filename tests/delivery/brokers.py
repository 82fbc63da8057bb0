"""Point the test process's Celery app at a broker, and back."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from portal.celery import app


def _drop_connection_pools() -> None:
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def celery_broker(url: str, *, eager: bool = False) -> Iterator[None]:
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    _drop_connection_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        _drop_connection_pools()


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
