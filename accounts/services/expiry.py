"""Password expiry: when a password expires, the sign-in warning, and the emailed reminders.

NIST SP 800-63B (§3.1.1.2) advises against periodic expiry; the institution requires it, so
it is a setting (``ACCOUNTS_PASSWORD_EXPIRY_DAYS``, 0 turns it off). A password set at
``password_changed_at`` (or, never changed, when the account was created) expires that many
days later, at the same second. Exactly at that second it is expired.

Reminders go at 14, 7 and 1 days before (``PASSWORD_EXPIRY_REMINDER_DAYS``), once each: every
reminder sent is an ``password.expiry_reminder`` audit event naming the days and the expiry it
was for, written under a lock on the account row, so a job that runs twice (or twice at once)
sends once. A run that missed a day sends only the reminder now due, not the ones it missed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import transaction
from django.db.models import DateTimeField, F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format

from accounts.app_settings import app_settings
from accounts.models import User
from accounts.services.notices import notice_send
from audit.models import AuditEvent
from audit.services import audit_record

REMINDER_EVENT = "password.expiry_reminder"


def password_expires_at(user: User) -> datetime | None:
    """When the account's password expires, or None when passwords do not expire."""
    lifetime = app_settings.PASSWORD_EXPIRY
    if lifetime is None:
        return None
    changed = user.password_changed_at or user.date_joined
    return changed + lifetime


def password_is_expired(user: User, *, now: datetime | None = None) -> bool:
    """Whether the password must be replaced before a session starts: it has expired, or an
    identity administrator set it."""
    if user.must_change_password:
        return True
    expires = password_expires_at(user)
    return expires is not None and (now or timezone.now()) >= expires


def password_expiry_warning(user: User, *, now: datetime | None = None) -> datetime | None:
    """The expiry, when sign-in should warn about it: within the warning window (its first
    second included), not yet expired."""
    expires = password_expires_at(user)
    if expires is None:
        return None
    now = now or timezone.now()
    if now < expires and expires - now <= app_settings.PASSWORD_EXPIRY_WARNING:
        return expires
    return None


def reminder_due(expires: datetime, *, now: datetime) -> int | None:
    """The reminder (in days before expiry) due at ``now``: the smallest threshold that the
    time left has reached, or None before the first and once expired."""
    left = expires - now
    if left <= timedelta(0):
        return None
    due = [d for d in app_settings.PASSWORD_EXPIRY_REMINDER_DAYS if left <= timedelta(days=d)]
    return min(due) if due else None


def password_expiry_reminders_send(*, now: datetime | None = None) -> int:
    """Email the reminders due now; returns how many were sent. Safe to run at any time."""
    lifetime = app_settings.PASSWORD_EXPIRY
    days = app_settings.PASSWORD_EXPIRY_REMINDER_DAYS
    if lifetime is None or not days:
        return 0
    now = now or timezone.now()
    # Passwords changed between (lifetime + 0) and (lifetime - largest reminder) ago.
    window_start = now - lifetime
    window_end = now - lifetime + timedelta(days=max(days))
    candidates = (
        User.objects.filter(is_active=True, status=User.Status.ACTIVE)
        .exclude(password__startswith=UNUSABLE_PASSWORD_PREFIX)
        .annotate(
            changed=Coalesce(
                F("password_changed_at"), F("date_joined"), output_field=DateTimeField()
            )
        )
        .filter(changed__gt=window_start, changed__lte=window_end)
        .values_list("pk", flat=True)
    )
    sent = 0
    for pk in candidates.iterator():
        sent += _remind(pk=pk, now=now)
    return sent


def _remind(*, pk: int, now: datetime) -> int:
    with transaction.atomic():
        user = (
            User.objects.select_for_update(of=("self",))
            .select_related("person")
            .filter(pk=pk)
            .first()
        )
        if user is None or not user.notice_email:
            return 0
        expires = password_expires_at(user)
        due = reminder_due(expires, now=now) if expires else None
        if due is None:
            return 0
        already = AuditEvent.objects.filter(
            event=REMINDER_EVENT,
            subject=user,
            detail__days=due,
            detail__expires_at=expires.isoformat(),
        ).exists()
        if already:
            return 0
        audit_record(event=REMINDER_EVENT, subject=user, days=due, expires_at=expires.isoformat())
        notice_send(
            user=user,
            name="accounts/password_expiry_reminder",
            context={
                "days": due,
                "expires": date_format(timezone.localtime(expires), "DATETIME_FORMAT"),
            },
        )
    return 1
