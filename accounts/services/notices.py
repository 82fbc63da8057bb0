"""Emails that tell a person about security events on their account."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from delivery.services import email_enqueue


def _send(*, user: User, template: str, purpose: str, **context) -> None:
    if not user.email:
        return
    email_enqueue(
        recipient=user.email,
        template=f"accounts/email/{template}",
        context={"user": user, "site_url": settings.PORTAL_URL, **context},
        purpose=purpose,
        user=user,
    )


def notify_account_locked(*, user: User) -> None:
    """Tell the person on every mailbox they may be able to read: the account email and each
    verified SafeCode email (the institutional mailbox may be out of reach while locked)."""
    from safecode.models import Channel
    from safecode.selectors import channel_list_verified

    addresses = [user.email] if user.email else []
    for channel in channel_list_verified(user).filter(kind=Channel.Kind.EMAIL):
        if not any(channel.address.lower() == known.lower() for known in addresses):
            addresses.append(channel.address)
    for address in addresses:
        email_enqueue(
            recipient=address,
            template="accounts/email/account_locked",
            context={"user": user, "site_url": settings.PORTAL_URL},
            purpose="account_locked",
            user=user,
        )


def notify_old_password_used(*, user: User) -> None:
    """Tell the person a device still uses an old password, at most once an hour."""
    since = timezone.now() - timedelta(hours=1)
    already = AuditEvent.objects.filter(
        subject=user, event="notice.old_password", created_at__gte=since
    ).exists()
    if already:
        return
    AuditEvent.objects.create(event="notice.old_password", subject=user)
    _send(user=user, template="old_password_used", purpose="old_password_used")


def notify_existing_account(*, user: User, email: str) -> None:
    """Registration details matched a person who already has an account."""
    email_enqueue(
        recipient=email,
        template="accounts/email/account_exists",
        context={"user": user, "site_url": settings.PORTAL_URL},
        purpose="registration_account_exists",
        user=user,
    )
