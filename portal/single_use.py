"""Consuming a single-use secret: a registration code, an emailed link, a SafeCode.

Each is a row with ``used_at`` (null while unused) and ``expires_at``; those that take typed
guesses also count ``failed_attempts``. Consuming one is a single conditional UPDATE::

    UPDATE ... SET used_at = now
     WHERE id = pk AND used_at IS NULL AND expires_at > now [AND failed_attempts < limit]

so the database, not the Python that read the row a moment earlier, decides who wins: however
many requests arrive with the right secret at once, exactly one of them sees a row updated.
Checking the secret itself (and counting a wrong one) stays with the caller, which knows how
its secret is hashed and what a wrong entry costs.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Manager, QuerySet
from django.utils import timezone


def single_use_consume(
    rows: QuerySet | Manager,
    *,
    pk: int,
    now: datetime | None = None,
    attempt_limit: int | None = None,
) -> bool:
    """Mark row ``pk`` of ``rows`` used at ``now``; whether this call was the one that did.

    Refused (False) when the row is already used, has expired (``expires_at`` at or before
    ``now``: the last instant of a secret is the one before it expires), or, with
    ``attempt_limit``, has had that many wrong entries. ``rows`` carries any further condition
    of the model (a SafeCode must also not be invalidated).
    """
    now = now or timezone.now()
    live = rows.filter(pk=pk, used_at__isnull=True, expires_at__gt=now)
    if attempt_limit is not None:
        live = live.filter(failed_attempts__lt=attempt_limit)
    return live.update(used_at=now) == 1
