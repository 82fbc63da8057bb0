"""How guest access ends: revoked by the sponsor, or at the end of the end date.

The account's own access window (``User.access_ends_at``, checked by ``User.may_sign_in`` at
every door and on every request of a live session) closes at the end of the end date in the
portal's time zone, to the second, whether or not any job runs. The periodic jobs here then
make the end visible and durable: the sponsorship is marked expired, the account deactivated,
its sessions ended, the audit trail written and the sponsor and guest told. Each sponsorship is
closed under its row lock with a conditional UPDATE, so a job run twice, or a job racing a
revocation, closes it once and sends each email once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import User
from accounts.services.notices import notice_send
from accounts.services.sessions import account_sessions_end
from audit.models import AuditEvent
from audit.services import audit_record
from delivery.services import email_enqueue
from guests.app_settings import app_settings
from guests.models import GuestKey, Sponsorship, day_start

OPEN = (Sponsorship.Status.KEY_ISSUED, Sponsorship.Status.REGISTERED)


def sponsorship_close(
    *,
    sponsorship: Sponsorship,
    status: str,
    actor: User | None = None,
    request: HttpRequest | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> bool:
    """End a sponsorship as ``status`` (revoked or expired). Whether this call ended it.

    The live key stops working; the account, if any, is deactivated and its sessions end.
    """
    now = now or timezone.now()
    with transaction.atomic():
        changed = Sponsorship.objects.filter(pk=sponsorship.pk, status__in=OPEN).update(
            status=status,
            ended_at=now,
            revoked_by=actor if status == Sponsorship.Status.REVOKED else None,
            updated_at=now,
        )
        if not changed:
            return False
        current = Sponsorship.objects.select_related("sponsor", "account").get(pk=sponsorship.pk)
        GuestKey.objects.filter(
            sponsorship=current, used_at__isnull=True, ended_at__isnull=True
        ).update(ended_at=now)
        account = current.account
        if account is not None:
            User.objects.filter(pk=account.pk).update(
                status=User.Status.DEACTIVATED,
                access_ends_at=min(now, account.access_ends_at or now),
            )
            account_sessions_end(
                user=account, reason=f"guest_{status}", actor=actor, request=request
            )
        revoked = status == Sponsorship.Status.REVOKED
        audit_record(
            event="guest.revoked" if revoked else "guest.expired",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=account or current.sponsor,
            actor=actor,
            request=request,
            sponsorship=current.pk,
            guest=current.full_name,
            registered=account is not None,
            **({"reason": reason} if reason else {}),
        )
        context = {
            "guest": current,
            "revoked": revoked,
            "by_sponsor": actor is not None and actor.pk == current.sponsor_id,
            "registered": account is not None,
        }
        notice_send(user=current.sponsor, name="guests/ended", context=context)
        email_enqueue(
            recipient=current.email,
            template="guests/email/guest_ended",
            context=context,
            purpose="guest_ended",
        )
    return True


def guests_end_due(*, now: datetime | None = None) -> int:
    """Close every open sponsorship whose end date is over; returns how many were closed.

    Run often by Celery beat (``GUESTS_END_SCHEDULE_MINUTES``); safe to run at any time.
    """
    now = now or timezone.now()
    # The end of the end date is past when the day after it has begun, here.
    last_over = timezone.localtime(now).date() - timedelta(days=1)
    due = Sponsorship.objects.filter(status__in=OPEN, end_date__lte=last_over)
    closed = 0
    for sponsorship in due.only("pk").iterator():
        closed += sponsorship_close(
            sponsorship=sponsorship, status=Sponsorship.Status.EXPIRED, now=now
        )
    return closed


def guests_remind_due(*, now: datetime | None = None) -> int:
    """Tell sponsors and registered guests that access ends in ``GUESTS_REMINDER_DAYS``.

    Once per end date: an extension moves the date and arms the reminder again. A stay shorter
    than the notice gets none. Returns how many sponsorships were reminded; safe to run at any
    time.
    """
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    horizon = today + timedelta(days=app_settings.REMINDER_DAYS)
    due = Sponsorship.objects.filter(
        status=Sponsorship.Status.REGISTERED, end_date__gte=today, end_date__lte=horizon
    ).exclude(reminded_for=F("end_date"))
    reminded = 0
    for sponsorship in due.only("pk").iterator():
        reminded += _remind(pk=sponsorship.pk, now=now)
    return reminded


def _remind(*, pk: int, now: datetime) -> int:
    with transaction.atomic():
        current = (
            Sponsorship.objects.select_for_update(of=("self",))
            .select_related("sponsor")
            .filter(pk=pk, status=Sponsorship.Status.REGISTERED)
            .first()
        )
        if current is None or current.reminded_for == current.end_date:
            return 0
        current.reminded_for = current.end_date
        current.save(update_fields=["reminded_for", "updated_at"])
        if (current.end_date - current.start_date).days < app_settings.REMINDER_DAYS:
            return 0  # a stay shorter than the notice: its dates were known from the start
        days = (current.end_date - timezone.localtime(now).date()).days
        ends = date_format(timezone.localtime(day_start(current.end_date)), "DATE_FORMAT")
        context = {"guest": current, "days": days, "ends": ends}
        audit_record(
            event="guest.ending_soon",
            subject=current.account,
            sponsorship=current.pk,
            end_date=current.end_date.isoformat(),
        )
        notice_send(user=current.sponsor, name="guests/ending_soon", context=context)
        email_enqueue(
            recipient=current.email,
            template="guests/email/guest_ending_soon",
            context=context,
            purpose="guest_ending_soon",
        )
    return 1
