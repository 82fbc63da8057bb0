"""Change password (/preferences/security/password/), signed in: the current password and a
CAPTCHA -> a SafeCode (``accounts.views.password_safecode``) -> the new password -> what to
update. The current password is asked first, so a person who does not know it learns so
before a picture and a text message; a few wrong ones end the run.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib.auth import update_session_auth_hash
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from accounts.app_settings import app_settings
from accounts.forms import ChangeStartForm, NewPasswordForm
from accounts.journeys import CHANGE, password_changed_url
from accounts.reset_proofs import change_step_up
from accounts.services.password_change import (
    PLACES_TO_UPDATE,
    password_apply,
    password_current_matches,
)
from portal.flows import FlowRun
from portal.http import is_safe_next
from safecode.selectors import channel_list_verified

WRONG_CURRENT = "That is not your current password."
TOO_MANY_WRONG = "The current password was wrong too many times."


@never_cache
@sensitive_post_parameters("current_password")
@require_http_methods(["GET", "POST"])
@CHANGE.flow.serves("start")
def start(request, flow: FlowRun):
    user = request.user
    step_up = change_step_up(request, CHANGE.start_url)
    if step_up:
        return redirect(step_up)
    if not channel_list_verified(user).exists():
        return flow.render("accounts/password_no_safecode.html", journey=CHANGE)
    if not flow.active:
        flow.begin()
    form = ChangeStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data["current_password"]
        if password_current_matches(user=user, password=password, request=request):
            return flow.start()
        failures = flow.get("current_failures", 0) + 1
        if failures >= app_settings.CURRENT_PASSWORD_ATTEMPTS:
            return flow.restart(TOO_MANY_WRONG)
        flow.update(current_failures=failures)
        form = ChangeStartForm()
        form.fields["current_password"].widget.attrs["aria-invalid"] = "true"
        return flow.render(
            "accounts/password_captcha.html",
            status=HTTPStatus.BAD_REQUEST,
            journey=CHANGE,
            form=form,
            error=WRONG_CURRENT,
        )
    return flow.render("accounts/password_captcha.html", journey=CHANGE, form=form)


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
@CHANGE.flow.serves("new")
def new_password(request, flow: FlowRun):
    """The last step, once the current password and a SafeCode are proven: the new one twice."""
    user = request.user
    form = NewPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        password_apply(
            user=user, new_password=form.cleaned_data["password1"], how="change", request=request
        )
        update_session_auth_hash(request, user)
        return flow.done("new", then=password_changed_url())
    return flow.render("accounts/password_new.html", journey=CHANGE, form=form)


@never_cache
@require_GET
def changed(request):
    """After any change: what to update so that an old password does not lock the account."""
    next_url = request.GET.get("next", "")
    return render(
        request,
        "accounts/password_done.html",
        {"places": PLACES_TO_UPDATE, "next": next_url if is_safe_next(request, next_url) else ""},
    )
