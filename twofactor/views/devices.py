"""My Settings & Devices, and "Confirm with your device" before a change.

Every change (rename, remove, make default, "When I log in", forget a browser) is a POST to
its own URL and needs a fresh second factor: one entered within ``STEP_UP_FRESH``, at sign-in
or at the step-up page (``confirm``). Without one, the change is not made and the person is
sent to confirm and back. A remembered browser skipped the second factor, so it never counts.
"""

from __future__ import annotations

from functools import wraps
from http import HTTPStatus
from urllib.parse import urlencode

import django_otp
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from accounts.services.recent_proof import recent_proof_record_second_factor
from portal.http import browser_label, is_safe_next
from twofactor.choice import MethodChoice, locked_page, passcode_sent_forget
from twofactor.forms import LoginActionForm, RenameForm
from twofactor.freshness import second_factor_is_fresh, second_factor_mark_fresh
from twofactor.models import Profile, RememberedBrowser
from twofactor.policy import user_devices
from twofactor.remember import REMEMBER_COOKIE, remember_cookie_value
from twofactor.services import (
    LastDeviceRequired,
    TwoFactorError,
    browser_forget,
    browsers_remembered,
    device_make_default,
    device_remove,
    device_rename,
    login_action_set,
    otp_device_for,
)

# How long a second factor entered at sign-in or at the step-up lets changes be made.
STEP_UP_FLOW = "step_up"


# A fresh second factor ------------------------------------------------------------------------


def _confirm_first(next_url: str):
    return redirect(f"{reverse('twofactor:confirm')}?{urlencode({'next': next_url})}")


def _step_up_done(request: HttpRequest, user: User, device, method: str) -> None:
    """Mark the session verified with the device just used: a new session key (a step-up
    rotates it), django-otp's verified device (which the console reads), the freshness stamp,
    and the recent proof that SafeCode and contact email changes ask for."""
    request.session.cycle_key()
    django_otp.login(request, otp_device_for(device, method))
    second_factor_mark_fresh(request)
    recent_proof_record_second_factor(request, user)


def change(view):
    """A POST that changes the person's two-factor settings, made only with a fresh second
    factor; otherwise the person confirms with a device and comes back to the page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not second_factor_is_fresh(request):
            return _confirm_first(reverse("twofactor:devices"))
        return view(request, *args, **kwargs)

    return never_cache(require_POST(wrapped))


# The page -------------------------------------------------------------------------------------


def _this_browser_id(request: HttpRequest) -> int | None:
    browser_id, _, _ = remember_cookie_value(request).partition(":")
    return (
        int(browser_id)
        if browser_id.isascii() and browser_id.isdigit() and len(browser_id) < 12
        else None
    )


def _page(request, *, status=HTTPStatus.OK, rename_form=None, rename_pk=None, **context):
    user = request.user
    devices = list(user_devices(user))
    default = next((device for device in devices if device.is_default), None)
    profile = Profile.objects.filter(user=user).first()
    action = profile.login_action if profile else Profile.LoginAction.ASK
    rows = []
    for device in devices:
        form = rename_form if rename_pk == device.pk else None
        rows.append(
            {
                "device": device,
                "rename_form": form
                or RenameForm(initial={"name": device.name}, auto_id=f"id_rename{device.pk}_%s"),
            }
        )
    login_action_form = context.pop("login_action_form", None)
    can_auto = default is not None and (default.phone_id or "push" in default.methods)
    if login_action_form is None and can_auto:
        login_action_form = LoginActionForm(initial={"action": action}, default_device=default)
    this_browser = _this_browser_id(request)
    browsers = [
        {
            "browser": browser,
            "label": browser_label(browser.user_agent),
            "is_this_browser": browser.pk == this_browser,
        }
        for browser in browsers_remembered(user=user)
    ]
    return render(
        request,
        "twofactor/devices.html",
        {
            "rows": rows,
            "default_device": default,
            "login_action_form": login_action_form,
            "browsers": browsers,
            "fresh": second_factor_is_fresh(request),
            "page_has_errors": bool(rename_form is not None and rename_form.errors)
            or bool(login_action_form is not None and login_action_form.errors),
            **context,
        },
        status=status,
    )


@never_cache
@require_GET
def settings_page(request):
    return _page(request)


def _own_device(request, pk: int):
    return get_object_or_404(user_devices(request.user), pk=pk)


@change
def rename(request, pk: int):
    device = _own_device(request, pk)
    form = RenameForm(request.POST, auto_id=f"id_rename{device.pk}_%s")
    if not form.is_valid():
        return _page(request, status=HTTPStatus.BAD_REQUEST, rename_form=form, rename_pk=device.pk)
    try:
        device_rename(device=device, name=form.cleaned_data["name"], request=request)
    except TwoFactorError as exc:
        form.add_error("name", exc.message)
        return _page(request, status=HTTPStatus.BAD_REQUEST, rename_form=form, rename_pk=device.pk)
    messages.success(request, f"The device is now called {form.cleaned_data['name']}.")
    return redirect("twofactor:devices")


@change
def remove(request, pk: int):
    device = _own_device(request, pk)
    name = device.name
    try:
        device_remove(device=device, request=request)
    except LastDeviceRequired as exc:
        return _page(request, status=HTTPStatus.CONFLICT, remove_error=exc.message)
    messages.success(
        request,
        f"{name} was removed. Browsers that were remembered will ask for a second factor again.",
    )
    return redirect("twofactor:devices")


@change
def make_default(request, pk: int):
    device = _own_device(request, pk)
    device_make_default(device=device, request=request)
    messages.success(request, f"{device.name} is now your default device.")
    return redirect("twofactor:devices")


@change
def login_action(request):
    default = user_devices(request.user).filter(is_default=True).first()
    form = LoginActionForm(request.POST, default_device=default)
    if not form.is_valid():
        return _page(request, status=HTTPStatus.BAD_REQUEST, login_action_form=form)
    login_action_set(user=request.user, action=form.cleaned_data["action"], request=request)
    messages.success(request, "Saved what happens when you sign in.")
    return redirect("twofactor:devices")


@change
def forget_browser(request, pk: int):
    browser = get_object_or_404(RememberedBrowser, pk=pk, user=request.user)
    browser_forget(user=request.user, browser_id=browser.pk, request=request)
    messages.success(request, "That browser will ask for a second factor at the next sign-in.")
    response = redirect("twofactor:devices")
    if browser.pk == _this_browser_id(request):
        response.delete_cookie(REMEMBER_COOKIE, samesite="Lax")
    return response


# Confirm with your device -----------------------------------------------------------------


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if is_safe_next(request, target) else reverse("twofactor:devices")


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def confirm(request):
    """A signed-in person proves a device again: before a change here, before SafeCode or
    contact email changes, and before the console."""
    user = request.user
    next_url = _next(request)
    choice = MethodChoice(request, user, flow=STEP_UP_FLOW, remember=False)
    if not choice.devices:
        return redirect(f"{reverse('twofactor:enroll')}?{urlencode({'next': next_url})}")
    if request.method == "POST":
        outcome = choice.handle_post()
        if outcome.verified:
            _step_up_done(request, user, outcome.result.device, outcome.method)
            passcode_sent_forget(request)
            return redirect(next_url)
        if outcome.locked:
            passcode_sent_forget(request)
            logout(request)
            return locked_page(request, "twofactor/confirm.html")
    return render(
        request,
        "twofactor/confirm.html",
        {**choice.context(), "next": next_url},
        status=choice.status,
    )
