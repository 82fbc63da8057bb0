"""The guest panel: a guest's sponsorship, or the guests a sponsor vouches for; revoking a
guest's access."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.formats import date_format

from accounts.models import User
from guests.models import Sponsorship
from guests.selectors import sponsor_guests
from guests.services.lifecycle import OPEN
from guests.services.sponsorship import NotEligible, guest_revoke
from portal.formats import local_datetime
from servicedesk.actions import ActionContext, ActionRefused, register
from servicedesk.panels import panel_context

# The sponsor's guests the panel lists, newest first; the count covers them all.
LISTED_GUESTS = 20


def _day(day) -> str:
    return date_format(day, "DATE_FORMAT") if day else ""


def _status(sponsorship: Sponsorship) -> str:
    live = getattr(sponsorship, "has_live_key", None)
    return Sponsorship.Shown(sponsorship.shown_status(live_key=live)).label


def _row(sponsorship: Sponsorship) -> dict[str, Any]:
    return {
        "name": sponsorship.full_name,
        "organisation": sponsorship.organisation,
        "start_date": _day(sponsorship.start_date),
        "end_date": _day(sponsorship.end_date),
        "status": _status(sponsorship),
        "account": sponsorship.account.username if sponsorship.account_id else "",
        "account_id": sponsorship.account_id,
    }


def _open_sponsorship(account: User) -> Sponsorship | None:
    return Sponsorship.objects.filter(account=account, status__in=OPEN).first()


@panel_context("guest")
def guest_panel(account: User, request: HttpRequest) -> dict[str, Any]:
    context: dict[str, Any] = {"is_guest": account.kind == User.Kind.GUEST}
    sponsorship = (
        Sponsorship.objects.filter(account=account).select_related("sponsor", "revoked_by").first()
    )
    if sponsorship is not None:
        sponsor = sponsorship.sponsor
        context["sponsorship"] = {
            **_row(sponsorship),
            "sponsor": f"{sponsor.display_name} ({sponsor.username})",
            "sponsor_id": sponsor.pk,
            "registered_at": local_datetime(sponsorship.registered_at),
            "ended_at": local_datetime(sponsorship.ended_at),
            "revoked_by": sponsorship.revoked_by.username if sponsorship.revoked_by_id else "",
        }
    guests = sponsor_guests(account)
    count = guests.count()
    context["sponsored_count"] = count
    context["sponsored"] = [_row(guest) for guest in guests[:LISTED_GUESTS]] if count else []
    return context


@register(
    name="revoke_guest",
    label="Revoke guest access",
    permission="revoke_guests",
    panel="guest",
    applies=lambda account: (
        account.kind == User.Kind.GUEST and _open_sponsorship(account) is not None
    ),
    notifies=True,
    order=10,
    help="Access ends now: the account is disabled and signed out everywhere. The sponsor and "
    "the guest are told.",
)
def revoke_guest(context: ActionContext) -> str:
    sponsorship = _open_sponsorship(context.account)
    if sponsorship is None:
        raise ActionRefused("This guest's access has ended already.")
    try:
        revoked = guest_revoke(
            sponsorship=sponsorship,
            actor=context.agent,
            reason=context.reason,
            request=context.request,
        )
    except NotEligible as exc:
        raise ActionRefused("You may not revoke guest access.") from exc
    except ValueError as exc:
        raise ActionRefused(str(exc)) from exc
    if not revoked:
        raise ActionRefused("This guest's access has ended already.")
    return (
        f"Revoked the guest access sponsored by {sponsorship.sponsor.display_name}: the account "
        "is disabled and signed out."
    )
