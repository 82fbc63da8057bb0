"""Locking an account: the one place a lock is set, whatever set it off."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record


def account_lock(
    *,
    user: User,
    reason: str,
    request: HttpRequest | None = None,
    when_count_reaches: int | None = None,
) -> bool:
    """Lock ``user`` unless already locked; returns whether this call locked it.

    With ``when_count_reaches`` the lock happens only once the failure counter has reached
    that number. A single conditional UPDATE, so however many requests race, exactly one of
    them locks, audits and sends the lock notice.
    """
    accounts = User.objects.filter(pk=user.pk, locked_at__isnull=True)
    if when_count_reaches is not None:
        accounts = accounts.filter(failed_login_count__gte=when_count_reaches)
    now = timezone.now()
    if not accounts.update(locked_at=now):
        return False
    user.locked_at = now
    audit_record(
        event="account.locked",
        outcome=AuditEvent.Outcome.INFO,
        subject=user,
        request=request,
        reason=reason,
        threshold=when_count_reaches,
    )
    from accounts.services.alerts import alert_if_under_attack
    from accounts.services.notices import Reach, notice_send

    notice_send(user=user, name="accounts/account_locked", reach=Reach.ACCOUNT_AND_SAFECODE_EMAILS)
    alert_if_under_attack()
    return True
