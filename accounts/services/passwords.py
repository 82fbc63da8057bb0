from __future__ import annotations

from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.utils import timezone

from accounts.models import PasswordHistory, User
from accounts.normalize import password_text
from portal.hashers import verification_wait

HISTORY_KEPT = 5


def burn_hash(password: str) -> None:
    """Take as long as one password verification that can never succeed.

    Used wherever a path must take what the real one takes (unknown user, no history), so
    that timing does not reveal whether an account exists. It waits rather than hashes
    (``portal.hashers.verification_wait``): equal timing does not need equal work, and a wait
    costs no core, so a spray of unknown names cannot be amplified into CPU.
    """
    verification_wait()


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
