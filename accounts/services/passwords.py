from __future__ import annotations

from functools import lru_cache

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from accounts.models import PasswordHistory, User
from accounts.normalize import password_text

HISTORY_KEPT = 5


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return make_password("portal dummy password, never valid")


def burn_hash(password: str) -> None:
    """Run one password verification that can never succeed.

    Used wherever a path must cost what the real one costs (unknown user, no history), so that
    neither timing nor work reveals whether an account exists.
    """
    check_password(password, _dummy_hash())


def matches_previous_password(*, user: User, password: str, count: int) -> bool:
    """Whether ``password`` is one of the account's ``count`` previous passwords.

    Always runs exactly ``count`` verifications, padding with dummy ones.
    """
    hashes = list(user.password_history.values_list("password", flat=True)[:count])
    found = False
    for stored in hashes:
        found |= check_password(password, stored)
    for _ in range(count - len(hashes)):
        burn_hash(password)
    return found


@transaction.atomic
def password_set(*, user: User, raw_password: str, must_change: bool = False) -> None:
    """Set a new password, keeping the previous one in the account's history.

    ``must_change`` marks a password someone else chose (an identity administrator): it must
    be replaced at the next sign-in.
    """
    if user.password and user.has_usable_password():
        PasswordHistory.objects.create(user=user, password=user.password)
        stale = user.password_history.values_list("pk", flat=True)[HISTORY_KEPT:]
        PasswordHistory.objects.filter(pk__in=list(stale)).delete()
    user.set_password(password_text(raw_password))
    user.password_changed_at = timezone.now()
    user.must_change_password = must_change
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
