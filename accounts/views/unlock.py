"""Unlock at /unlock/ ("Locked Personal Account"): username and CAPTCHA -> send a SafeCode ->
enter it -> unlocked, with a "Sign in now" button.

Every page before the code is proven is the same for any username (accounts.services.unlock
says how). The flow's stage and what was typed sit under one session key (portal.flows), with
the limits on codes sent and wrong codes counted there too, so that they read alike for every
username.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.app_settings import app_settings
from accounts.captcha import PortalCaptchaField
from accounts.services.quiet_codes import ALL_CONTACTS
from accounts.services.unlock import unlock_send_code, unlock_with_code
from portal.flows import SessionFlow
from safecode.forms import CodeForm
from safecode.models import Channel

STAGE_SEND = "send"
STAGE_CODE = "code"
STEPS = ["Your username", "Send a SafeCode", "Enter the code", "Unlocked"]

WRONG_CODE = (
    "That code is not right, or it has expired. Check the newest message, or send a new code."
)
TOO_MANY_CODES = "Too many codes were asked for or tried. Start again."


class UnlockStartForm(forms.Form):
    username = forms.CharField(
        label="Username or Harvard ID",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    captcha = PortalCaptchaField()


class ChannelKindForm(forms.Form):
    """Where the code goes, named generically: no number or address is shown before the code
    is proven. Every SafeCode contact by default, so that a person who does not remember which
    one the account holds gets the code at the first try rather than after a minute's wait."""

    kind = forms.ChoiceField(
        label="Where should we send the code?",
        choices=[
            (ALL_CONTACTS, "All my SafeCode contacts"),
            (Channel.Kind.PHONE, "Text message to my SafeCode mobile phone"),
            (Channel.Kind.EMAIL, "Email to my SafeCode email address"),
        ],
        initial=ALL_CONTACTS,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose where the code goes.",
            "invalid_choice": "Choose where the code goes.",
        },
    )


def send_wait(flow: SessionFlow) -> int:
    """Seconds until this flow may ask for another code (0: now); -1 when it has asked for
    as many as it may. Counted in the session only, so it reads alike for every account."""
    if flow.get("sends", 0) >= app_settings.RECOVERY_SENDS_PER_FLOW:
        return -1
    last = flow.get("last_send") or 0
    wait = last + app_settings.RECOVERY_RESEND_INTERVAL.total_seconds()
    return max(int(wait - timezone.now().timestamp() + 0.999), 0)


def code_limits(flow: SessionFlow) -> dict:
    """What the limits line of the send and code pages says: codes are limited, and when this
    flow may ask for another. From the flow's own counters only, never from the account's
    throttles, so that it reads alike for every username."""
    return {
        "wait": send_wait(flow),
        "interval": int(app_settings.RECOVERY_RESEND_INTERVAL.total_seconds()),
        "per_flow": app_settings.RECOVERY_SENDS_PER_FLOW,
    }


def note_send(flow: SessionFlow, stage: str, **data) -> None:
    flow.advance(
        stage, sends=flow.get("sends", 0) + 1, last_send=timezone.now().timestamp(), **data
    )


def note_wrong_code(flow: SessionFlow, stage: str) -> bool:
    """Count one wrong code; True when the flow has had its last try (and is cleared)."""
    attempts = flow.get("attempts", 0) + 1
    if attempts >= app_settings.RECOVERY_CODE_ATTEMPTS:
        flow.clear()
        return True
    flow.advance(stage, attempts=attempts)
    return False


def _flow(request) -> SessionFlow:
    return SessionFlow(request, "unlock", timeout=app_settings.FLOW_TIMEOUT)


def _start_again():
    return redirect(f"{reverse('accounts:unlock')}?again=1")


def _page(request, template: str, step: int, **context):
    return render(request, template, {"steps": STEPS, "current": step, **context})


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def unlock(request):
    """Step 1: the username and the CAPTCHA. Nothing is looked up yet."""
    initial = {"username": request.GET.get("username", "")[:150]}
    form = UnlockStartForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        _flow(request).start(STAGE_SEND, login=form.cleaned_data["username"])
        return redirect("accounts:unlock_send")
    restarted = request.GET.get("again") == "1"
    return _page(request, "accounts/unlock.html", 1, form=form, restarted=restarted)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def unlock_send(request):
    """Step 2: choose every SafeCode contact, a text message or an email, and send a new
    code."""
    flow = _flow(request)
    if flow.stage not in (STAGE_SEND, STAGE_CODE):
        return redirect("accounts:unlock")
    form = ChannelKindForm(request.POST or None, initial={"kind": flow.get("kind", ALL_CONTACTS)})
    if request.method == "POST" and form.is_valid():
        wait = send_wait(flow)
        if wait < 0:
            flow.clear()
            return _start_again()
        if wait:
            form.add_error(None, f"A new code can be sent once a minute. Wait {wait} seconds.")
        else:
            kind = form.cleaned_data["kind"]
            unlock_send_code(
                login=flow.get("login"), kind=kind, binding=flow.binding, request=request
            )
            note_send(flow, STAGE_CODE, kind=kind, attempts=flow.get("attempts", 0))
            return redirect("accounts:unlock_code")
    return _page(request, "accounts/unlock_send.html", 2, form=form, limits=code_limits(flow))


@login_not_required
@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def unlock_code(request):
    """Step 3: the code. Only a proven code says anything about the account."""
    flow = _flow(request)
    if flow.stage != STAGE_CODE:
        return redirect("accounts:unlock")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = unlock_with_code(
            login=flow.get("login"),
            code=form.cleaned_data["code"],
            binding=flow.binding,
            request=request,
        )
        if user is not None:
            flow.clear()
            return _page(request, "accounts/unlock_done.html", 4, unlocked_user=user)
        if note_wrong_code(flow, STAGE_CODE):
            return _start_again()
        form.add_error("code", WRONG_CODE)
    return _page(
        request,
        "accounts/unlock_code.html",
        3,
        form=form,
        kind=flow.get("kind"),
        limits=code_limits(flow),
    )
