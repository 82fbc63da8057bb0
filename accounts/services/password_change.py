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

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import User
from accounts.normalize import password_text
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
        notify_password_changed(user=user, how=how, unlocked=unlocked)


def remembered_browsers_forget(*, user: User) -> int:
    """Forget the browsers that may skip the second factor of this account.

    A remembered browser is bound to the password (SECURITY.md, Two-factor): a new password
    must be followed by a full sign-in everywhere. The twofactor app does not remember
    browsers yet; when it does, delete its rows for ``user`` here. Returns how many were
    forgotten.
    """
    return 0


# Notices ----------------------------------------------------------------------------------------


def account_email(user: User) -> str:
    """Where account notices go: the account's contact email, else the directory's."""
    if user.email:
        return user.email
    person = user.person if user.person_id else None
    return person.email if person is not None else ""


def notify_account_and_channels(
    *, user: User, template: str, purpose: str, sms: str, context: dict | None = None
) -> int:
    """Email the account address and every verified SafeCode email; text every SafeCode phone.

    Each address gets one message, however many roles it has. Returns how many were enqueued
    (in the caller's transaction: they leave once it commits).
    """
    from delivery.models import Message
    from delivery.services import email_enqueue, message_enqueue
    from safecode.models import Channel
    from safecode.selectors import channel_list_verified

    context = {
        "user": user,
        "when": date_format(timezone.localtime(), "DATETIME_FORMAT"),
        **(context or {}),
    }
    emails: list[str] = []
    phones: list[str] = []
    if account_email(user):
        emails.append(account_email(user))
    for channel in channel_list_verified(user):
        target = phones if channel.kind == Channel.Kind.PHONE else emails
        if not any(channel.address.lower() == known.lower() for known in target):
            target.append(channel.address)
    for address in emails:
        email_enqueue(
            recipient=address, template=template, context=context, purpose=purpose, user=user
        )
    for number in phones:
        message_enqueue(
            channel=Message.Channel.SMS,
            recipient=number,
            body=f"{settings.INSTITUTION_SHORT_NAME}: {sms} If this was not you, call "
            f"{settings.SERVICE_DESK_PHONE}.",
            purpose=purpose,
            user=user,
        )
    return len(emails) + len(phones)


_HOW_TEXT = {
    "change": "Your password was changed.",
    "reset": "Your password was reset with the forgotten-password page.",
    "expired": "Your expired password was replaced.",
    "admin": "An identity administrator set a new password for you; choose your own at your "
    "next sign-in.",
}


def notify_password_changed(*, user: User, how: str, unlocked: bool = False) -> int:
    sms = f"the password of your account {user.username} was changed"
    return notify_account_and_channels(
        user=user,
        template="accounts/email/password_changed",
        purpose="password_changed",
        sms=sms + (" and the account unlocked." if unlocked else "."),
        context={
            "how": how,
            "how_text": _HOW_TEXT.get(how, _HOW_TEXT["change"]),
            "unlocked": unlocked,
            "places": PLACES_TO_UPDATE,
        },
    )
