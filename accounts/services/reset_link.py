"""A password-reset link the service desk sends to a verified SafeCode channel.

The desk never sets or reads a password (SECURITY.md, Service desk): it sends the person a
single-use link, by text or email, to a SafeCode contact the account already holds. The link is
an ``EmailToken`` (``Purpose.PASSWORD_RESET_LINK``): only its keyed hash is stored, it works for
``RESET_LINK_TTL`` and once (a conditional UPDATE), and a newer link replaces an older one.

Opening it (``reset_link_open``) proves what a SafeCode proves in the forgotten-password
journey, no more: the view then continues that journey (``accounts.journeys.FORGOT``) at its
"check" stage, so an account with two-factor is asked for its second factor (or a bypass code)
by the same page (``accounts.reset_proofs``), and the new password is set by the same service
(``accounts.services.recovery.password_reset``), which unlocks the account, ends nothing but
what a reset ends, notifies the person and never signs them in.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.models import EmailToken, User
from accounts.services.registration import TOKEN_SALT, email_token_consume, email_token_lookup
from audit.models import AuditEvent
from audit.services import audit_record
from delivery.services import email_enqueue, sms_enqueue
from safecode.codes import generate_token, hash_code
from safecode.models import Channel
from safecode.selectors import channel_list_verified

PURPOSE = EmailToken.Purpose.PASSWORD_RESET_LINK
RESET_LINK_TTL = timedelta(hours=1)
# Links one account can be sent in an hour: each is a text or an email the desk triggers.
LINKS_PER_HOUR = 3


class ResetLinkRefused(Exception):
    """No link can be sent; the message says why, for the agent."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def reset_link_url(token: str) -> str:
    return f"{settings.PORTAL_URL}{reverse('accounts:reset_link', args=[token])}"


@transaction.atomic
def reset_link_send(
    *, user: User, channel_id: int, agent: User, request: HttpRequest | None = None
) -> Channel:
    """Send a single-use reset link to ``user``'s verified SafeCode channel ``channel_id``.

    Earlier unused links of the account stop working. Raises ``ResetLinkRefused`` for a channel
    that is not one of the account's verified ones, an account that could not sign in after a
    reset (disabled, refused, pending, outside its access window), or past ``LINKS_PER_HOUR``.
    Returns the channel (show it masked). The token is handed to the delivery service as a
    secret; it is never returned, logged or audited.
    """
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    channel = channel_list_verified(user).filter(pk=channel_id).first()
    if channel is None:
        raise ResetLinkRefused("That is not one of the account's verified SafeCode contacts.")
    if not user.may_sign_in:
        raise ResetLinkRefused("The account cannot sign in, so a new password would not help.")
    now = timezone.now()
    links = EmailToken.objects.filter(purpose=PURPOSE, user=user)
    if links.filter(created_at__gt=now - timedelta(hours=1)).count() >= LINKS_PER_HOUR:
        raise ResetLinkRefused(
            f"{LINKS_PER_HOUR} links were sent to this account in the last hour; the newest "
            "still works until it expires."
        )
    replaced = links.filter(used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    token = generate_token()
    record = EmailToken.objects.create(
        purpose=PURPOSE,
        email=channel.address,
        user=user,
        token_hash=hash_code(token, salt=TOKEN_SALT),
        expires_at=now + RESET_LINK_TTL,
    )
    phone = channel.kind == Channel.Kind.PHONE
    enqueue = sms_enqueue if phone else email_enqueue
    enqueue(
        recipient=channel.address,
        template=f"accounts/{'sms' if phone else 'email'}/reset_link",
        context={
            "link": reset_link_url(token),
            "minutes": int(RESET_LINK_TTL.total_seconds() // 60),
            "username": user.get_username(),
        },
        purpose="password_reset_link",
        user=user,
        secrets=[token],
        expires_at=record.expires_at,
    )
    audit_record(
        event="password_reset_link.sent",
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=user,
        actor=agent,
        request=request,
        channel=channel.masked,
        channel_kind=channel.kind,
        replaced=replaced,
        expires_at=record.expires_at.isoformat(),
    )
    return channel


def reset_link_live(token: str) -> bool:
    """Whether ``token`` opens a reset now (without using it)."""
    record = email_token_lookup(token=token, purpose=PURPOSE)
    return record is not None and record.user_id is not None


def reset_link_open(*, token: str, request: HttpRequest | None = None) -> User | None:
    """Use the link ``token`` once; the account it resets, or None (unknown, used, expired or
    replaced link, or an account that can no longer sign in).

    The caller goes on with the forgotten-password journey after its SafeCode; nothing else
    changes here, and nobody is signed in.
    """
    record = email_token_consume(token=token, purpose=PURPOSE)
    user = (
        User.objects.select_related("person").filter(pk=record.user_id).first()
        if record is not None and record.user_id
        else None
    )
    if user is None or not user.may_sign_in:
        audit_record(
            event="password_reset_link.refused",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=user,
            request=request,
            reason="inactive" if user is not None else "unknown_used_or_expired",
        )
        return None
    audit_record(
        event="password_reset_link.opened",
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=user,
        request=request,
    )
    return user
