"""Lockout counting is exact under concurrency (PostgreSQL): 50 wrong passwords sent at once
lock the account exactly once, and no failure is lost."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import RequestFactory

from accounts.models import User
from accounts.services.signin import SignInOutcome, signin_attempt
from audit.models import AuditEvent
from tests.factories import UserFactory

ATTEMPTS = 50

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row-level concurrency is tested on PostgreSQL only (SQLite serialises every "
        "write); run with DATABASE_URL=postgres://...",
    ),
]


def test_fifty_parallel_wrong_passwords_lock_once_and_count_every_failure(settings):
    # Nor is the CAPTCHA asked for after repeated failures for one name: on a busy machine the
    # threads start far enough apart for the later ones to meet it.
    settings.ACCOUNTS_SIGNIN_CAPTCHA_LOGIN_FAILURES = ATTEMPTS + 1
    user = UserFactory()
    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list[SignInOutcome] = []
    errors: list[BaseException] = []

    def attempt(n: int) -> None:
        try:
            # Open this thread's own connection before the start line, so that the race is
            # between the statements and not between the connects.
            connections["default"].ensure_connection()
            # One IP per attempt: the per-IP throttle (30 in 5 minutes) is not what is tested.
            request = RequestFactory().post("/login/", REMOTE_ADDR=f"10.0.{n // 250}.{n % 250 + 1}")
            barrier.wait(timeout=60)
            result = signin_attempt(
                login=user.username, password=f"wrong password {n}", request=request
            )
            outcomes.append(result.outcome)
        except BaseException as exc:  # reported below, with the thread's traceback lost
            errors.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert outcomes == [SignInOutcome.INVALID] * ATTEMPTS
    user.refresh_from_db()
    assert user.is_locked
    assert AuditEvent.objects.filter(event="account.locked", subject=user).count() == 1
    assert user.failed_login_count == ATTEMPTS
    assert User.objects.filter(pk=user.pk, failed_login_count=ATTEMPTS).exists()
