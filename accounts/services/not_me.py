""" "This was not me": a link in every notice of a change to an account's recovery contacts.

The link carries a signed token naming the account and the change (``django.core.signing``,
valid ``NOT_ME_DAYS``), so only the mailbox or phone that got the notice can use it. A report is
recorded in the audit trail and sent to the service desk once per notice, and the page gives
the desk's phone for anything urgent. It changes nothing on the account: an attacker who read
a notice could otherwise use the link against the person.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record

SALT = "portal.not_me"
NOT_ME_DAYS = 14


def not_me_url(*, user, change: str) -> str:
    """The absolute link that reports ``change`` on ``user``'s account as not theirs."""
    token = signing.dumps({"u": user.pk, "c": change[:40]}, salt=SALT, compress=True)
    return f"{settings.PORTAL_URL}{reverse('accounts:not_me', args=[token])}"


def not_me_lookup(token: str) -> tuple[User, str] | None:
    """The account and change a token names, or None for a bad or stale token."""
    if not token or len(token) > 300:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=NOT_ME_DAYS * 24 * 3600)
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=data.get("u")).first()
    return (user, str(data.get("c", ""))) if user is not None else None


def not_me_report(*, token: str, request: HttpRequest | None = None) -> User | None:
    """Record the report and tell the service desk, once per token. None for a bad token."""
    found = not_me_lookup(token)
    if found is None:
        return None
    user, change = found
    token_id = hashlib.sha256(token.encode()).hexdigest()[:32]
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if AuditEvent.objects.filter(
            event="account.reported_not_me", subject=user, detail__token=token_id
        ).exists():
            return user
        audit_record(
            event="account.reported_not_me",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=user,
            request=request,
            change=change,
            token=token_id,
        )
        from delivery.services import email_enqueue

        email_enqueue(
            recipient=settings.SERVICE_DESK_EMAIL,
            template="accounts/email/not_me_report",
            context={"reported": user, "change": change},
            purpose="not_me_report",
        )
    return user
