"""The two-factor panel: the account's devices and remembered browsers; removing a device
(a lost phone) and forgetting every remembered browser."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest

from accounts.models import User
from portal.formats import local_datetime
from portal.http import browser_label
from servicedesk.actions import ActionContext, ActionRefused, ReasonForm, register
from servicedesk.panels import panel_context
from twofactor.models import Device
from twofactor.services import (
    TwoFactorError,
    browsers_forget_all,
    browsers_remembered,
    device_remove_by_desk,
)


def _devices(account: User):
    return Device.objects.filter(user=account).order_by("-is_default", "created_at", "pk")


def _device_label(device: Device) -> str:
    label = device.name
    if device.masked_number:
        label += f" ({device.masked_number})"
    return label


class DeviceForm(ReasonForm):
    """Which of the account's devices to remove: a choice of them when the page gives the
    account (it does, ``ReasonForm``), else a device id. Either way ``remove_device`` checks
    the device against the account it acts on; the form is never trusted for that."""

    device = forms.CharField(
        label="Device",
        max_length=18,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "size": 8}),
    )

    def __init__(self, *args, account: User | None = None, **kwargs):
        super().__init__(*args, account=account, **kwargs)
        if account is not None:
            self.fields["device"] = forms.ChoiceField(
                label="Device",
                choices=[(str(device.pk), _device_label(device)) for device in _devices(account)],
            )

    def clean_device(self) -> int:
        value = self.cleaned_data["device"].strip()
        if not (value.isascii() and value.isdigit()):
            raise forms.ValidationError("Choose a device from the list.")
        return int(value)


@panel_context("twofactor")
def twofactor_panel(account: User, request: HttpRequest) -> dict[str, Any]:
    devices = [
        {
            "id": device.pk,
            "name": device.name,
            "kind": device.get_kind_display(),
            "phone_type": device.get_phone_type_display() if device.phone_type else "",
            "number": device.masked_number,
            "added_at": local_datetime(device.confirmed_at or device.created_at),
            "last_used_at": local_datetime(device.last_used_at),
            "is_default": device.is_default,
            "confirmed": device.is_confirmed,
        }
        for device in _devices(account)
    ]
    browsers = [
        {
            "label": browser_label(browser.user_agent),
            "remembered_at": local_datetime(browser.created_at),
            "last_seen_at": local_datetime(browser.last_seen_at),
            "until": local_datetime(browser.expires_at),
        }
        for browser in browsers_remembered(user=account).order_by("-created_at", "-pk")
    ]
    return {"devices": devices, "browsers": browsers}


@register(
    name="remove_device",
    label="Remove a device",
    permission="manage_twofactor",
    panel="twofactor",
    applies=lambda account: Device.objects.filter(user=account).exists(),
    form=DeviceForm,
    order=10,
    help="For a lost or replaced phone. Every remembered browser is forgotten too. The last "
    "device may go: the person then signs in with a bypass code and sets up a new one.",
)
def remove_device(context: ActionContext) -> str:
    device = Device.objects.filter(pk=context.data.get("device"), user=context.account).first()
    if device is None:
        raise ActionRefused("That device is not one of this account's.")
    try:
        name = device_remove_by_desk(device=device, agent=context.agent, request=context.request)
    except TwoFactorError as exc:
        raise ActionRefused(exc.message) from exc
    left = Device.objects.filter(user=context.account, confirmed_at__isnull=False).count()
    after = (
        "Every remembered browser will ask for a second factor again."
        if left
        else "No two-factor device is left: a new one must be set up at the next sign-in."
    )
    return f"Removed the two-factor device “{name}”. {after}"


def _has_remembered_browser(account: User) -> bool:
    """A browser that would still skip the second step (the ones the panel lists)."""
    return browsers_remembered(user=account).exists()


@register(
    name="forget_browsers",
    label="Forget all remembered browsers",
    permission="manage_twofactor",
    panel="twofactor",
    applies=_has_remembered_browser,
    order=20,
    help="Each browser asks for a second factor at its next sign-in.",
)
def forget_browsers(context: ActionContext) -> str:
    # The browsers that still skipped the second step; stale rows (an older password) go too.
    forgotten = browsers_remembered(user=context.account).count()
    if not browsers_forget_all(user=context.account, actor=context.agent, request=context.request):
        raise ActionRefused("No browser is remembered for this account.")
    plural = "browser" if forgotten == 1 else "browsers"
    return (
        f"Forgot {forgotten} remembered {plural}: each asks for a second factor at its next "
        "sign-in."
    )
