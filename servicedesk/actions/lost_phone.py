"""A lost phone, on a verified call: remove the phone from SafeCode and two-factor in one
step, optionally start registering the new number, and give the person one bypass code so
that they can sign in and set up the new phone.

The phone is named by the last four digits of its number, as the SafeCode and Two-factor
panels show it masked: the agent never needs, and never sees, the whole number. Everything
happens in the runner's transaction (``desk_action_run``): if any part cannot be done, nothing
is removed and no code is issued.

Nothing is sent to the lost phone (whoever holds it now should not learn of the change); the
runner's notice tells the account's email and SafeCode emails, and the bypass-code service
tells the person that a code was issued.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.normalize import digits
from audit.models import AuditEvent
from audit.services import audit_record
from safecode.addresses import check_phone_country, normalize_phone
from safecode.errors import SafeCodeLockedOut, SafeCodeThrottled
from safecode.models import Channel, Purpose
from servicedesk.actions import ActionContext, ActionRefused, Done, ReasonForm, register
from twofactor.models import Device


class LostPhoneForm(ReasonForm):
    last4 = forms.CharField(
        label="Last 4 digits of the lost phone",
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "size": 4}),
        help_text="As shown masked in the SafeCode and Two-factor panels.",
    )
    safecode_phone = forms.BooleanField(
        label="Remove it as the SafeCode phone", required=False, initial=True
    )
    twofactor_devices = forms.BooleanField(
        label="Remove the two-factor devices with that number", required=False, initial=True
    )
    new_phone = forms.CharField(
        label="New SafeCode mobile number (optional)",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 16}),
        help_text="It counts once the person enters the code sent to it, after signing in.",
    )

    def __init__(self, *args, account: User | None = None, **kwargs):
        # Accepts the account like the other desk forms; the choices here do not depend on it.
        super().__init__(*args, **kwargs)

    def clean_last4(self) -> str:
        value = digits(self.cleaned_data["last4"])
        if len(value) != 4:
            raise ValidationError("Enter the last 4 digits of the lost phone's number.")
        return value

    def clean_new_phone(self) -> str:
        raw = self.cleaned_data["new_phone"].strip()
        if not raw:
            return ""
        phone = normalize_phone(raw)
        check_phone_country(phone)
        return phone.e164

    def clean(self):
        data = super().clean()
        if not (data.get("safecode_phone") or data.get("twofactor_devices")):
            raise ValidationError(
                "Choose what to remove: the SafeCode phone, its devices, or both."
            )
        return data


def _applies(account: User) -> bool:
    has_phone = (
        Channel.objects.filter(user=account, kind=Channel.Kind.PHONE)
        .exclude(status=Channel.Status.RETIRED)
        .exists()
    )
    return has_phone or Device.objects.filter(user=account).exclude(number="").exists()


def _lock(account: User) -> None:
    list(User.objects.select_for_update().filter(pk=account.pk).values_list("pk"))


def _remove_channel(*, context: ActionContext, channel: Channel, now) -> None:
    from safecode.services import _retire  # the one definition of retiring a channel

    _retire(channel, now=now)
    audit_record(
        event="safecode.channel_removed",
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=context.account,
        actor=context.agent,
        request=context.request,
        channel=channel.masked,
        channel_kind=channel.kind,
        by="service_desk",
        why="lost_phone",
    )


def _add_pending_phone(*, context: ActionContext, e164: str, now) -> str:
    """Start registering ``e164`` as the SafeCode phone: pending until the person enters the
    code sent to it. Returns what to tell the agent."""
    from safecode.services import _retire, safecode_issue

    account = context.account
    if Channel.objects.filter(
        user=account, kind=Channel.Kind.PHONE, status=Channel.Status.VERIFIED, address=e164
    ).exists():
        return ""
    for pending in Channel.objects.select_for_update().filter(
        user=account, kind=Channel.Kind.PHONE, status=Channel.Status.PENDING
    ):
        _retire(pending, now=now)
    phone = normalize_phone(e164)
    channel = Channel.objects.create(
        user=account,
        kind=Channel.Kind.PHONE,
        address=phone.e164,
        region=phone.region,
        created_at=now,
    )
    audit_record(
        event="safecode.channel_pending",
        outcome=AuditEvent.Outcome.INFO,
        subject=account,
        actor=context.agent,
        request=context.request,
        channel=channel.masked,
        channel_kind=channel.kind,
        by="service_desk",
    )
    try:
        safecode_issue(
            user=account, purpose=Purpose.CHANNEL_VERIFY, channel=channel, request=context.request
        )
        sent = "a code was sent to it"
    except (SafeCodeThrottled, SafeCodeLockedOut):
        sent = "the person can ask for its code after signing in"
    return f" Added {channel.masked} as the new SafeCode phone, waiting for its code ({sent})."


@register(
    name="lost_phone",
    label="Lost phone: remove it and issue a bypass code",
    permission="manage_twofactor",
    panel="safecode",
    applies=_applies,
    form=LostPhoneForm,
    needs_verified_call=True,
    order=30,
    help=(
        "On a verified call only. Removes the phone from SafeCode and two-factor at once, "
        "then shows you one bypass code for the person to sign in and set up the new phone."
    ),
)
def lost_phone(context: ActionContext) -> Done:
    from servicedesk.actions.bypass import issue_for

    account, data = context.account, context.data
    last4 = data.get("last4", "")
    if len(last4) != 4:
        raise ActionRefused("Enter the last 4 digits of the lost phone's number.")
    now = timezone.now()
    removed: list[str] = []
    with transaction.atomic():
        _lock(account)
        if data.get("safecode_phone"):
            channel = (
                Channel.objects.select_for_update()
                .filter(
                    user=account,
                    kind=Channel.Kind.PHONE,
                    status=Channel.Status.VERIFIED,
                    address__endswith=last4,
                )
                .first()
            )
            if channel is None:
                raise ActionRefused(f"The account's SafeCode phone does not end in {last4}.")
            _remove_channel(context=context, channel=channel, now=now)
            removed.append(f"the SafeCode phone {channel.masked}")
        if data.get("twofactor_devices"):
            from twofactor.services import TwoFactorError, device_remove_by_desk

            devices = list(
                Device.objects.filter(user=account, number__endswith=last4).order_by("pk")
            )
            if not devices:
                raise ActionRefused(
                    f"No two-factor device of the account has a number ending in {last4}."
                )
            for device in devices:
                try:
                    name = device_remove_by_desk(
                        device=device, agent=context.agent, request=context.request
                    )
                except TwoFactorError as exc:
                    raise ActionRefused(exc.message) from exc
                removed.append(f"the two-factor device “{name}”")
        added = ""
        if data.get("new_phone"):
            added = _add_pending_phone(context=context, e164=data["new_phone"], now=now)
        issued = issue_for(context, count=1)
    message = f"Removed {', '.join(removed)}.{added} {issued.message}"
    return Done(message, template=issued.template, show=issued.show)
