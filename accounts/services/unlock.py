"""Unlocking an account: by the person with a SafeCode (/unlock/), or by a password reset.

How the unlock pages avoid telling who exists (SECURITY.md, Enumeration)
------------------------------------------------------------------------
Until a code is proven, nothing the pages say depends on the account:

1. Username and CAPTCHA. Nothing is looked up; the flow keeps what was typed.
2. "Where should we send the code?" always offers every SafeCode contact (the default), a
   text message and an email, with no masked number or address (those would reveal that the
   account exists and what it holds). The service-desk explanation for departmental accounts
   and accounts without SafeCode is always on the page.
3. After "Send a new code" the answer is always "If this account is locked and has SafeCode
   contacts, we sent a code to them" (or "a SafeCode <kind> ... to it"). ``unlock_send_code``
   sends only when the account exists, is personal (or affiliate), active, locked and has a
   verified channel of that kind (any, for every contact); otherwise it audits why and returns
   the same nothing. The work differs only by the messages enqueued (one a contact), which
   leave after the request's transaction commits, through Celery, and are not observable in
   the response. SafeCode's own refusals (a minute between codes, the hourly and daily caps,
   a lockout after wrong codes) are swallowed for the same reason; the flow applies its own
   limits, counted in the session, which behave the same for every username, and the send
   and code pages always say them: codes are limited, and when this flow may ask again. They
   never say what the account's own limits are.
4. A wrong, expired or missing code, and a SafeCode lockout, all get one message. The flow
   allows ``RECOVERY_CODE_ATTEMPTS`` wrong codes, then starts again with a new CAPTCHA.

Only a proven code reveals the account: it is then unlocked and the page says so.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from accounts.models import User
from accounts.selectors import find_user_by_login
from accounts.services.notices import Reach, notice_send
from accounts.services.quiet_codes import QuietCodes
from audit.models import AuditEvent
from audit.services import audit_record
from safecode.models import Purpose

UNLOCK_CODES = QuietCodes(Purpose.UNLOCK)


def self_unlock_allowed(user: User) -> bool:
    """Departmental accounts, and accounts that could not sign in once unlocked, go to the
    service desk."""
    return user.kind != User.Kind.DEPARTMENTAL and user.may_sign_in


def account_unlock(
    *, user: User, how: str, request: HttpRequest | None = None, notify: bool = True
) -> bool:
    """Clear the lock and the failure count. Returns whether the account was locked.

    A lock that is cleared is audited (``account.unlocked``) and, with ``notify``, told to the
    account email and every SafeCode channel. The conditional UPDATE makes two concurrent
    unlocks audit and notify once.
    """
    with transaction.atomic():
        was_locked = User.objects.filter(pk=user.pk, locked_at__isnull=False).update(
            locked_at=None, failed_login_count=0
        )
        if not was_locked:
            User.objects.filter(pk=user.pk).update(failed_login_count=0)
        user.locked_at = None
        user.failed_login_count = 0
        if was_locked:
            audit_record(
                event="account.unlocked",
                outcome=AuditEvent.Outcome.SUCCESS,
                subject=user,
                request=request,
                how=how,
            )
            if notify:
                notice_send(
                    user=user,
                    name="accounts/account_unlocked",
                    reach=Reach.ACCOUNT_AND_SAFECODE,
                    context={"how": how},
                )
    return bool(was_locked)


def _candidate(login: str) -> tuple[User | None, str]:
    """The account an unlock code may go to, or None with the reason (for the audit)."""
    user = find_user_by_login(login or "")
    if user is None:
        return None, "unknown"
    if not user.is_locked:
        return None, "not_locked"
    if not self_unlock_allowed(user):
        return None, "service_desk_only"
    return user, ""


def unlock_send_code(
    *, login: str, kind: str, binding: str, request: HttpRequest | None = None
) -> None:
    """Send an unlock code to the account's SafeCode ``kind`` (or every contact, for
    ``ALL_CONTACTS``) when it may have one.

    Answers nothing, whatever happened (see the module docstring); the audit says why.
    """
    user, reason = _candidate(login)
    UNLOCK_CODES.send(user=user, reason=reason, kind=kind, binding=binding, request=request)


def unlock_with_code(
    *, login: str, code: str, binding: str, request: HttpRequest | None = None
) -> User | None:
    """Unlock the account named by ``login`` if ``code`` is its newest unlock code, asked for
    by the same flow (``binding``).

    Returns the unlocked account, or None for every kind of failure alike.
    """
    user, reason = _candidate(login)
    proven = UNLOCK_CODES.verify(
        user=user, reason=reason, code=code, binding=binding, request=request
    )
    if not proven:
        return None
    account_unlock(user=user, how="safecode", request=request)
    return user
