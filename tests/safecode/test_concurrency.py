"""Races against a real database: a code is consumed once, however many requests arrive."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from safecode.models import Purpose, SafeCode, WrongEntry
from safecode.services import safecode_issue, safecode_skip, safecode_verify
from tests.safecode.conftest import make_channel, make_user

THREADS = 20

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Row locking and concurrent UPDATEs need PostgreSQL; SQLite serialises writers.",
    ),
]


def race(worker, count: int = THREADS) -> list:
    """Run ``worker`` in ``count`` threads released together; return what each returned."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = worker()
        except Exception as exc:  # reported by the assertion below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_right_entries_at_once_succeed_exactly_once(codes):
    user = make_user()
    phone = make_channel(user)
    safecode_issue(user=user, purpose=Purpose.UNLOCK, channel=phone)

    results = race(lambda: safecode_verify(user=user, purpose=Purpose.UNLOCK, code=codes[0]))

    assert results.count(True) == 1
    assert results.count(False) == THREADS - 1
    assert SafeCode.objects.get().used_at is not None


def test_twenty_wrong_entries_at_once_are_all_counted(codes):
    user = make_user()
    phone = make_channel(user)
    safecode_issue(user=user, purpose=Purpose.UNLOCK, channel=phone)

    def wrong():
        try:
            return safecode_verify(user=user, purpose=Purpose.UNLOCK, code="999999")
        except Exception as exc:  # lockout is an expected outcome here
            return type(exc).__name__

    results = race(wrong)

    assert True not in results
    row = SafeCode.objects.get()
    assert row.invalidated_at is not None
    assert row.failed_attempts == 5
    assert WrongEntry.objects.count() >= 10  # locked: later entries no longer move the count


def test_twenty_sends_at_once_issue_one_code(codes):
    user = make_user()
    phone = make_channel(user)

    def send():
        try:
            return safecode_issue(user=user, purpose=Purpose.UNLOCK, channel=phone).pk
        except Exception as exc:  # throttled is the expected outcome
            return type(exc).__name__

    results = race(send)

    assert sum(isinstance(r, int) for r in results) == 1
    assert results.count("SafeCodeThrottled") == THREADS - 1
    assert SafeCode.objects.count() == 1


def test_twenty_skips_at_once_stop_at_five():
    user = make_user()

    def skip():
        try:
            return safecode_skip(user=type(user).objects.get(pk=user.pk))
        except Exception as exc:  # exhausted is the expected outcome
            return type(exc).__name__

    results = race(skip)

    assert results.count("SafeCodeSkipsExhausted") == THREADS - 5
    user.refresh_from_db()
    assert user.safecode_skips == 5
