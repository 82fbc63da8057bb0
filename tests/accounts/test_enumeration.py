"""Sign-in, unlock and forgotten password answer alike for an unknown user, an existing account
(wrong password, or details that do not match) and a locked account, until a code is proven.

Responses are compared as a person (or a script) sees them: the status, the body with the CSRF
token, CAPTCHA keys and what was typed masked out, where redirects go, and the set of headers
and cookies. The work is compared by counting password-hasher calls and enqueued messages,
never by timing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from delivery.models import Message
from portal.hashers import PortalArgon2PasswordHasher
from tests.factories import ChannelFactory, UserFactory, lock
from tests.helpers import captcha_answer, page_text

pytestmark = pytest.mark.django_db

CAPTCHA_KEY = re.compile(rb"[0-9a-f]{40}")


@dataclass
class Seen:
    """What one journey showed, step by step, and the work it caused."""

    pages: list[tuple] = field(default_factory=list)
    hashes: int = 0
    enqueued: int = 0


@pytest.fixture
def hasher_calls(monkeypatch):
    calls: list[int] = []
    original = PortalArgon2PasswordHasher.verify

    def counting(self, password, encoded):
        calls.append(1)
        return original(self, password, encoded)

    monkeypatch.setattr(PortalArgon2PasswordHasher, "verify", counting)
    # A verification that must not run is a wait as long as one (portal.hashers): it counts.
    import accounts.services.passwords

    waiting = accounts.services.passwords.verification_wait

    def counted_wait():
        calls.append(1)
        waiting()

    monkeypatch.setattr(accounts.services.passwords, "verification_wait", counted_wait)
    return calls


def seen(response, *typed: str) -> tuple:
    body = CAPTCHA_KEY.sub(b"KEY", page_text(response, *typed))
    return (
        response.status_code,
        response.get("Location", ""),
        body,
        frozenset(name.lower() for name in response.headers),
        frozenset(response.cookies),
    )


def journey(steps, typed: str, hasher_calls) -> Seen:
    client = Client()
    before = Message.objects.count()
    hasher_calls.clear()
    result = Seen()
    for step in steps:
        result.pages.append(seen(step(client), typed))
    result.hashes = len(hasher_calls)
    result.enqueued = Message.objects.count() - before
    return result


def assert_alike(results: dict[str, Seen]) -> None:
    names = list(results)
    first = results[names[0]]
    for name in names[1:]:
        other = results[name]
        assert len(other.pages) == len(first.pages)
        for step, (a, b) in enumerate(zip(first.pages, other.pages, strict=True)):
            assert a == b, f"step {step}: {names[0]} and {name} differ"
        assert other.hashes == first.hashes, f"{name} ran the hasher a different number of times"


@pytest.fixture(autouse=True)
def still_clock(time_machine):
    """The clock stands still, so that "ask for a new code in 60 seconds" reads the same
    however long a journey takes."""
    time_machine.move_to(timezone.now(), tick=False)


@pytest.fixture
def accounts():
    """An existing account and a locked one, both with a SafeCode phone and email."""
    existing = UserFactory()
    ChannelFactory(user=existing)
    ChannelFactory(user=existing, kind="email", address="existing@example.org")
    locked = UserFactory()
    ChannelFactory(user=locked, address="+16175550100")
    ChannelFactory(user=locked, kind="email", address="locked@example.org")
    lock(locked)
    return existing, locked


# Sign-in ----------------------------------------------------------------------------------


def test_sign_in_answers_alike(accounts, hasher_calls):
    existing, locked = accounts

    def steps(username):
        return [
            lambda c: c.get(reverse("accounts:login")),
            lambda c: c.post(
                reverse("accounts:login"),
                {"username": username, "password": "wrong wrong wrong"},
            ),
        ]

    results = {
        "unknown": journey(steps("nobody.here"), "nobody.here", hasher_calls),
        "wrong password": journey(steps(existing.username), existing.username, hasher_calls),
        "locked": journey(steps(locked.username), locked.username, hasher_calls),
    }
    assert_alike(results)
    assert results["unknown"].hashes >= 1
    assert {r.enqueued for r in results.values()} == {0}


# Unlock -----------------------------------------------------------------------------------


def unlock_steps(username: str, kind: str):
    start = reverse("accounts:unlock")
    holder: dict = {}

    def open_start(client):
        holder["page"] = client.get(start)
        return holder["page"]

    return [
        open_start,
        lambda c: c.post(start, {"username": username, **captcha_answer(holder["page"])}),
        lambda c: c.get(reverse("accounts:unlock_send")),
        lambda c: c.post(reverse("accounts:unlock_send"), {"kind": kind}),
        lambda c: c.get(reverse("accounts:unlock_code")),
        lambda c: c.post(reverse("accounts:unlock_code"), {"code": "000000"}),
        lambda c: c.post(reverse("accounts:unlock_code"), {"code": "12 34"}),
    ]


@pytest.mark.parametrize(("kind", "messages"), [("all", 2), ("phone", 1), ("email", 1)])
def test_unlock_answers_alike_until_the_code_is_proven(accounts, hasher_calls, kind, messages):
    existing, locked = accounts
    results = {
        "unknown": journey(unlock_steps("nobody.here", kind), "nobody.here", hasher_calls),
        "not locked": journey(
            unlock_steps(existing.username, kind), existing.username, hasher_calls
        ),
        "locked": journey(unlock_steps(locked.username, kind), locked.username, hasher_calls),
    }
    assert_alike(results)
    wrong_code = results["locked"].pages[5]
    assert b"That code is not right" in wrong_code[2]
    assert b"Enter the 6-digit code" in results["locked"].pages[6][2]
    # The only difference in work: the locked account's code, one message a contact it goes
    # to, enqueued after the commit and delivered by Celery, which nothing in the response
    # shows.
    assert results["unknown"].enqueued == results["not locked"].enqueued == 0
    assert results["locked"].enqueued == messages


# Forgotten password ------------------------------------------------------------------------


def forgot_steps(data: dict, kind: str):
    start = reverse("accounts:password_forgot")
    holder: dict = {}

    def open_start(client):
        holder["page"] = client.get(start)
        return holder["page"]

    return [
        open_start,
        lambda c: c.post(start, {**data, **captcha_answer(holder["page"])}),
        lambda c: c.get(reverse("accounts:password_forgot_send")),
        lambda c: c.post(reverse("accounts:password_forgot_send"), {"kind": kind}),
        lambda c: c.get(reverse("accounts:password_forgot_code")),
        lambda c: c.post(reverse("accounts:password_forgot_code"), {"code": "000000"}),
        lambda c: c.get(reverse("accounts:password_forgot_new")),
    ]


@pytest.mark.parametrize(("kind", "messages"), [("all", 2), ("phone", 1)])
def test_forgotten_password_answers_alike_until_the_code_is_proven(
    accounts, hasher_calls, kind, messages
):
    existing, locked = accounts

    def data(login, person, huid=None):
        return {"login": login, "last_name": person.last_name, "huid": huid or person.huid}

    results = {
        "unknown": journey(
            forgot_steps(data("nobody.here", existing.person), kind),
            "nobody.here",
            hasher_calls,
        ),
        "details do not match": journey(
            forgot_steps(data(existing.username, existing.person, "99999999"), kind),
            existing.username,
            hasher_calls,
        ),
        "locked, details match": journey(
            forgot_steps(data(locked.username, locked.person), kind),
            locked.username,
            hasher_calls,
        ),
    }
    assert_alike(results)
    assert b"That code is not right" in results["unknown"].pages[5][2]
    assert results["unknown"].pages[6][1] == reverse("accounts:password_forgot_code")
    assert results["unknown"].enqueued == results["details do not match"].enqueued == 0
    assert results["locked, details match"].enqueued == messages


def test_forgotten_password_by_email_answers_alike(accounts, hasher_calls):
    _, locked = accounts

    def data(login, user):
        born = user.person.date_of_birth.isoformat()
        return {"login": login, "last_name": user.person.last_name, "date_of_birth": born}

    results = {
        "unknown": journey(
            forgot_steps(data("nobody@example.org", locked), "email"),
            "nobody@example.org",
            hasher_calls,
        ),
        "known": journey(
            forgot_steps(data(locked.email, locked), "email"), locked.email, hasher_calls
        ),
    }
    assert_alike(results)
