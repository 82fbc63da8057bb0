"""Verify the caller: the form on a person's page, its panel, and the one view it posts to.

One form, two buttons: "Send a code to the caller" sends a SafeCode to the channel chosen in
the masked list; "Check" compares what was typed (``servicedesk.verification``). The answer is
a message on the person's page, "Harvard ID: matches · Date of birth: does not match"; what was
typed is never shown back, stored or logged (``sensitive_post_parameters``).

The panel's context is registered when this module is imported, which the admin's URL
configuration does (``DeskAccountAdmin.get_urls``) before any person's page can be served.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.models import User
from portal.formats import local_datetime
from safecode.codes import normalize_code
from safecode.errors import SafeCodeError
from servicedesk.actions import may_act_on
from servicedesk.actions.safecode import shown_address
from servicedesk.app_settings import app_settings
from servicedesk.panels import panel_context
from servicedesk.verification import (
    CHECKS_PER_HOUR,
    CallerAnswers,
    CallerCheckThrottled,
    caller_channels,
    caller_check,
    caller_checks_left,
    caller_code_send,
    on_file,
)

PREFIX = "verify"
PERMISSION = "servicedesk.verify_caller"
SEND, CHECK = "send", "check"


class CallerVerifyForm(forms.Form):
    """What the caller says, and where a code goes. Nothing here is required: the agent
    checks whatever the caller can give."""

    channel = forms.TypedChoiceField(label="Send a code to", coerce=int, required=False, choices=())
    huid = forms.CharField(
        label="Harvard ID",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "size": 10}),
    )
    date_of_birth = forms.DateField(
        label="Date of birth",
        required=False,
        input_formats=["%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y"],
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "off"}),
        error_messages={"invalid": "Enter the date of birth as MM/DD/YYYY."},
    )
    ssn_last4 = forms.CharField(
        label="Last 4 of SSN",
        required=False,
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "size": 4}),
    )
    code = forms.CharField(
        label="Code the caller reads back",
        required=False,
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
    )

    def __init__(self, *args, account: User, **kwargs):
        kwargs.setdefault("prefix", PREFIX)
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [
            (channel.pk, f"{channel.get_kind_display()} {shown_address(channel)}")
            for channel in caller_channels(account)
        ]

    def clean_huid(self) -> str:
        value = self.cleaned_data["huid"].strip()
        if value and not _digits_only(value, 8):
            raise forms.ValidationError("A Harvard ID is 8 digits.")
        return value

    def clean_ssn_last4(self) -> str:
        value = self.cleaned_data["ssn_last4"].strip()
        if value and not _digits_only(value, 4):
            raise forms.ValidationError("Enter the last 4 digits of the SSN.")
        return value

    def clean_code(self) -> str:
        value = self.cleaned_data["code"]
        if not value.strip():
            return ""
        code = normalize_code(value)
        if code is None:
            raise forms.ValidationError("Enter the 6-digit code")
        return code

    def answers(self) -> CallerAnswers:
        data = self.cleaned_data
        return CallerAnswers(
            huid=data.get("huid", ""),
            date_of_birth=data.get("date_of_birth"),
            ssn_last4=data.get("ssn_last4", ""),
            code=data.get("code", ""),
        )


def _digits_only(value: str, length: int) -> bool:
    from accounts.normalize import digits

    return len(digits(value)) == length


@panel_context("verify")
def verify_panel(account: User, request: HttpRequest) -> dict[str, Any]:
    allowed = request.user.has_perm(PERMISSION) and may_act_on(request.user, account)
    return {
        "may_verify": allowed,
        "verify_form": CallerVerifyForm(account=account) if allowed else None,
        "on_file": on_file(account),
        "checks_left": caller_checks_left(agent=request.user, account=account) if allowed else 0,
        "checks_per_hour": CHECKS_PER_HOUR,
        "verified_minutes": int(app_settings.VERIFIED_CALL_TTL.total_seconds() // 60),
    }


@sensitive_post_parameters(
    f"{PREFIX}-huid", f"{PREFIX}-date_of_birth", f"{PREFIX}-ssn_last4", f"{PREFIX}-code"
)
@never_cache
@require_POST
def verify_view(request: HttpRequest, pk: int):
    """ "Send a code to the caller" or "Check", then back to the person's page."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    account = get_object_or_404(User.objects.select_related("person"), pk=pk)
    if not may_act_on(request.user, account):
        raise PermissionDenied
    page = reverse("admin:servicedesk_deskaccount_change", args=[account.pk])
    form = CallerVerifyForm(request.POST, account=account)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else "Verify the caller"
            for error in errors:
                messages.error(request, f"{label}: {error}")
        return redirect(page)
    if request.POST.get("do") == SEND:
        return _send(request, form, account, page)
    return _check(request, form, account, page)


def _send(request, form: CallerVerifyForm, account: User, page: str):
    channel_id = form.cleaned_data.get("channel")
    if not channel_id:
        messages.error(request, "Choose where the code goes.")
        return redirect(page)
    try:
        channel = caller_code_send(
            agent=request.user, account=account, channel_id=channel_id, request=request
        )
    except SafeCodeError as refused:
        retry = getattr(refused, "retry_after", None) or getattr(refused, "until", None)
        tail = (
            f" A code can be sent again at {local_datetime(retry, 'TIME_FORMAT')}." if retry else ""
        )
        messages.error(request, f"No code was sent: {refused.message}{tail}")
        return redirect(page)
    messages.success(
        request,
        f"Sent a code to {channel.get_kind_display().lower()} {shown_address(channel)}. Ask the "
        "caller to read it to you, type it under “Code the caller reads back” and press Check.",
    )
    return redirect(page)


def _check(request, form: CallerVerifyForm, account: User, page: str):
    answers = form.answers()
    if not answers.given():
        messages.error(request, "Type what the caller says, or the code they read back.")
        return redirect(page)
    try:
        outcome = caller_check(
            agent=request.user, account=account, answers=answers, request=request
        )
    except CallerCheckThrottled as throttled:
        messages.error(
            request,
            f"You have checked this caller {CHECKS_PER_HOUR} times in the last hour; you can "
            f"check again at {local_datetime(throttled.retry_after, 'TIME_FORMAT')}. If the "
            "caller cannot answer, verify them another way.",
        )
        return redirect(page)
    level = (
        messages.success if all(outcome.results.values()) and outcome.results else messages.warning
    )
    level(request, outcome.summary())
    if outcome.code_locked_until:
        messages.warning(
            request,
            "Too many wrong codes were typed: caller codes are paused until "
            f"{local_datetime(outcome.code_locked_until)}.",
        )
    if outcome.verified:
        minutes = int(app_settings.VERIFIED_CALL_TTL.total_seconds() // 60)
        messages.success(
            request,
            f"The caller is verified: for {minutes} minutes your actions on this account need "
            "no written reason.",
        )
    else:
        messages.warning(
            request,
            "The caller is not verified. A call is verified by the SafeCode read back, or by "
            "the Harvard ID, date of birth and last 4 of the SSN all matching.",
        )
    return redirect(page)
