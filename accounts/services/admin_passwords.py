"""A password set for someone else by an identity administrator."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from accounts.models import User
from accounts.services.password_change import password_apply
from accounts.services.unlock import account_unlock
from audit.models import AuditEvent
from audit.services import audit_record


def password_set_by_administrator(
    *, user: User, new_password: str, actor: User, reason: str, request: HttpRequest | None = None
) -> None:
    """Set ``new_password`` (already checked against the policy) through the password service.

    Everything a change brings (history, other sessions ended, notices) plus: the lock is
    cleared, and the person must choose their own password at the next sign-in, since someone
    else now knows this one. Only identity administrators may call it (the console checks
    ``accounts.set_user_password``).
    """
    if not actor.has_perm("accounts.set_user_password"):
        raise PermissionError("Only identity administrators set passwords.")
    with transaction.atomic():
        was_locked = account_unlock(user=user, how="administrator", request=request, notify=False)
        password_apply(
            user=user, new_password=new_password, how="admin", request=request, unlocked=was_locked
        )
        User.objects.filter(pk=user.pk).update(must_change_password=True)
        user.must_change_password = True
        audit_record(
            event="admin.password_set",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            actor=actor,
            request=request,
            reason=reason[:300],
        )
