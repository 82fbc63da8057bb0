"""The sponsor's side: request guest access, issue a new key, extend, revoke.

Each service guards its own rules (who may act, which dates, which states), so the sponsor's
pages and the console call the same code. A guest key is returned once, to be shown once;
the sponsor also gets it by email. Only its keyed hash is stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from delivery.services import email_enqueue
from guests.app_settings import app_settings
from guests.keys import generate_key, hash_key, normalize_key
from guests.models import GuestKey, Sponsorship
from guests.selectors import sponsor_eligible
from guests.services.lifecycle import sponsorship_close


class NotEligible(Exception):
    """Only full-time staff and faculty may sponsor guests."""


class SponsorshipClosed(Exception):
    """The guest's access was revoked or has ended: nothing more can be done to it."""


class DatesNotAllowed(ValueError):
    """Dates outside what a request may ask for; the message says which rule, ``field``
    which date broke it."""

    def __init__(self, message: str, *, field: str = "end_date") -> None:
        super().__init__(message)
        self.field = field


class AlreadySubmitted(Exception):
    """The form that asks for a key was sent again: its key was issued (and shown) already."""

    def __init__(self, sponsorship_id: int | None) -> None:
        super().__init__("This form was already sent.")
        self.sponsorship_id = sponsorship_id


@dataclass(frozen=True)
class GuestDetails:
    first_name: str
    last_name: str
    email: str
    organisation: str
    purpose: str
    start_date: date
    end_date: date


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued: ``key`` is shown once and is kept nowhere."""

    sponsorship: Sponsorship
    key: str
    expires_at: datetime


def latest_end_date(start_date: date) -> date:
    """The last end date a guest starting on ``start_date`` may have: access counts both the
    start and the end date, so 365 days run from 1 January to 31 December."""
    return start_date + app_settings.MAX_DURATION - timedelta(days=1)


def dates_check(*, start_date: date, end_date: date, today: date | None = None) -> None:
    """Raise ``DatesNotAllowed`` unless the dates make a request the rules allow."""
    today = today or timezone.localdate()
    if start_date < today:
        raise DatesNotAllowed("The start date cannot be in the past.", field="start_date")
    if start_date > today + app_settings.START_WITHIN:
        raise DatesNotAllowed(
            f"The start date can be at most {app_settings.START_WITHIN.days} days from today.",
            field="start_date",
        )
    if end_date < start_date:
        raise DatesNotAllowed("The end date cannot be before the start date.")
    if end_date > latest_end_date(start_date):
        raise DatesNotAllowed(_too_long())


def extension_check(*, sponsorship: Sponsorship, end_date: date) -> None:
    """Raise ``DatesNotAllowed`` unless ``end_date`` is a valid new end for ``sponsorship``."""
    if end_date <= sponsorship.end_date:
        raise DatesNotAllowed("Choose an end date later than the current one.")
    if end_date > latest_end_date(sponsorship.start_date):
        raise DatesNotAllowed(_too_long())


def _too_long() -> str:
    return (
        f"Guest access lasts at most {app_settings.MAX_DURATION.days} days from the start date. "
        "For longer, submit a new request when this one ends."
    )


def _require_sponsor(sponsor: User) -> None:
    if not sponsor_eligible(sponsor):
        raise NotEligible


def _key_issue(*, sponsorship: Sponsorship, now: datetime, submission: str) -> IssuedKey:
    """A new key for ``sponsorship``; any earlier live key stops working. Raises
    ``AlreadySubmitted`` when ``submission`` already issued one (the caller's transaction is
    then to be rolled back, which ``transaction.atomic`` does as the error leaves it)."""
    if submission and GuestKey.objects.filter(submission=submission).exists():
        raise AlreadySubmitted(_submitted_for(submission))
    GuestKey.objects.filter(
        sponsorship=sponsorship, used_at__isnull=True, ended_at__isnull=True
    ).update(ended_at=now)
    key = generate_key()
    try:
        with transaction.atomic():
            record = GuestKey.objects.create(
                sponsorship=sponsorship,
                key_hash=hash_key(normalize_key(key)),
                expires_at=now + app_settings.KEY_TTL,
                submission=submission or secrets.token_urlsafe(24),
            )
    except IntegrityError as exc:  # the same form, sent twice at the same moment
        raise AlreadySubmitted(None) from exc
    return IssuedKey(sponsorship=sponsorship, key=key, expires_at=record.expires_at)


def _submitted_for(submission: str) -> int | None:
    return (
        GuestKey.objects.filter(submission=submission)
        .values_list("sponsorship_id", flat=True)
        .first()
    )


def _mail_key(issued: IssuedKey, *, again: bool) -> None:
    sponsorship = issued.sponsorship
    sponsor = sponsorship.sponsor
    if not sponsor.notice_email:
        return
    email_enqueue(
        recipient=sponsor.notice_email,
        template="guests/email/key_issued",
        context={
            "sponsor": sponsor,
            "guest": sponsorship,
            "key": issued.key,
            "again": again,
            "key_expires": date_format(timezone.localtime(issued.expires_at), "DATE_FORMAT"),
        },
        purpose="guest_key",
        user=sponsor,
        secrets=[issued.key],
        expires_at=issued.expires_at,
    )


def guest_request_create(
    *,
    sponsor: User,
    details: GuestDetails,
    attested: bool,
    submission: str = "",
    request: HttpRequest | None = None,
) -> IssuedKey:
    """Record an Invited User Request and issue its guest key.

    The sponsor must be eligible, must attest, and the dates must follow ``dates_check``.
    ``submission`` is the form's one-time token: sent again, it raises ``AlreadySubmitted``
    and nothing more is recorded.
    """
    _require_sponsor(sponsor)
    if not attested:
        raise ValueError("The sponsor must attest to the request.")
    dates_check(start_date=details.start_date, end_date=details.end_date)
    now = timezone.now()
    with transaction.atomic():
        sponsorship = Sponsorship.objects.create(
            sponsor=sponsor,
            first_name=details.first_name,
            last_name=details.last_name,
            email=details.email,
            organisation=details.organisation,
            purpose=details.purpose,
            start_date=details.start_date,
            end_date=details.end_date,
            attested_at=now,
        )
        issued = _key_issue(sponsorship=sponsorship, now=now, submission=submission)
        audit_record(
            event="guest.requested",
            subject=sponsor,
            actor=sponsor,
            request=request,
            sponsorship=sponsorship.pk,
            guest=sponsorship.full_name,
            organisation=sponsorship.organisation,
            start_date=details.start_date.isoformat(),
            end_date=details.end_date.isoformat(),
        )
        _mail_key(issued, again=False)
    return issued


def _locked(sponsorship: Sponsorship) -> Sponsorship:
    return Sponsorship.objects.select_for_update().select_related("sponsor").get(pk=sponsorship.pk)


def guest_key_reissue(
    *,
    sponsor: User,
    sponsorship: Sponsorship,
    submission: str = "",
    request: HttpRequest | None = None,
) -> IssuedKey:
    """A new key for a guest who has not registered; the old key stops working."""
    _require_sponsor(sponsor)
    now = timezone.now()
    with transaction.atomic():
        current = _locked(sponsorship)
        if current.status != Sponsorship.Status.KEY_ISSUED or now >= current.access_ends_at:
            raise SponsorshipClosed
        issued = _key_issue(sponsorship=current, now=now, submission=submission)
        audit_record(
            event="guest.key_reissued",
            subject=sponsor,
            actor=sponsor,
            request=request,
            sponsorship=current.pk,
            guest=current.full_name,
        )
        _mail_key(issued, again=True)
    return issued


def guest_extend(
    *,
    sponsor: User,
    sponsorship: Sponsorship,
    end_date: date,
    request: HttpRequest | None = None,
) -> Sponsorship:
    """Move the end date later, within the longest access from the start date."""
    _require_sponsor(sponsor)
    with transaction.atomic():
        current = _locked(sponsorship)
        if not current.is_open or timezone.now() >= current.access_ends_at:
            raise SponsorshipClosed
        extension_check(sponsorship=current, end_date=end_date)
        previous = current.end_date
        current.end_date = end_date
        current.save(update_fields=["end_date", "updated_at"])
        if current.account_id:
            User.objects.filter(pk=current.account_id).update(access_ends_at=current.access_ends_at)
        audit_record(
            event="guest.extended",
            subject=current.account or sponsor,
            actor=sponsor,
            request=request,
            sponsorship=current.pk,
            guest=current.full_name,
            previous_end_date=previous.isoformat(),
            end_date=end_date.isoformat(),
        )
        email_enqueue(
            recipient=current.email,
            template="guests/email/guest_extended",
            context={"guest": current},
            purpose="guest_extended",
        )
    return current


def guest_revoke(
    *,
    sponsorship: Sponsorship,
    actor: User,
    reason: str = "",
    request: HttpRequest | None = None,
) -> bool:
    """Revoke a guest's access now: the key stops working, the account is disabled and its
    sessions end. The sponsor may always revoke, eligible or not. Whether this call did it."""
    if actor.pk != sponsorship.sponsor_id and not actor.has_perm("servicedesk.revoke_guests"):
        raise NotEligible
    if reason and len(reason) > 500:
        raise ValueError("A reason is at most 500 characters.")
    closed = sponsorship_close(
        sponsorship=sponsorship,
        status=Sponsorship.Status.REVOKED,
        actor=actor,
        request=request,
        reason=reason,
    )
    if not closed:
        audit_record(
            event="guest.revoke_refused",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=actor,
            actor=actor,
            request=request,
            sponsorship=sponsorship.pk,
        )
    return closed
