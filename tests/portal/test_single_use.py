"""A single-use secret is consumed once: never when used, expired or tried too often, and by
exactly one of two requests that race with it (PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from accounts.models import EmailToken, RegistrationCode
from portal.single_use import single_use_consume
from safecode.models import Purpose, SafeCode
from tests.factories import ChannelFactory, PersonFactory

NOW = datetime(2025, 3, 4, 15, 0, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(minutes=10)
LIMIT = 5
_hashes = (f"{n:064x}" for n in itertools.count())


def registration_code(**fields) -> RegistrationCode:
    fields.setdefault("expires_at", EXPIRES)
    return RegistrationCode.objects.create(
        person=PersonFactory(), code_hash=next(_hashes), **fields
    )


def email_token(**fields) -> EmailToken:
    fields.setdefault("expires_at", EXPIRES)
    return EmailToken.objects.create(
        purpose=EmailToken.Purpose.AFFILIATE_SIGNUP,
        email="pat@partners.org",
        token_hash=next(_hashes),
        **fields,
    )


def safecode(**fields) -> SafeCode:
    fields.setdefault("expires_at", EXPIRES)
    channel = ChannelFactory()
    return SafeCode.objects.create(
        user=channel.user,
        purpose=Purpose.UNLOCK,
        channel=channel,
        channel_kind=channel.kind,
        destination=channel.address,
        code_hash=next(_hashes),
        created_at=NOW,
        **fields,
    )


def consume(row, **kwargs) -> bool:
    return single_use_consume(type(row).objects, pk=row.pk, **kwargs)


# Refusals, at the boundary ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("make", [registration_code, email_token, safecode])
def test_a_secret_works_in_its_last_second_and_not_at_its_expiry(make, time_machine):
    early, late = make(), make()

    time_machine.move_to(EXPIRES - timedelta(seconds=1), tick=False)
    assert consume(early)
    time_machine.move_to(EXPIRES, tick=False)
    assert not consume(late)
    time_machine.move_to(EXPIRES + timedelta(seconds=1), tick=False)
    assert not consume(late)

    late.refresh_from_db()
    assert late.used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("make", [registration_code, safecode])
def test_a_secret_tried_as_often_as_the_limit_allows_is_refused(make, time_machine):
    time_machine.move_to(NOW, tick=False)
    last_try = make(failed_attempts=LIMIT - 1)
    spent = make(failed_attempts=LIMIT)

    assert consume(last_try, attempt_limit=LIMIT)
    assert not consume(spent, attempt_limit=LIMIT)


@pytest.mark.django_db
@pytest.mark.parametrize("make", [registration_code, email_token, safecode])
def test_a_secret_works_once(make, time_machine):
    time_machine.move_to(NOW, tick=False)
    row = make()

    assert consume(row, now=NOW)
    assert not consume(row, now=NOW + timedelta(seconds=1))

    row.refresh_from_db()
    assert row.used_at == NOW


@pytest.mark.django_db
def test_a_further_condition_of_the_caller_is_kept(time_machine):
    time_machine.move_to(NOW, tick=False)
    replaced = safecode(invalidated_at=NOW)

    assert not single_use_consume(
        SafeCode.objects.filter(invalidated_at__isnull=True), pk=replaced.pk
    )


# Concurrency --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent UPDATEs are tested on PostgreSQL only (SQLite serialises every write); "
    "run with DATABASE_URL=postgres://...",
)
@pytest.mark.parametrize("make", [registration_code, email_token, safecode])
def test_two_requests_consuming_one_secret_at_once_have_exactly_one_winner(make):
    row = make(expires_at=datetime.now(UTC) + timedelta(minutes=10))
    rounds = 2
    barrier = threading.Barrier(rounds)
    won: list[bool] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            # Connect before the start line, so that the race is between the UPDATEs.
            connections["default"].ensure_connection()
            barrier.wait(timeout=30)
            won.append(consume(row, attempt_limit=LIMIT if make is not email_token else None))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=attempt) for _ in range(rounds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert sorted(won) == [False, True]
    row.refresh_from_db()
    assert row.used_at is not None
