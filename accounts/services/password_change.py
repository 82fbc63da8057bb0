"""Changing a password, and what every change of password brings with it.

Three flows end here: the change a signed-in person makes (which checks the current password
first, with ``password_current_matches``), the forgotten-password reset and the forced change
of an expired password (all call ``password_apply`` once a SafeCode is proven). Every change:

- keeps the old hash in the history (``password_set``), so the last five cannot come back;
- ends every other session of the account: Django's session hash is derived from the password
  hash, so sessions signed in with the old password stop being valid at their next request
  (the view keeps the current one with ``update_session_auth_hash``);
- forgets remembered two-factor browsers (a hook, see ``remembered_browsers_forget``);
- is audited and notified to the account email and every verified SafeCode channel, so that a
  change the person did not make is noticed on a channel an attacker may not hold.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from accounts.models import User
from accounts.normalize import password_text
from accounts.services.notices import Reach, notice_send
from accounts.services.passwords import password_set
from audit.models import AuditEvent
from audit.services import audit_record

# What a person must update after a new password, lest an old one lock the account.
PLACES_TO_UPDATE = (
    "VPN clients",
    "Wi-Fi on your laptop, phone and tablet",
    "Email programs (Outlook, Apple Mail, Thunderbird) and calendar apps",
    "Mobile devices that sync your email",
    "Passwords saved in your browsers",
)


def password_current_matches(
    *, user: User, password: str, request: HttpRequest | None = None
) -> bool:
    """The first step of a signed-in person's change: whether ``password`` is the current one.

    A wrong one is audited; it does not count toward the sign-in lockout, because the session
    is already signed in and the change flow limits the tries (and then asks for a SafeCode).
    """
    if user.check_password(password_text(password)):
        return True
    audit_record(
        event="password.change_failed",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
        reason="wrong_current_password",
    )
    return False


def password_apply(
    *,
    user: User,
    new_password: str,
    how: str,
    request: HttpRequest | None = None,
    unlocked: bool = False,
) -> None:
    """Set ``new_password`` (already validated against the policy) with everything a change
    needs. ``how`` is ``change``, ``reset`` or ``expired``, for the audit trail and notice;
    ``unlocked`` says the same step unlocked the account, so that one notice tells both."""
    with transaction.atomic():
        password_set(user=user, raw_password=new_password)
        audit_record(
            event="password.changed",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            request=request,
            how=how,
        )
        remembered_browsers_forget(user=user)
        _notify_password_changed(user=user, how=how, unlocked=unlocked)


def remembered_browsers_forget(*, user: User) -> int:
    """Forget the browsers that may skip the second factor of this account.

    A remembered browser is bound to the password (SECURITY.md, Two-factor): a new password
    must be followed by a full sign-in everywhere. The twofactor app does not remember
    browsers yet; when it does, delete its rows for ``user`` here. Returns how many were
    forgotten.
    """
    return 0


# Notices ----------------------------------------------------------------------------------------

_HOW_TEXT = {
    "change": "Your password was changed.",
    "reset": "Your password was reset with the forgotten-password page.",
    "expired": "Your expired password was replaced.",
    "admin": "An identity administrator set a new password for you; choose your own at your "
    "next sign-in.",
}


def _notify_password_changed(*, user: User, how: str, unlocked: bool) -> int:
    return notice_send(
        user=user,
        name="accounts/password_changed",
        reach=Reach.ACCOUNT_AND_SAFECODE,
        context={
            "how": how,
            "how_text": _HOW_TEXT.get(how, _HOW_TEXT["change"]),
            "unlocked": unlocked,
            "places": PLACES_TO_UPDATE,
        },
    )
