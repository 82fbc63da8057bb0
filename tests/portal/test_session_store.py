"""The database session store's shortcuts (portal/session_store.py) keep Django's contract.

Each test reads the rows themselves: what a cookie holding the old or the new key would find.
"""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from portal.session_store import SessionStore

pytestmark = pytest.mark.django_db(transaction=True)


def stored(data: dict) -> SessionStore:
    session = SessionStore()
    session.update(data)
    session.save()
    return SessionStore(session_key=session.session_key)


def test_cycling_a_stored_key_renames_its_row_in_one_statement():
    session = stored({"pending": "alice"})
    session["seen"] = True  # loaded and changed before the sign-in cycles the key
    old = session.session_key

    with CaptureQueriesContext(connection) as statements:
        session.cycle_key()

    assert [query["sql"].split()[0] for query in statements] == ["UPDATE"]
    assert session.session_key != old
    assert not Session.objects.filter(session_key=old).exists()
    assert SessionStore(session_key=old).load() == {}
    session.save()
    assert SessionStore(session_key=session.session_key).load() == {
        "pending": "alice",
        "seen": True,
    }


def test_a_row_gone_before_the_cycle_is_made_again_under_a_new_key_as_django_does():
    session = stored({"pending": "alice"})
    assert session["pending"] == "alice"  # read by the request, as a sign-in reads it
    old = session.session_key
    Session.objects.filter(session_key=old).delete()  # ended by the service desk meanwhile

    session.cycle_key()

    assert session.session_key not in (None, old)
    assert SessionStore(session_key=session.session_key).load() == {"pending": "alice"}
    assert not Session.objects.filter(session_key=old).exists()


def first_draw_is_taken(monkeypatch) -> str:
    """Another session's key, which the next key drawn will be; random keys after it."""
    taken = stored({"someone": "else"}).session_key
    draws = iter([taken])
    random_key = SessionStore._get_new_session_key
    monkeypatch.setattr(
        SessionStore,
        "_get_new_session_key",
        lambda self: next(draws, None) or random_key(self),
    )
    return taken


def test_a_new_key_that_is_taken_falls_back_to_drawing_another(monkeypatch):
    session = stored({"pending": "alice"})
    assert session["pending"] == "alice"  # read by the request, as a sign-in reads it
    old = session.session_key
    taken = first_draw_is_taken(monkeypatch)

    session.cycle_key()

    assert session.session_key not in (old, taken)
    assert SessionStore(session_key=taken).load() == {"someone": "else"}
    assert SessionStore(session_key=session.session_key).load() == {"pending": "alice"}
    assert not Session.objects.filter(session_key=old).exists()


def test_a_taken_key_inside_a_transaction_leaves_the_transaction_usable(monkeypatch):
    session = stored({"pending": "alice"})
    assert session["pending"] == "alice"  # read by the request, as a sign-in reads it
    first_draw_is_taken(monkeypatch)

    with transaction.atomic():
        session.cycle_key()
        assert Session.objects.filter(session_key=session.session_key).exists()

    assert SessionStore(session_key=session.session_key).load() == {"pending": "alice"}


def test_ending_a_session_is_one_delete():
    session = stored({"pending": "alice"})
    key = session.session_key

    with CaptureQueriesContext(connection) as statements:
        session.delete()

    assert [query["sql"].split()[0] for query in statements] == ["DELETE"]
    assert not Session.objects.filter(session_key=key).exists()
    session.delete("no-such-key-at-all")  # a key that is not there is no error
