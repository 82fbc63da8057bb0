"""My Address: addresses the person keeps, requests to HR, and a verified change of email."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import Address, DirectoryChangeRequest, EmailToken, Person, User
from accounts.services.notices import EMAIL, Reach, notice_send
from accounts.services.recent_proof import recent_proof_require
from accounts.services.registration import TOKEN_SALT, email_token_consume
from audit.models import AuditEvent
from audit.services import audit_record
from delivery.services import email_enqueue
from safecode.addresses import normalize_email
from safecode.codes import generate_token, hash_code


def address_save(
    *, user: User, kind: str, data: dict, request: HttpRequest | None = None
) -> Address:
    address, _ = Address.objects.update_or_create(user=user, kind=kind, defaults=data)
    audit_record(event="profile.address_saved", subject=user, request=request, kind=kind)
    return address


def directory_change_request(
    *, user: User, field: str, value: str, request: HttpRequest | None = None
) -> DirectoryChangeRequest:
    """Ask HR to change a directory field; it shows as pending until the feed carries it."""
    with transaction.atomic():
        DirectoryChangeRequest.objects.filter(
            person=user.person, field=field, confirmed_at__isnull=True
        ).delete()
        change = DirectoryChangeRequest.objects.create(
            person=user.person, field=field, value=value, requested_by=user
        )
        audit_record(
            event="profile.hr_change_requested", subject=user, request=request, field=field
        )
    return change


def directory_changes_confirm(*, person: Person) -> int:
    """Mark pending requests confirmed where the feed now carries the requested value."""
    confirmed = 0
    for change in DirectoryChangeRequest.objects.filter(person=person, confirmed_at__isnull=True):
        if (getattr(person, change.field) or "").strip() == change.value.strip():
            change.confirmed_at = timezone.now()
            change.save(update_fields=["confirmed_at"])
            confirmed += 1
    return confirmed


def email_change_start(*, user: User, new_email: str, request: HttpRequest | None = None) -> None:
    """Send a verification link to the new address; nothing changes until it is followed.

    Needs a fresh proof in ``request``'s session (``RecentProofRequired`` otherwise): the
    contact email is where account notices go.

    Raises ``ValidationError`` for an address ``normalize_email`` refuses (the form says so
    first), so no caller can point the account's mail at an address literal.
    """
    new_email = normalize_email(new_email)
    recent_proof_require(request=request, user=user, change="contact_email")
    token = generate_token()
    with transaction.atomic():
        EmailToken.objects.filter(
            user=user, purpose=EmailToken.Purpose.EMAIL_CHANGE, used_at__isnull=True
        ).update(used_at=timezone.now())
        record = EmailToken.objects.create(
            purpose=EmailToken.Purpose.EMAIL_CHANGE,
            email=new_email,
            user=user,
            token_hash=hash_code(token, salt=TOKEN_SALT),
            expires_at=timezone.now() + app_settings.EMAIL_TOKEN_TTL,
        )
        email_enqueue(
            recipient=new_email,
            template="accounts/email/email_change",
            context={"user": user, "link": f"{settings.PORTAL_URL}/preferences/email/{token}/"},
            purpose="email_change",
            user=user,
            secrets=[token],
            expires_at=record.expires_at,
        )
        audit_record(event="profile.email_change_requested", subject=user, request=request)


def email_change_confirm(*, user: User, token: str, request: HttpRequest | None = None) -> bool:
    """Follow the link: the change takes effect, and the old address is told."""
    with transaction.atomic():
        record = email_token_consume(token=token, purpose=EmailToken.Purpose.EMAIL_CHANGE)
        if record is None or record.user_id != user.pk:
            audit_record(
                event="profile.email_change_failed",
                outcome=AuditEvent.Outcome.FAILURE,
                subject=user,
                request=request,
            )
            if record is not None:
                transaction.set_rollback(True)
            return False
        # The mailbox notices went to until now is told, with every SafeCode email, each once.
        old = user.notice_email
        user.email = record.email
        user.save(update_fields=["email"])
        audit_record(
            event="profile.email_changed",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            request=request,
        )
        notice_send(
            user=user,
            name="accounts/email_changed_notice",
            reach=Reach(
                first=((EMAIL, old),) if old else (), account=False, safecode=frozenset({EMAIL})
            ),
            report_change="contact email changed",
        )
    return True
