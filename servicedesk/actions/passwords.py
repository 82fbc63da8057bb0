"""Desk actions on passwords: send a password-reset link to a verified SafeCode contact.

The desk never sets or reads the password; the link lets the person choose one, after their
second factor when the account has one (``accounts.services.reset_link``).
"""

from __future__ import annotations

from django import forms

from accounts.models import User
from accounts.services.reset_link import RESET_LINK_TTL, ResetLinkRefused, reset_link_send
from safecode.models import Channel
from safecode.selectors import channel_list_verified, user_has_verified_channel
from servicedesk.actions import ActionContext, ActionRefused, ReasonForm, register
from servicedesk.actions.safecode import shown_address

HOW = {Channel.Kind.PHONE: "by text message to", Channel.Kind.EMAIL: "by email to"}


class ResetLinkForm(ReasonForm):
    """Where the link goes: the SafeCode phone or the SafeCode email.

    The person's page builds action forms without the account (``form_class(prefix=...)``),
    so the choice is the kind of contact; given ``account``, each choice names the contact
    masked. The contact is always looked up among the account's verified ones when the
    action runs, never taken from the form.
    """

    channel = forms.ChoiceField(
        label="Send the link",
        choices=[
            (Channel.Kind.PHONE, "By text to the SafeCode phone"),
            (Channel.Kind.EMAIL, "By email to the SafeCode email"),
        ],
    )

    def __init__(self, *args, account: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if account is not None:
            self.fields["channel"].choices = [
                (channel.kind, f"{HOW[channel.kind].capitalize()} {shown_address(channel)}")
                for channel in channel_list_verified(account)
            ]


def _applies(account: User) -> bool:
    return account.may_sign_in and user_has_verified_channel(account)


@register(
    name="send_reset_link",
    label="Send a password-reset link",
    permission="manage_password",
    panel="password",
    applies=_applies,
    form=ResetLinkForm,
    order=20,
    help=(
        f"A link that works once, for {int(RESET_LINK_TTL.total_seconds() // 3600)} hour, to "
        "choose a new password (after the second factor, for an account with two-factor). "
        "It also unlocks the account. You never see or set the password."
    ),
)
def send_reset_link(context: ActionContext) -> str:
    kind = context.data.get("channel")
    channel = channel_list_verified(context.account).filter(kind=kind).first()
    if channel is None:
        raise ActionRefused("The account has no verified SafeCode contact of that kind.")
    try:
        channel = reset_link_send(
            user=context.account,
            channel_id=channel.pk,
            agent=context.agent,
            request=context.request,
        )
    except ResetLinkRefused as refused:
        raise ActionRefused(refused.message) from refused
    return (
        f"Sent a password-reset link {HOW[channel.kind]} {shown_address(channel)}; it works once, "
        f"for {int(RESET_LINK_TTL.total_seconds() // 60)} minutes."
    )
