"""Noticing an attack: failed sign-ins and lockouts across the portal, per hour.

Password spraying and credential stuffing spread over many accounts and addresses, so no
per-account or per-IP rule sees them. When the failures or the lockouts of the last hour pass
a threshold (settings), one ``security.alert`` is recorded and the service desk is emailed,
once per kind and clock hour: the ``SecurityAlert`` row's unique key makes sure of that however
many requests cross the threshold at the same moment.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import SecurityAlert, SignInFailure
from audit.models import AuditEvent
from audit.services import audit_record

HOUR = timedelta(hours=1)


def alert_if_under_attack() -> SecurityAlert | None:
    """Raise an alert when the last hour's failures or lockouts pass their threshold."""
    since = timezone.now() - HOUR
    failures = SignInFailure.objects.filter(created_at__gte=since).count()
    if failures >= app_settings.ALERT_FAILED_SIGNINS_PER_HOUR:
        return _raise(SecurityAlert.Kind.FAILED_SIGNINS, count=failures)
    lockouts = AuditEvent.objects.filter(event="account.locked", created_at__gte=since).count()
    if lockouts >= app_settings.ALERT_LOCKOUTS_PER_HOUR:
        return _raise(SecurityAlert.Kind.LOCKOUTS, count=lockouts)
    return None


def _raise(kind: str, *, count: int) -> SecurityAlert | None:
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    if SecurityAlert.objects.filter(kind=kind, hour=hour).exists():
        return None
    try:
        with transaction.atomic():
            alert = SecurityAlert.objects.create(kind=kind, hour=hour, count=count)
            audit_record(
                event="security.alert",
                outcome=AuditEvent.Outcome.FAILURE,
                kind=kind,
                count=count,
                hour=hour.isoformat(),
            )
            _notify_service_desk(alert)
    except IntegrityError:
        return None  # another request raised this hour's alert first
    return alert


def _notify_service_desk(alert: SecurityAlert) -> None:
    from delivery.services import email_enqueue

    threshold = (
        app_settings.ALERT_FAILED_SIGNINS_PER_HOUR
        if alert.kind == SecurityAlert.Kind.FAILED_SIGNINS
        else app_settings.ALERT_LOCKOUTS_PER_HOUR
    )
    email_enqueue(
        recipient=settings.SERVICE_DESK_EMAIL,
        template="accounts/email/security_alert",
        context={"alert": alert, "threshold": threshold, "admin_url": settings.PORTAL_URL},
        purpose="security_alert",
    )
