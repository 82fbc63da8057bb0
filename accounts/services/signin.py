"""Sign-in with a password: throttling, lockout counting, and answers that reveal nothing.

Every wrong attempt costs the same work whether or not the account exists: one verification
of the typed password plus one for each previous password that the old-password trap checks
(real or dummy). Only someone who gives the right password learns that an account is locked
or inactive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.backends import find_user_by_login
from accounts.models import SignInFailure, User
from accounts.normalize import password_text
from accounts.services.passwords import burn_hash, matches_previous_password
from audit.models import AuditEvent
from audit.services import audit_record
from portal.http import client_ip


class SignInOutcome(enum.StrEnum):
    OK = "ok"
    INVALID = "invalid"
    LOCKED = "locked"
    INACTIVE = "inactive"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    user: User | None = None


def ip_is_throttled(ip: str) -> bool:
    """Password spraying defence: too many failures from one IP in the window."""
    since = timezone.now() - app_settings.IP_FAILURE_WINDOW
    recent = SignInFailure.objects.filter(ip=ip, created_at__gte=since)
    return recent.count() >= app_settings.IP_FAILURE_LIMIT


def signin_attempt(*, login: str, password: str, request: HttpRequest) -> SignInResult:
    """Check a username (or Harvard ID) and password; count failures; never reveal more."""
    ip = client_ip(request)
    password = password_text(password)
    if ip_is_throttled(ip):
        audit_record(event="signin.throttled", outcome=AuditEvent.Outcome.FAILURE, request=request)
        return SignInResult(SignInOutcome.THROTTLED)

    user = find_user_by_login(login)
    trap_size = app_settings.OLD_PASSWORDS_NOT_COUNTED
    if user is None:
        burn_hash(password)
        for _ in range(trap_size):
            burn_hash(password)
        _record_failure(ip=ip, user=None, request=request, reason="unknown")
        return SignInResult(SignInOutcome.INVALID)

    _expire_lock_if_due(user)
    if not user.check_password(password):
        old = matches_previous_password(user=user, password=password, count=trap_size)
        if user.is_locked:
            _record_failure(ip=ip, user=user, request=request, reason="locked")
        elif old:
            _record_old_password(user=user, ip=ip, request=request)
        else:
            _count_failure(user=user, ip=ip, request=request)
        return SignInResult(SignInOutcome.INVALID)

    if user.is_locked:
        audit_record(
            event="signin.locked", outcome=AuditEvent.Outcome.FAILURE, subject=user, request=request
        )
        return SignInResult(SignInOutcome.LOCKED, user)
    if not user.may_sign_in:
        audit_record(
            event="signin.inactive",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=user,
            request=request,
        )
        return SignInResult(SignInOutcome.INACTIVE, user)
    if user.failed_login_count:
        User.objects.filter(pk=user.pk).update(failed_login_count=0)
        user.failed_login_count = 0
    return SignInResult(SignInOutcome.OK, user)


def _record_failure(*, ip: str, user: User | None, request: HttpRequest, reason: str) -> None:
    SignInFailure.objects.create(ip=ip, user=user)
    audit_record(
        event="signin.failed",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
        reason=reason,
    )


def _count_failure(*, user: User, ip: str, request: HttpRequest) -> None:
    """Count one wrong password; lock exactly once when the threshold is reached.

    Both steps are single UPDATE statements, so concurrent failures are never lost and only
    one of them moves the account from unlocked to locked.
    """
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_login_count=F("failed_login_count") + 1)
        locked = User.objects.filter(
            pk=user.pk,
            locked_at__isnull=True,
            failed_login_count__gte=app_settings.LOCKOUT_THRESHOLD,
        ).update(locked_at=timezone.now())
    _record_failure(ip=ip, user=user, request=request, reason="wrong_password")
    if locked:
        audit_record(
            event="account.locked",
            outcome=AuditEvent.Outcome.INFO,
            subject=user,
            request=request,
            threshold=app_settings.LOCKOUT_THRESHOLD,
        )
        from accounts.services.notices import notify_account_locked

        notify_account_locked(user=user)


def _record_old_password(*, user: User, ip: str, request: HttpRequest) -> None:
    """A device still uses a previous password: record it, tell the person, do not count it."""
    SignInFailure.objects.create(ip=ip, user=user)
    audit_record(
        event="signin.old_password",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
    )
    from accounts.services.notices import notify_old_password_used

    notify_old_password_used(user=user)


def _expire_lock_if_due(user: User) -> None:
    window = app_settings.LOCKOUT_AUTO_UNLOCK
    if window is None or user.locked_at is None:
        return
    if user.locked_at + window <= timezone.now():
        User.objects.filter(pk=user.pk, locked_at=user.locked_at).update(
            locked_at=None, failed_login_count=0
        )
        user.locked_at = None
        user.failed_login_count = 0
        audit_record(event="account.unlocked", subject=user, how="automatic")
