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
- a single ``INSERT`` or ``UPDATE`` is atomic by itself, so it is sent without ``BEGIN`` and
  ``COMMIT`` unless a transaction is already open, where a savepoint keeps a failed ``INSERT``
  from breaking it.

A fresh sign-in costs one ``INSERT``; the key still changes at every sign-in.
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
        super().cycle_key()

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        obj = self.create_model_instance(data)
        using = router.db_for_write(self.model, instance=obj)
        opened = connections[using].in_atomic_block
        try:
            with transaction.atomic(using=using) if opened else nullcontext():
                obj.save(force_insert=must_create, force_update=not must_create, using=using)
        except IntegrityError:
            if must_create:
                raise CreateError from None
            raise
        except DatabaseError:
            if not must_create:
                raise UpdateError from None
            raise
