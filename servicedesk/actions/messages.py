"""Why codes are not arriving: the account's code limits in force, in the desk's words, the
last deliveries to each of its addresses, and lifting the limits for the account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import User
from delivery.models import Message
from portal.formats import local_datetime
from safecode.errors import SafeCodeThrottled
from safecode.models import Channel, Purpose
from safecode.selectors import safecode_pauses
from safecode.services import safecode_limits_lift
from servicedesk.actions import ActionContext, ActionRefused, register
from servicedesk.panels import panel_context

# How many deliveries the panel shows for each address.
DELIVERIES_PER_ADDRESS = 3

# The codes of each purpose, as the desk says it.
CODES = {
    Purpose.CHANNEL_VERIFY: "Confirmation codes",
    Purpose.UNLOCK: "Unlock codes",
    Purpose.PASSWORD_CHANGE: "Password-change codes",
    Purpose.PASSWORD_RESET: "Password-reset codes",
    Purpose.PASSWORD_EXPIRED: "Expired-password codes",
    Purpose.RECENT_PROOF: "Identity-check codes",
}
# Why, as the desk says it; keyed by what SafeCode tells the person (``safecode_pauses``).
WHY = {
    SafeCodeThrottled.MESSAGES["purpose_hourly"]: "too many codes in an hour",
    SafeCodeThrottled.MESSAGES["channel_hourly"]: "too many codes to its phone or email in an hour",
    SafeCodeThrottled.MESSAGES["number_daily"]: "too many texts to that number in a day",
    SafeCodeThrottled.MESSAGES["country_daily"]: "too many texts to that country today",
    "too many wrong codes": "too many wrong codes entered",
}


def _clock(moment: datetime, now: datetime) -> str:
    """4:39 AM today; Nov 24, 4:39 AM on another day; in the settings' zone."""
    local, today = timezone.localtime(moment), timezone.localtime(now)
    fmt = "g:i A" if local.date() == today.date() else "M j, g:i A"
    return date_format(local, fmt)


def pauses_in_words(account: User, *, now: datetime | None = None) -> list[str]:
    """``Unlock codes paused until 4:39 AM: too many codes in an hour``, one a limit."""
    now = now or timezone.now()
    by_label = {purpose.label: purpose for purpose in Purpose}
    lines = []
    for label, until, why in safecode_pauses(account, now=now):
        purpose = by_label.get(label)
        codes = CODES.get(purpose, f"Codes for “{label}”") if purpose else f"Codes for “{label}”"
        lines.append(f"{codes} paused until {_clock(until, now)}: {WHY.get(why, why)}")
    return lines


def _addresses(account: User) -> list[dict[str, Any]]:
    """Where messages to the account go: its SafeCode channels in force or waiting, and its
    contact and institutional emails. Masked, as everywhere in the console."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    channels = Channel.objects.filter(user=account).exclude(status=Channel.Status.RETIRED)
    for channel in channels.order_by("-kind", "created_at"):
        state = "" if channel.status == Channel.Status.VERIFIED else " (waiting for its code)"
        found.append(
            {
                "label": f"SafeCode {channel.get_kind_display().lower()}{state}",
                "address": channel.address,
                "masked": channel.masked.replace("***", "•••"),
            }
        )
        seen.add(channel.address.lower())
    emails = [("Contact email", account.email)]
    if account.person_id:
        emails.append(("Institutional email", account.person.email))
    for label, email in emails:
        if email and email.lower() not in seen:
            seen.add(email.lower())
            found.append({"label": label, "address": email, "masked": _mask_email(email)})
    return found


def _mask_email(email: str) -> str:
    from delivery.masking import mask_recipient

    return mask_recipient(email)


def last_deliveries(account: User) -> list[dict[str, Any]]:
    """Each address with its last few messages (when, what for, status, the provider's error);
    never a body."""
    addresses = _addresses(account)
    wanted = {a["address"].lower() for a in addresses}
    by_address: dict[str, list[Message]] = {key: [] for key in wanted}
    query = Q()
    for address in wanted:
        query |= Q(recipient__iexact=address)
    recent = (
        Message.objects.filter(query, user=account)
        .only("pk", "recipient", "channel", "purpose", "status", "last_error", "created_at")
        .order_by("-created_at", "-pk")[:100]
        if wanted
        else []
    )
    for message in recent:
        shelf = by_address.get(message.recipient.lower())
        if shelf is not None and len(shelf) < DELIVERIES_PER_ADDRESS:
            shelf.append(message)
    for address in addresses:
        address["deliveries"] = [
            {
                "when": local_datetime(m.created_at),
                "purpose": m.purpose,
                "status": m.get_status_display(),
                "failed": m.status == Message.Status.FAILED,
                "error": m.last_error,
                "url": reverse("admin:delivery_message_change", args=[m.pk]),
            }
            for m in by_address[address["address"].lower()]
        ]
    return addresses


@panel_context("messages")
def messages_panel(account: User, request: HttpRequest) -> dict[str, Any]:
    return {
        "pauses": pauses_in_words(account),
        "addresses": last_deliveries(account),
        "can_see_messages": request.user.has_perm("delivery.view_message"),
        "messages_url": reverse("admin:delivery_message_changelist")
        + f"?user__id__exact={account.pk}",
    }


@register(
    name="lift_limits",
    label="Lift the code limits",
    permission="lift_code_limits",
    panel="messages",
    applies=lambda account: bool(safecode_pauses(account)),
    order=10,
    help="Forgets this account's wrong codes and the codes it was sent within the limits' "
    "windows, so a new code can be sent now. Limits across accounts (texts to one number or "
    "country in a day) may still hold.",
)
def lift_limits(context: ActionContext) -> str:
    result = safecode_limits_lift(
        user=context.account, agent=context.agent, request=context.request
    )
    if not result["lifted"]:
        raise ActionRefused(
            "No limit could be lifted: what holds counts other accounts' texts too."
        )
    done = f"Lifted the code limits for: {', '.join(result['lifted'])}."
    if result["still"]:
        done += f" Still paused (limits across accounts): {', '.join(result['still'])}."
    return done
