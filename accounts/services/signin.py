"""Proving a password: throttling, lockout counting, and answers that reveal nothing.

Every door that takes a password comes through ``signin_attempt``: the portal's sign-in page
and ``accounts.backends.DirectoryBackend`` (so ``django.contrib.auth.authenticate`` and the
Django admin, whose sign-in page sends people to the portal's, and any later door).

What it holds to (SECURITY.md, Throttling and lockout; Enumeration):

- Every answer that does not sign the person in is the same ``INVALID``, whether the account
  is missing, the password wrong, or the password right on a locked, disabled, pending or
  refused account. Only someone who is then signed in learns anything, so a lock cannot be
  used to confirm a guessed password.
- Every such answer costs the same work: one verification of the typed password plus one for
  each previous password the old-password trap checks (real or dummy), and one failure row.
- Ten wrong passwords lock the account (two single UPDATEs, so concurrent failures all count
  and exactly one locks); attempts on a locked account do not move the counter.
- Failures per IP answer ``THROTTLED`` past a limit and never lock an account by themselves.
- After a few failures from one IP, or for one typed name (known or not, so it tells nothing),
  a CAPTCHA must be answered before the password is even checked.
- When failures or lockouts across the portal pass an hourly threshold, an alert is recorded
  and the service desk is told (``accounts.services.alerts``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.app_settings import app_settings
from accounts.models import SignInFailure, User
from accounts.normalize import password_text, username_key
from accounts.selectors import find_user_by_login
from accounts.services.alerts import alert_if_under_attack
from accounts.services.passwords import burn_hash, matches_previous_password
from audit.models import AuditEvent
from audit.services import audit_record
from portal.http import client_ip

NO_REQUEST_IP = "0.0.0.0"  # noqa: S104 - a label for callers without a request, never bound


class SignInOutcome(enum.StrEnum):
    OK = "ok"
    INVALID = "invalid"
    THROTTLED = "throttled"
    CAPTCHA_REQUIRED = "captcha_required"


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    user: User | None = None


def login_key(login: str) -> str:
    """A keyed hash of the typed name, so failures per name are counted without storing it."""
    key = username_key(login or "")
    return salted_hmac("portal.signin.login", key, algorithm="sha256").hexdigest()


def ip_is_throttled(ip: str) -> bool:
    """Password spraying defence: too many failures from one IP in the window."""
    since = timezone.now() - app_settings.IP_FAILURE_WINDOW
    recent = SignInFailure.objects.filter(ip=ip, created_at__gte=since)
    return recent.count() >= app_settings.IP_FAILURE_LIMIT


def signin_captcha_required(*, ip: str, login: str | None = None) -> bool:
    """Whether a CAPTCHA must be answered before a password from ``ip`` (for ``login``) is
    checked: after a few recent failures from the IP, or for the typed name."""
    since = timezone.now() - app_settings.SIGNIN_CAPTCHA_WINDOW
    recent = SignInFailure.objects.filter(created_at__gte=since)
    if recent.filter(ip=ip).count() >= app_settings.SIGNIN_CAPTCHA_IP_FAILURES:
        return True
    if login is None:
        return False
    return (
        recent.filter(login_key=login_key(login)).count()
        >= app_settings.SIGNIN_CAPTCHA_LOGIN_FAILURES
    )


def signin_recent_failures(login: str) -> int:
    """Failed sign-ins for the typed name in the CAPTCHA window, whether or not an account
    has that name, so that a warning built on it says nothing about who exists."""
    since = timezone.now() - app_settings.SIGNIN_CAPTCHA_WINDOW
    return SignInFailure.objects.filter(created_at__gte=since, login_key=login_key(login)).count()


def request_ip(request: HttpRequest | None) -> str:
    return client_ip(request) if request is not None else NO_REQUEST_IP


def signin_attempt(
    *,
    login: str,
    password: str,
    request: HttpRequest | None,
    captcha_passed: bool = False,
) -> SignInResult:
    """Check a username (or Harvard ID) and password; count failures; never reveal more.

    ``OK`` carries the account, which the caller may sign in (after the sign-in stages, such as
    replacing an expired password). ``captcha_passed`` says the caller's page had the person
    answer a CAPTCHA in this request; without it, a door that needs one is refused.
    """
    ip = request_ip(request)
    password = password_text(password)
    if ip_is_throttled(ip):
        audit_record(event="signin.throttled", outcome=AuditEvent.Outcome.FAILURE, request=request)
        return SignInResult(SignInOutcome.THROTTLED)
    if not captcha_passed and signin_captcha_required(ip=ip, login=login):
        audit_record(
            event="signin.captcha_required", outcome=AuditEvent.Outcome.FAILURE, request=request
        )
        return SignInResult(SignInOutcome.CAPTCHA_REQUIRED)

    key = login_key(login)
    user = find_user_by_login(login)
    trap_size = app_settings.OLD_PASSWORDS_NOT_COUNTED
    if user is None:
        burn_hash(password)
        for _ in range(trap_size):
            burn_hash(password)
        _record_failure(ip=ip, key=key, user=None, request=request, reason="unknown")
        return SignInResult(SignInOutcome.INVALID)

    _expire_lock_if_due(user)
    right = user.check_password(password)
    # The trap runs on every path that does not sign in, so that a right password on a locked
    # or inactive account costs what a wrong one does.
    old = False if right and _may_sign_in(user) else _trap(user, password, trap_size)
    if right and _may_sign_in(user):
        if user.failed_login_count:
            User.objects.filter(pk=user.pk).update(failed_login_count=0)
            user.failed_login_count = 0
        return SignInResult(SignInOutcome.OK, user)

    if right:
        reason = "locked" if user.is_locked else "inactive"
        _record_failure(ip=ip, key=key, user=user, request=request, reason=reason)
    elif user.is_locked:
        _record_failure(ip=ip, key=key, user=user, request=request, reason="locked")
    elif old:
        _record_old_password(user=user, ip=ip, key=key, request=request)
    else:
        _count_failure(user=user, ip=ip, key=key, request=request)
    return SignInResult(SignInOutcome.INVALID)


def _may_sign_in(user: User) -> bool:
    return user.may_sign_in and not user.is_locked


def _trap(user: User, password: str, size: int) -> bool:
    return matches_previous_password(user=user, password=password, count=size)


def _record_failure(
    *, ip: str, key: str, user: User | None, request: HttpRequest | None, reason: str
) -> None:
    SignInFailure.objects.create(ip=ip, user=user, login_key=key)
    audit_record(
        event="signin.failed",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
        reason=reason,
    )
    alert_if_under_attack()


def _count_failure(*, user: User, ip: str, key: str, request: HttpRequest | None) -> None:
    """Count one wrong password; lock exactly once when the threshold is reached.

    Both steps are single UPDATE statements, so concurrent failures are never lost and only
    one of them moves the account from unlocked to locked.
    """
    from accounts.services.lockout import account_lock

    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_login_count=F("failed_login_count") + 1)
    _record_failure(ip=ip, key=key, user=user, request=request, reason="wrong_password")
    account_lock(
        user=user,
        request=request,
        reason="wrong_passwords",
        when_count_reaches=app_settings.LOCKOUT_THRESHOLD,
    )


def _record_old_password(*, user: User, ip: str, key: str, request: HttpRequest | None) -> None:
    """A device still uses a previous password: record it, tell the person, do not count it."""
    SignInFailure.objects.create(ip=ip, user=user, login_key=key)
    audit_record(
        event="signin.old_password",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
    )
    from accounts.services.notices import notify_old_password_used

    notify_old_password_used(user=user)


def _expire_lock_if_due(user: User) -> None:
    """Clear from the row a lock that ``User.is_locked`` no longer counts (its automatic
    unlock is due), so that the failure count starts again and the unlock is on the record.

    The row is cleared only if it still holds the same lock, so a lock set again meanwhile
    stays, and two sign-ins at once record the unlock once.
    """
    if user.locked_at is None or user.is_locked:
        return
    cleared = User.objects.filter(pk=user.pk, locked_at=user.locked_at).update(
        locked_at=None, failed_login_count=0
    )
    user.locked_at = None
    user.failed_login_count = 0
    if cleared:
        audit_record(event="account.unlocked", subject=user, how="automatic")
