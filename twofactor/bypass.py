"""Bypass codes: what the service desk gives a person who cannot use any of their devices.

An agent issues 1 to 10 codes of 9 digits at once (``bypass_codes_issue``); each stands in for
the second factor once, at the sign-in's second step or at a forgotten-password reset's, and
nowhere else: it never marks the second factor fresh for a change, never remembers a browser,
and never verifies a session for the console (no django-otp device proves it). An account that
must enroll still must, once signed in.

Rules kept here, whatever door calls them:
- Codes come from ``secrets`` (``safecode.codes.generate_code``), leading zeros kept, and are
  shown once: only a keyed hash bound to the account is stored.
- A code works until ``expires_at`` (``BYPASS_CODE_TTL`` by default, at most
  ``BYPASS_MAX_TTL``), once (a conditional UPDATE, ``portal.single_use.single_use_consume``),
  and not after an agent revoked it.
- A typed code is compared in constant time with each of the account's live codes; a wrong
  one (or one already used) counts as any wrong second factor, toward the lock after
  ``LOCK_AFTER_FAILURES`` in a row (``twofactor.services.second_factor_failed``).
- The person is told by email when codes are issued and when one is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import User
from accounts.services.notices import Reach, notice_send
from audit.models import AuditEvent
from audit.services import audit_record
from portal.formats import local_datetime
from portal.single_use import single_use_consume
from safecode.codes import generate_code, hash_code, normalize_code
from twofactor.app_settings import app_settings
from twofactor.models import BypassCode, Profile
from twofactor.services import TwoFactorError, second_factor_failed

BYPASS_SALT = "twofactor.bypass"
BYPASS_CODE_LENGTH = 9
MAX_CODES = 10


class BypassRefused(TwoFactorError):
    message = "Bypass codes cannot be issued that way."


@dataclass(frozen=True)
class BypassCheck:
    ok: bool
    locked: bool = False


def _hash(user_id: int, code: str) -> str:
    # Bound to the account: the same nine digits issued to two people are two hashes.
    return hash_code(f"{user_id}:{code}", salt=BYPASS_SALT)


def normalize_bypass_code(raw: str) -> str | None:
    """What a person typed, as 9 ASCII digits (spaces, dashes, full-width digits folded)."""
    return normalize_code(raw, length=BYPASS_CODE_LENGTH)


def bypass_lifetime(lifetime: timedelta | None) -> timedelta:
    """``lifetime`` as allowed, or the default; ``BypassRefused`` when it is out of bounds."""
    if lifetime is None:
        return app_settings.BYPASS_CODE_TTL
    if lifetime <= timedelta(0) or lifetime > app_settings.BYPASS_MAX_TTL:
        raise BypassRefused("A bypass code works for at most 7 days.")
    return lifetime


@transaction.atomic
def bypass_codes_issue(
    *,
    user: User,
    agent: User,
    count: int,
    lifetime: timedelta | None = None,
    request: HttpRequest | None = None,
) -> list[str]:
    """Issue ``count`` (1 to 10) bypass codes for ``user``, working for ``lifetime`` (the
    default ``BYPASS_CODE_TTL``, at most ``BYPASS_MAX_TTL``); returns the codes, the only time
    they exist in clear. The person is told on their account and SafeCode emails.

    An agent cannot issue codes for their own account: a bypass code is someone else's
    word that the caller is the person.
    """
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CODES:
        raise BypassRefused(f"Issue between 1 and {MAX_CODES} bypass codes.")
    lifetime = bypass_lifetime(lifetime)
    if agent.pk == user.pk:
        raise BypassRefused("You cannot issue bypass codes for your own account.")
    now = timezone.now()
    expires_at = now + lifetime
    codes: list[str] = []
    while len(codes) < count:
        code = generate_code(BYPASS_CODE_LENGTH)
        if code not in codes:
            codes.append(code)
    BypassCode.objects.bulk_create(
        BypassCode(
            user=user,
            code_hash=_hash(user.pk, code),
            created_by=agent,
            created_at=now,
            expires_at=expires_at,
        )
        for code in codes
    )
    audit_record(
        event="twofactor.bypass_issued",
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=user,
        actor=agent,
        request=request,
        count=count,
        expires_at=local_datetime(expires_at),
    )
    notice_send(
        user=user,
        name="twofactor/bypass_issued",
        context={"count": count, "expires": local_datetime(expires_at)},
        reach=Reach.ACCOUNT_AND_SAFECODE_EMAILS,
        purpose="twofactor.bypass_issued",
    )
    return codes


def bypass_codes_live(*, user: User, now: datetime | None = None):
    """The account's codes that would still work now."""
    now = now or timezone.now()
    return BypassCode.objects.filter(
        user=user, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    )


@transaction.atomic
def bypass_code_revoke(*, code_id: int, agent: User, request: HttpRequest | None = None) -> bool:
    """Revoke one unused bypass code; whether this call did (False when it was used, expired
    or revoked already). A conditional UPDATE, so a code is either used or revoked, never
    both, however a sign-in and the agent race."""
    code = BypassCode.objects.filter(pk=code_id).select_related("user").first()
    if code is None:
        return False
    now = timezone.now()
    revoked = (
        bypass_codes_live(user=code.user, now=now)
        .filter(pk=code_id)
        .update(revoked_at=now, revoked_by=agent)
    )
    if revoked:
        audit_record(
            event="twofactor.bypass_revoked",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=code.user,
            actor=agent,
            request=request,
            code=code_id,
        )
    return bool(revoked)


def bypass_codes_revoke_all(*, user: User, agent: User, request: HttpRequest | None = None) -> int:
    """Revoke every unused bypass code of ``user``; how many were revoked."""
    ids = list(bypass_codes_live(user=user).values_list("pk", flat=True))
    return sum(bypass_code_revoke(code_id=pk, agent=agent, request=request) for pk in ids)


@transaction.atomic
def bypass_code_check(
    *, user: User, typed: str, request: HttpRequest | None = None, where: str = "signin"
) -> BypassCheck:
    """Use one of ``user``'s bypass codes if ``typed`` is one that still works.

    The typed code's hash is compared in constant time with every live code of the account
    (no early exit), then consumed by a conditional UPDATE: one use however requests race. A
    success starts the second-factor failure count again and tells the person; a wrong code,
    or one a racing request used first, counts as a wrong second factor.
    """
    code = normalize_bypass_code(typed if isinstance(typed, str) else "")
    now = timezone.now()
    found = None
    if code is not None:
        digest = _hash(user.pk, code)
        for pk, stored in bypass_codes_live(user=user, now=now).values_list("pk", "code_hash"):
            if constant_time_compare(stored, digest) and found is None:
                found = pk
    live = BypassCode.objects.filter(revoked_at__isnull=True)
    if found is not None and single_use_consume(live, pk=found, now=now):
        Profile.objects.filter(user=user).update(failed_count=0)
        audit_record(
            event="twofactor.bypass_used",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            request=request,
            code=found,
            where=where,
        )
        notice_send(
            user=user,
            name="twofactor/bypass_used",
            context={"where": where},
            reach=Reach.ACCOUNT_AND_SAFECODE_EMAILS,
            purpose="twofactor.bypass_used",
        )
        return BypassCheck(ok=True)
    result = second_factor_failed(user=user, method="bypass", request=request)
    return BypassCheck(ok=False, locked=result.locked)


def bypass_code_accept(
    *, user: User, typed: str, request: HttpRequest | None = None, where: str = "signin"
) -> bool:
    """Whether ``typed`` was a working bypass code of ``user`` (now used); see
    ``bypass_code_check``, which also says whether a wrong one locked the account."""
    return bypass_code_check(user=user, typed=typed, request=request, where=where).ok
