"""An account's standing, as the service desk changes it: disabled or enabled, departmental or
personal, a password change required at the next sign-in.

Each change is one conditional UPDATE, so a change made twice at once is made (and audited by
its caller) once; each returns whether it changed anything.
"""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User
from accounts.services.sessions import account_sessions_end


def account_disable(*, user: User, actor: User, request: HttpRequest | None = None) -> bool:
    """Stop the account from signing in, and end its sessions."""
    changed = User.objects.filter(pk=user.pk, status=User.Status.ACTIVE).update(
        status=User.Status.DEACTIVATED
    )
    if changed:
        user.status = User.Status.DEACTIVATED
        account_sessions_end(user=user, reason="disabled", actor=actor, request=request)
    return bool(changed)


def account_enable(*, user: User) -> bool:
    """Let a disabled account sign in again (its own access window still applies)."""
    changed = User.objects.filter(pk=user.pk, status=User.Status.DEACTIVATED).update(
        status=User.Status.ACTIVE
    )
    if changed:
        user.status = User.Status.ACTIVE
    return bool(changed)


def account_kind_set(*, user: User, kind: str) -> bool:
    """Mark the account departmental (no self-service unlock or reset) or personal again."""
    if kind not in (User.Kind.DEPARTMENTAL, User.Kind.PERSONAL):
        raise ValueError(kind)
    changed = User.objects.filter(pk=user.pk).exclude(kind=kind).update(kind=kind)
    if changed:
        user.kind = kind
    return bool(changed)


def password_change_require(*, user: User) -> bool:
    """Ask for a new password at the next sign-in."""
    changed = User.objects.filter(pk=user.pk, must_change_password=False).update(
        must_change_password=True
    )
    if changed:
        user.must_change_password = True
    return bool(changed)
