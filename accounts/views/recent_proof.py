"""Confirm it is you: the fresh proof asked for before recovery contacts change
(``accounts.services.recent_proof``): the password, then a code to a SafeCode already held."""

from __future__ import annotations

from http import HTTPStatus

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.forms import ConfirmPasswordForm
from accounts.services import recent_proof as proof
from accounts.services.signin import SignInOutcome, request_ip, signin_captcha_required
from portal.http import is_safe_next
from safecode.errors import SafeCodeInvalidFormat, SafeCodeLockedOut, SafeCodeThrottled
from safecode.forms import CodeForm, SendCodeForm
from safecode.services import CheckResult

WRONG_PASSWORD = "That is not your password. Ten wrong passwords in a row lock the account."  # noqa: S105
STEPS = ("Your password", "A SafeCode", "Done")


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if is_safe_next(request, target) else reverse("safecode:manage")


def _page(request, template, step, status=HTTPStatus.OK, **context):
    context = {"steps": STEPS, "current": step, "next": _next(request), **context}
    return render(request, template, context, status=status)


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def confirm_password(request):
    user = request.user
    if proof.recent_proof_satisfied(request, user):
        return redirect(_next(request))
    if proof.recent_proof_password_done(request, user):
        return redirect(f"{reverse('accounts:recent_proof_code')}?next={_next(request)}")
    captcha = signin_captcha_required(ip=request_ip(request), login=user.get_username())
    form = ConfirmPasswordForm(request.POST or None, captcha=captcha)
    status = HTTPStatus.OK
    if request.method == "POST" and form.is_valid():
        outcome = proof.recent_proof_confirm_password(
            request=request,
            user=user,
            password=form.cleaned_data["password"],
            captcha_passed="captcha" in form.fields,
        )
        if outcome is SignInOutcome.OK:
            if proof.recent_proof_satisfied(request, user):
                return redirect(_next(request))
            return redirect(f"{reverse('accounts:recent_proof_code')}?next={_next(request)}")
        if outcome is SignInOutcome.THROTTLED:
            return render(request, "accounts/throttled.html", status=HTTPStatus.TOO_MANY_REQUESTS)
        captcha = signin_captcha_required(ip=request_ip(request), login=user.get_username())
        form = ConfirmPasswordForm(captcha=captcha)
        status = HTTPStatus.BAD_REQUEST
        error = (
            "Type the characters in the picture as well."
            if outcome is SignInOutcome.CAPTCHA_REQUIRED
            else WRONG_PASSWORD
        )
        return _page(
            request, "accounts/recent_proof_password.html", 1, status=status, form=form, error=error
        )
    if form.errors:
        status = HTTPStatus.BAD_REQUEST
    return _page(request, "accounts/recent_proof_password.html", 1, status=status, form=form)


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def confirm_code(request):
    user = request.user
    if proof.recent_proof_satisfied(request, user):
        return redirect(_next(request))
    if not proof.recent_proof_password_done(request, user):
        return redirect(f"{reverse('accounts:recent_proof')}?next={_next(request)}")
    send_form = SendCodeForm(user=user)
    code_form = CodeForm()
    throttle = locked_until = None
    sent_to = ""
    status = HTTPStatus.OK
    if request.method == "POST" and request.POST.get("action") == "send":
        send_form = SendCodeForm(request.POST, user=user)
        if send_form.is_valid():
            channel = send_form.cleaned_data["channel"]
            try:
                proof.recent_proof_send_code(request=request, user=user, channel=channel)
            except SafeCodeThrottled as exc:
                throttle, status = exc, HTTPStatus.TOO_MANY_REQUESTS
            except SafeCodeLockedOut as exc:
                locked_until, status = exc.until, HTTPStatus.TOO_MANY_REQUESTS
            else:
                sent_to = channel.masked
    elif request.method == "POST":
        code_form = CodeForm(request.POST)
        status = HTTPStatus.BAD_REQUEST
        if code_form.is_valid():
            try:
                result = proof.recent_proof_confirm_code(
                    request=request, user=user, code=code_form.cleaned_data["code"]
                )
            except SafeCodeInvalidFormat as exc:
                code_form.add_error("code", str(exc))
            except SafeCodeLockedOut as exc:
                locked_until, status = exc.until, HTTPStatus.TOO_MANY_REQUESTS
            else:
                if result is CheckResult.ACCEPTED:
                    return redirect(_next(request))
                code_form.add_error("code", result.message)
    return _page(
        request,
        "accounts/recent_proof_code.html",
        2,
        status=status,
        send_form=send_form,
        code_form=code_form,
        throttle=throttle,
        locked_until=locked_until,
        sent_to=sent_to,
    )
