"""Expiring and expired passwords, at sign-in.

An expired password (or one an administrator set) is a stage of the sign-in pipeline
(``accounts.stages.ExpiredPasswordStage``): the session holds a pending sign-in (the account,
where to go next and an absolute deadline, never a password) and is not signed in until the
new password is set. The journey (``accounts.journeys.EXPIRED``) is a CAPTCHA -> a SafeCode
(``accounts.views.password_safecode``) -> the new password; then ``signin_continue`` starts
the session. An account without SafeCode first registers a channel, confirmed by a code sent
to it, since the person has just given the right (expired) password.

A password due to expire soon gets a warning after sign-in: change it now, or continue.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from accounts.forms import CaptchaForm, NewPasswordForm
from accounts.journeys import EXPIRED, password_changed_url
from accounts.services.expiry import password_expiry_warning
from accounts.services.password_change import password_apply
from accounts.stages import ExpiredPasswordStage, PendingSignIn, signin_continue
from portal.flows import FlowRun
from portal.http import is_safe_next
from safecode.errors import SafeCodeInvalidFormat, SafeCodeLockedOut
from safecode.forms import ChannelForm, CodeForm
from safecode.selectors import channel_list_pending, channel_list_verified
from safecode.services import CheckResult, channel_register, channel_verify


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
@EXPIRED.flow.serves("start")
def start(request, flow: FlowRun):
    user = EXPIRED.user(request)
    if not channel_list_verified(user).exists():
        return redirect("accounts:password_expired_safecode")
    form = CaptchaForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return flow.start()
    return flow.render("accounts/password_captcha.html", journey=EXPIRED, form=form)


@login_not_required
@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
@EXPIRED.flow.serves("new")
def new_password(request, flow: FlowRun):
    """The new password; then the sign-in that was waiting completes."""
    user = EXPIRED.user(request)
    form = NewPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        password_apply(
            user=user, new_password=form.cleaned_data["password1"], how="expired", request=request
        )
        flow.clear()
        pending = PendingSignIn(request)
        pending.set_next(password_changed_url(pending.next_url))
        pending.set_handled(ExpiredPasswordStage.name)
        return signin_continue(request)
    return flow.render("accounts/password_new.html", journey=EXPIRED, form=form)


@login_not_required
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
@EXPIRED.flow.serves("start")
def register_safecode(request, flow: FlowRun):
    """An expired password on an account without SafeCode: the person who just gave the right
    (expired) password registers a phone or email, confirmed by a code sent to it, as the
    prompt after a sign-in would let them; then the journey goes on with that SafeCode."""
    user = EXPIRED.user(request)
    if channel_list_verified(user).exists():
        return redirect(EXPIRED.start_url)
    action = request.POST.get("action") if request.method == "POST" else None
    form = ChannelForm(request.POST if action == "register" else None, user=user)
    code_form = CodeForm(request.POST if action == "confirm" else None)
    waiting = channel_list_pending(user).first()
    if action == "register" and form.is_valid():
        try:
            channel_register(
                user=user,
                phone=form.cleaned_data["phone"],
                carrier=form.cleaned_data["carrier"],
                email=form.cleaned_data["email"],
                request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("accounts:password_expired_safecode")
    elif action == "confirm" and waiting is not None and code_form.is_valid():
        try:
            result = channel_verify(
                user=user, channel=waiting, code=code_form.cleaned_data["code"], request=request
            )
        except SafeCodeInvalidFormat as exc:
            code_form.add_error("code", str(exc))
        except SafeCodeLockedOut as exc:
            code_form.add_error("code", f"{exc.message} Call the IT Service Desk.")
        else:
            if result is CheckResult.ACCEPTED:
                return redirect(EXPIRED.start_url)
            code_form.add_error("code", result.message)
    status = HTTPStatus.BAD_REQUEST if form.errors or code_form.errors else HTTPStatus.OK
    return flow.render(
        "accounts/password_expired_safecode.html",
        status=status,
        journey=EXPIRED,
        form=form,
        code_form=code_form,
        waiting=waiting,
    )


@never_cache
@require_GET
def expiring(request):
    """ "Your password is due to expire": change it now, or continue."""
    next_url = request.GET.get("next", "")
    next_url = next_url if is_safe_next(request, next_url) else ""
    expires = password_expiry_warning(request.user)
    if expires is None:
        return redirect(next_url or "home")
    days = (timezone.localdate(expires) - timezone.localdate()).days
    return render(
        request,
        "accounts/password_expiring.html",
        {"expires": expires, "days": days, "next": next_url or reverse("home")},
    )
