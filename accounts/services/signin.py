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
  a CAPTCHA must be answered before the password is even checked. So must every attempt while
  failures across the portal show a spray from more addresses than the per-IP rules see,
  except from a browser known for the typed name (``accounts.services.known_browsers``): the
  spray is cut off before the hash, and people at their usual browser do not notice.
- The counts these rules read come in one query (``failure_counts``); the portal-wide one is
  read at most once a second per process.
- When failures or lockouts across the portal pass an hourly threshold, an alert is recorded
  and the service desk is told (``accounts.services.alerts``).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import SignInFailure, User
from accounts.normalize import login_key, password_text
from accounts.selectors import find_user_by_login
from accounts.services.alerts import alert_if_under_attack
from accounts.services.known_browsers import browser_is_known
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
class FailureCounts:
    """Recent failed sign-ins that the rules look at, read in one query."""

    ip_throttle_window: int
    ip_captcha_window: int
    login_captcha_window: int

    def with_one_more(self) -> FailureCounts:
        """The counts once one more failure from the same IP for the same name is recorded."""
        return FailureCounts(
            self.ip_throttle_window + 1, self.ip_captcha_window + 1, self.login_captcha_window + 1
        )


@dataclass(frozen=True)
class SignInResult:
    """``counts``: the failures the rules see once this attempt is counted (its own failure
    included), for the page that answers a refusal; not read again."""

    outcome: SignInOutcome
    user: User | None = None
    counts: FailureCounts | None = None


def failure_counts(*, ip: str, login: str | None = None) -> FailureCounts:
    """Failures from ``ip`` in the throttle and CAPTCHA windows, and for the typed name."""
    now = timezone.now()
    throttle_since = now - app_settings.IP_FAILURE_WINDOW
    captcha_since = now - app_settings.SIGNIN_CAPTCHA_WINDOW
    key = login_key(login) if login is not None else None
    who = Q(ip=ip) | Q(login_key=key) if key else Q(ip=ip)
    counts = SignInFailure.objects.filter(
        who, created_at__gte=min(throttle_since, captcha_since)
    ).aggregate(
        ip_throttle=Count("pk", filter=Q(ip=ip, created_at__gte=throttle_since)),
        ip_captcha=Count("pk", filter=Q(ip=ip, created_at__gte=captcha_since)),
        login_captcha=Count("pk", filter=Q(login_key=key or "-", created_at__gte=captcha_since)),
    )
    return FailureCounts(
        ip_throttle_window=counts["ip_throttle"],
        ip_captcha_window=counts["ip_captcha"],
        login_captcha_window=counts["login_captcha"] if key else 0,
    )


class _PressureReading:
    """The portal-wide failure count, read at most once per ``SIGNIN_PRESSURE_CHECK_SECONDS``
    in each process: under a spray of hundreds of attempts a second, one bounded query a second
    instead of one per attempt."""

    def __init__(self) -> None:
        self.read_at = -float("inf")
        self.value = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.read_at >= app_settings.SIGNIN_PRESSURE_CHECK_SECONDS:
            since = timezone.now() - app_settings.SIGNIN_PRESSURE_WINDOW
            limit = app_settings.SIGNIN_PRESSURE_FAILURES
            # LIMIT bounds the count: the rule needs to know only whether ``limit`` is reached.
            recent = SignInFailure.objects.filter(created_at__gte=since)[:limit].count()
            self.value, self.read_at = recent >= limit, now
        return self.value


signin_under_pressure = _PressureReading()


def signin_captcha_needed(
    counts: FailureCounts, *, request: HttpRequest | None, login: str | None
) -> bool:
    """The CAPTCHA rule on counts already read. With ``login`` None, the rule for the page
    whatever name is typed next: the rules of the IP and of a spray, not the name's."""
    if counts.ip_captcha_window >= app_settings.SIGNIN_CAPTCHA_IP_FAILURES:
        return True
    login_limit = app_settings.SIGNIN_CAPTCHA_LOGIN_FAILURES
    if login is not None and counts.login_captcha_window >= login_limit:
        return True
    return signin_under_pressure() and not browser_is_known(request, login)


def signin_captcha_required(
    *, ip: str, login: str | None = None, request: HttpRequest | None = None
) -> bool:
    """Whether a CAPTCHA must be answered before a password from ``ip`` (for ``login``) is
    checked: after a few recent failures from the IP or for the typed name, or while failures
    across the portal show a spray, unless this browser is known for the name
    (``accounts.services.known_browsers``). Without ``login``, whatever name is typed next."""
    counts = failure_counts(ip=ip, login=login)
    return signin_captcha_needed(counts, request=request, login=login)


@dataclass(frozen=True)
class CaptchaNeed:
    """What the sign-in page must ask: ``page``, a CAPTCHA whatever name is typed (so the page
    shows one from the start); ``name``, one before the password for the name typed now."""

    page: bool
    name: bool
    counts: FailureCounts


def signin_captcha_need(*, ip: str, login: str, request: HttpRequest | None) -> CaptchaNeed:
    counts = failure_counts(ip=ip, login=login)
    page = signin_captcha_needed(counts, request=request, login=None)
    name = page or signin_captcha_needed(counts, request=request, login=login)
    return CaptchaNeed(page=page, name=name, counts=counts)


def request_ip(request: HttpRequest | None) -> str:
    return client_ip(request) if request is not None else NO_REQUEST_IP


def signin_attempt(
    *,
    login: str,
    password: str,
    request: HttpRequest | None,
    captcha_passed: bool = False,
    counts: FailureCounts | None = None,
) -> SignInResult:
    """Check a username (or Harvard ID) and password; count failures; never reveal more.

    ``OK`` carries the account, which the caller may sign in (after the sign-in stages, such as
    replacing an expired password). ``captcha_passed`` says the caller's page had the person
    answer a CAPTCHA in this request; without it, a door that needs one is refused.
    ``counts`` are the failures the caller read for this ``login`` and request
    (``signin_captcha_need``), so that one request reads them once.
    """
    ip = request_ip(request)
    password = password_text(password)
    if counts is None:
        counts = failure_counts(ip=ip, login=login)
    if counts.ip_throttle_window >= app_settings.IP_FAILURE_LIMIT:
        audit_record(event="signin.throttled", outcome=AuditEvent.Outcome.FAILURE, request=request)
        return SignInResult(SignInOutcome.THROTTLED, counts=counts)
    if not captcha_passed and signin_captcha_needed(counts, request=request, login=login):
        audit_record(
            event="signin.captcha_required", outcome=AuditEvent.Outcome.FAILURE, request=request
        )
        return SignInResult(SignInOutcome.CAPTCHA_REQUIRED, counts=counts)
    refused = SignInResult(SignInOutcome.INVALID, counts=counts.with_one_more())

    key = login_key(login)
    user = find_user_by_login(login)
    trap_size = app_settings.OLD_PASSWORDS_NOT_COUNTED
    if user is None:
        burn_hash(password)
        for _ in range(trap_size):
            burn_hash(password)
        _record_failure(ip=ip, key=key, user=None, request=request, reason="unknown")
        return refused

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
    return refused


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
