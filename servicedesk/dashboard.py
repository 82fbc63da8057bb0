"""The service desk's section of the console's front page: what waits, counted, with links.

Each count links to the list it counts, filtered the same way, and is shown only to an agent
who may open that list. Four queries at most: accounts, audit events, fraud reports and
failed deliveries, each one aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.admin import local_midnight, since_for
from audit.models import AuditEvent

NOT_ME = "account.reported_not_me"
LOCKED = "account.locked"
# "This wasn't me" reports have no reviewed state: the desk reviews the last week's.
NOT_ME_PERIOD = "7d"


@dataclass(frozen=True)
class DeskCount:
    label: str
    count: int
    url: str


def desk_dashboard(agent) -> list[DeskCount]:
    """The counts ``agent`` may follow, in the desk's order."""
    counts: list[DeskCount] = []
    now = timezone.now()
    if agent.has_perm("servicedesk.view_deskaccount"):
        people = reverse("admin:servicedesk_deskaccount_changelist")
        found = User.objects.aggregate(
            locked=Count("pk", filter=Q(locked_at__isnull=False)),
            pending=Count("pk", filter=Q(status=User.Status.PENDING_APPROVAL)),
        )
        counts.append(DeskCount("Locked accounts", found["locked"], f"{people}?standing=locked"))
        counts.append(
            DeskCount("Pending approvals", found["pending"], f"{people}?standing=pending")
        )
    if agent.has_perm("audit.view_auditevent"):
        events = reverse("admin:audit_auditevent_changelist")
        midnight = local_midnight(now)
        not_me_since = since_for(NOT_ME_PERIOD)
        found = AuditEvent.objects.filter(
            event__in=[NOT_ME, LOCKED], created_at__gte=min(midnight, not_me_since)
        ).aggregate(
            not_me=Count("pk", filter=Q(event=NOT_ME, created_at__gte=not_me_since)),
            lockouts=Count("pk", filter=Q(event=LOCKED, created_at__gte=midnight)),
        )
        counts.append(
            DeskCount(
                "“This wasn't me” reports, last 7 days",
                found["not_me"],
                f"{events}?event={NOT_ME}&created_at__within={NOT_ME_PERIOD}",
            )
        )
    if agent.has_perm("twofactor.view_fraudreport"):
        from twofactor.models import FraudReport

        counts.append(
            DeskCount(
                "Fraud reports open",
                FraudReport.objects.filter(resolved_at__isnull=True).count(),
                reverse("admin:twofactor_fraudreport_changelist") + "?resolved_at__isempty=1",
            )
        )
    if agent.has_perm("delivery.view_message"):
        from delivery.models import Message

        counts.append(
            DeskCount(
                "Failed deliveries, last 24 hours",
                Message.objects.filter(
                    status=Message.Status.FAILED, updated_at__gte=now - timedelta(hours=24)
                ).count(),
                reverse("admin:delivery_message_changelist") + "?updated_at__failed_within=24h",
            )
        )
    if agent.has_perm("audit.view_auditevent"):
        counts.append(
            DeskCount(
                "Lockouts today",
                found["lockouts"],
                f"{events}?event={LOCKED}&created_at__within=today",
            )
        )
    return counts
