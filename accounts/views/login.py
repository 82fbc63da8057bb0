from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.forms import LoginForm, captcha_answered
from accounts.services.signin import (
    SignInOutcome,
    request_ip,
    signin_attempt,
    signin_captcha_need,
    signin_captcha_needed,
    signin_captcha_required,
)
from accounts.stages import PendingSignIn, signin_begin, signin_continue
from audit.services import audit_record
from portal.http import is_safe_next

# One answer for every refusal: a wrong password, an unknown name, and a right password on a
# locked or inactive account read alike (accounts.services.signin).
WRONG_CREDENTIALS = (
    "The username or password is not right, or the account cannot be used to sign in. "
    "Check them and try again."
)
# From this many recent failures for the typed name, the page warns before the lock.
WARN_AFTER_FAILURES = 5
CAPTCHA_NEEDED = "After several failed sign-ins, type the characters in the picture as well."
# The page a post without a CAPTCHA is sent back to (failures from this address, or across
# the portal): the person may never have failed, and what they typed is not kept.
CAPTCHA_FOR_EVERYONE = (
    "Many sign-ins have failed recently, so before checking a password the portal now asks "
    "for the characters in the picture. Type your name and password again, and the characters."
)


@login_not_required
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not is_safe_next(request, next_url):
        next_url = ""
    ip = request_ip(request)
    if request.method != "POST":
        form = LoginForm(captcha=signin_captcha_required(ip=ip, request=request))
        return render(request, "accounts/login.html", {"form": form, "next": next_url})

    typed = request.POST.get("username", "")
    need = signin_captcha_need(ip=ip, login=typed, request=request)
    if need.page and not captcha_answered(request.POST):
        # Posted from a page that had no CAPTCHA, when the page now shows one whatever the
        # name: back to it, which costs no rendering. A spray from many addresses is answered
        # here, before any password is checked, at the price of a redirect.
        messages.error(request, CAPTCHA_FOR_EVERYONE)
        return redirect(_login_url(next_url), permanent=False)
    form = LoginForm(request.POST, captcha=need.name)
    if form.is_valid():
        result = signin_attempt(
            login=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
            request=request,
            captcha_passed=form.has_captcha,
            counts=need.counts if form.cleaned_data["username"] == typed else None,
        )
        if result.outcome is SignInOutcome.OK:
            return signin_begin(request, result.user, next_url)
        if result.outcome is SignInOutcome.THROTTLED:
            return render(request, "accounts/throttled.html", status=HTTPStatus.TOO_MANY_REQUESTS)
        # Shown with the name as typed and, when one is needed now, a CAPTCHA to answer. The
        # counts are those the attempt read, with its own failure: not read again.
        counts = result.counts
        form = LoginForm(
            {"username": typed},
            captcha=signin_captcha_needed(counts, request=request, login=typed),
        )
        form.is_valid()
        form.errors.clear()
        needed = result.outcome is SignInOutcome.CAPTCHA_REQUIRED
        form.add_error(None, CAPTCHA_NEEDED if needed else WRONG_CREDENTIALS)
        failures = counts.login_captcha_window
        if failures >= WARN_AFTER_FAILURES:
            return render(
                request,
                "accounts/login.html",
                {"form": form, "next": next_url, "recent_failures": failures},
            )
    else:
        form.data = form.data.copy()
        form.data["password"] = ""
    return render(request, "accounts/login.html", {"form": form, "next": next_url})


def _login_url(next_url: str) -> str:
    url = reverse("accounts:login")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


@login_not_required
@never_cache
def continue_view(request):
    """Where a journey that ends in a sign-in sends a repeated post: on to the next stage of
    the pending sign-in, or, once signed in, to the portal."""
    if PendingSignIn(request).state is None and request.user.is_authenticated:
        return redirect("home")
    return signin_continue(request)


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        audit_record(event="signout", subject=request.user, request=request)
    logout(request)
    return redirect("home")
