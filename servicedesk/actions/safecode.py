"""The SafeCode panel: the account's channels (masked), how many prompts it skipped, and
resetting the registration so that the person registers again at the next sign-in."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import User
from accounts.services.notices import EMAIL, PHONE, Reach, notice_send
from portal.formats import local_datetime
from safecode.app_settings import app_settings
from safecode.models import Channel
from safecode.services import safecode_registration_reset
from servicedesk.actions import ActionContext, register
from servicedesk.panels import panel_context


def shown_address(channel: Channel) -> str:
    """SafeCode's own mask (``safecode.addresses``: the last four digits, the first letter of
    the mailbox and the domain) with the bullets the console shows for device numbers too."""
    return channel.masked.replace("***", "•••")


def _current_channels(account: User):
    return Channel.objects.filter(user=account).exclude(status=Channel.Status.RETIRED)


def _resettable(account: User) -> bool:
    """Something to reset: a channel in force or waiting, or a skip still left."""
    return account.safecode_skips < app_settings.MAX_SKIPS or _current_channels(account).exists()


@panel_context("safecode")
def safecode_panel(account: User, request: HttpRequest) -> dict[str, Any]:
    channels = [
        {
            "kind": channel.get_kind_display(),
            "address": shown_address(channel),
            "status": channel.get_status_display(),
            "verified": channel.status == Channel.Status.VERIFIED,
            "verified_at": local_datetime(channel.verified_at),
            "added_at": local_datetime(channel.created_at),
        }
        for channel in _current_channels(account).order_by("-kind", "created_at", "pk")
    ]
    skips_used = min(account.safecode_skips, app_settings.MAX_SKIPS)
    return {
        "channels": channels,
        "skips_used": skips_used,
        "max_skips": app_settings.MAX_SKIPS,
        "must_register": skips_used >= app_settings.MAX_SKIPS
        and not any(channel["verified"] for channel in channels),
    }


@register(
    name="reset_safecode",
    label="Reset SafeCode registration",
    permission="reset_safecode",
    panel="safecode",
    applies=_resettable,
    notifies=True,
    order=10,
    help="Removes every SafeCode phone and email. The person must register a new one right "
    "after their next sign-in, with no Skip; until then there is no self-service unlock or "
    "reset.",
)
def reset_safecode(context: ActionContext) -> str:
    account = context.account
    removed = safecode_registration_reset(
        user=account, actor=context.agent, request=context.request
    )
    removed_text = ""
    if removed:
        listed = ", ".join(
            f"{channel.get_kind_display().lower()} {shown_address(channel)}" for channel in removed
        )
        removed_text = f": removed {listed}"
    done = (
        f"Reset the SafeCode registration{removed_text}. A SafeCode phone or email must be "
        "registered right after the next sign-in, with no Skip."
    )
    _tell(account=account, removed=removed, done=done)
    return done


def _tell(*, account: User, removed: list[Channel], done: str) -> None:
    """The desk's notice, to the account's notice address and to the removed emails (which
    the desk's usual reach, the verified SafeCode emails, no longer finds); the removed phones
    get SafeCode's own "your SafeCode phone was removed" text."""
    emails = tuple((EMAIL, channel.address) for channel in removed if channel.kind == EMAIL)
    notice_send(
        user=account,
        name="servicedesk/action_taken",
        context={"done": done},
        reach=Reach(first=emails),
        purpose="desk_action",
    )
    for channel in removed:
        if channel.kind != PHONE:
            continue
        notice_send(
            user=account,
            name="safecode/channel_changed",
            context={
                "action": "removed",
                "kind": channel.get_kind_display().lower(),
                "old": channel.masked,
                "new": "",
                "username": account.get_username(),
            },
            reach=Reach(first=((PHONE, channel.address),), account=False),
            purpose="desk_action",
        )
