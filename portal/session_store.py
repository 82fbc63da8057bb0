"""The database session store, with the round trips a sign-in does not need taken out.

Django's ``db`` store costs a fresh sign-in six statements before the response is written: a
``SELECT`` to check that a random key is unused, ``BEGIN``, ``INSERT``, ``COMMIT`` when
``login()`` cycles the key, then ``BEGIN``, ``UPDATE``, ``COMMIT`` when the response saves the
data. Sessions stay in the database (they must, to be ended from the service desk), but:

- a new key is 32 random characters (about 165 bits): the ``INSERT`` itself is the uniqueness
  check, and a collision raises ``CreateError``, on which ``create()`` draws another key, as
  Django's own loop does;
- cycling the key of a session that has none yet (a browser's first request that stores
  anything, such as a sign-in) has nothing to fixate: the key is made when the response saves;
- cycling the key of a stored session (the second step of a sign-in, a SafeCode that
  unlocks) renames its row in one ``UPDATE`` rather than Django's ``INSERT`` of a copy, then
  ``SELECT`` and ``DELETE`` of the old row: the old key is gone all the same, so a cookie
  planted before the sign-in (session fixation) finds nothing;
- ending a session is one ``DELETE``, without reading the row first;
- a single ``INSERT``, ``UPDATE`` or ``DELETE`` is atomic by itself, so it is sent without
  ``BEGIN`` and ``COMMIT`` unless a transaction is already open, where a savepoint keeps a
  failed statement from breaking it.

A fresh sign-in costs one ``INSERT``, a sign-in that finishes a pending one an ``UPDATE`` of
the key; the key still changes at every sign-in.
"""

from __future__ import annotations

from contextlib import nullcontext

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.utils.crypto import get_random_string


class SessionStore(db.SessionStore):
    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self) -> None:
        if self.session_key is None:
            self.modified = True
            return
        data = self._session
        old, new = self.session_key, self._get_new_session_key()
        using = router.db_for_write(self.model)
        try:
            with _statement(using):
                renamed = (
                    self.model.objects.using(using).filter(session_key=old).update(session_key=new)
                )
        except IntegrityError:  # the new key was taken: Django's loop draws keys until one is free
            renamed = 0
        if not renamed:
            # Gone meanwhile (ended by the service desk, expired): Django's own way, a new row.
            super().cycle_key()
            return
        self._session_key = new
        self._session_cache = data
        # The response saves what the request changed, with a fresh expiry, under the new key.
        self.modified = True

    def delete(self, session_key: str | None = None) -> None:
        session_key = session_key or self.session_key
        if session_key is None:
            return
        using = router.db_for_write(self.model)
        # QuerySet.delete() would wrap its DELETE in BEGIN and COMMIT; the one statement needs
        # neither (Django's Collector sends fast deletes the same way).
        with _statement(using):
            self.model.objects.using(using).filter(session_key=session_key)._raw_delete(using)

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        obj = self.create_model_instance(data)
        using = router.db_for_write(self.model, instance=obj)
        try:
            with _statement(using):
                obj.save(force_insert=must_create, force_update=not must_create, using=using)
        except IntegrityError:
            if must_create:
                raise CreateError from None
            raise
        except DatabaseError:
            if not must_create:
                raise UpdateError from None
            raise


def _statement(using: str):
    """Where one statement runs: by itself, or in a savepoint of the transaction that is open."""
    return transaction.atomic(using=using) if connections[using].in_atomic_block else nullcontext()
