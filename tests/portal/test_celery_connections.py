"""Database connections of a Celery worker between tasks (portal/celery.py).

The receivers are called as Celery calls them in a worker; a real worker keeping one
connection across messages is tests/integration/test_celery_worker.py.
"""

from __future__ import annotations

import pytest
from django.db import connection

from delivery.tasks import deliver_message
from portal.celery import _connections_after_task, _connections_before_task


@pytest.fixture
def persistent_connection():
    """A connection opened under CONN_MAX_AGE = 60, as in production."""
    connection.close()
    before = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 60
    connection.ensure_connection()
    yield connection.connection
    connection.settings_dict["CONN_MAX_AGE"] = before
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_task_that_finished_leaves_the_connection_open(persistent_connection):
    _connections_before_task(task=deliver_message)
    _connections_after_task(task=deliver_message, state="SUCCESS")

    assert connection.connection is persistent_connection


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("state", ["FAILURE", "RETRY"])
def test_a_task_that_did_not_finish_closes_the_connection(persistent_connection, state):
    _connections_before_task(task=deliver_message)
    _connections_after_task(task=deliver_message, state=state)

    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_an_obsolete_connection_is_closed_after_a_task(persistent_connection):
    connection.close_at = 0  # its CONN_MAX_AGE has run out

    _connections_after_task(task=deliver_message, state="SUCCESS")

    assert connection.connection is None


@pytest.mark.django_db
def test_an_eager_task_leaves_the_callers_connection_alone():
    """In eager mode a task runs inside the request (or test) that published it."""
    opened = connection.connection

    deliver_message.apply(args=(0,))

    assert connection.connection is opened
    assert connection.in_atomic_block
