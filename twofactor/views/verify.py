"""The second step of sign-in: choose a device and a method, then enter its passcode.

Served only while the pending sign-in waits for the second factor (``twofactor.stages``) and
for ``PENDING_TIMEOUT`` after the password; the session holds no password, and nothing of the
account is reachable until ``signin_continue`` starts the session. Each passcode is checked
against the one device and method the person chose (``second_factor_verify``). A bypass code
from the service desk ("Enter a bypass code", ``twofactor.bypass``) passes this step once
too; it remembers no browser, and the session it starts is not verified with a device (the
console refuses it, and a change still asks for a device).

``The device-and-method choice is ``twofactor.choice.MethodChoice``, shared with the step-up
before a change and the second factor of a password reset.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.stages import PendingSignIn, sign_in_again, signin_continue
from twofactor.choice import MethodChoice, locked_page, passcode_sent_forget, signin_flow
from twofactor.guards import second_step_timed_out
from twofactor.remember import remember_cookie_set
from twofactor.services import (
    browser_remember,
    otp_device_for,
)
from twofactor.stages import SecondFactorStage

# The page ------------------------------------------------------------------------------------


@login_not_required
@never_cache
@sensitive_post_parameters("code", "bypass-code")
@require_http_methods(["GET", "POST"])
def verify(request):
    pending = PendingSignIn(request)
    user = pending.user
    if user is not None and not second_step_timed_out(pending):
        if not pending.is_pending(SecondFactorStage.name):
            # Another stage is waiting (or none): the pipeline knows where to go.
            return signin_continue(request)
    else:
        pending.clear()
        if request.user.is_authenticated:
            return redirect("home")
        return sign_in_again(request)

    choice = MethodChoice(request, user, flow=signin_flow(pending), remember=True, bypass=True)
    if request.method == "POST":
        outcome = choice.handle_post()
        if outcome.bypass:
            pending.set_handled(SecondFactorStage.name, {"bypass": True})
            passcode_sent_forget(request)
            return signin_continue(request)
        if outcome.verified:
            device = outcome.result.device
            otp = otp_device_for(device, outcome.method)
            pending.set_handled(SecondFactorStage.name, {"otp": otp.persistent_id})
            passcode_sent_forget(request)
            response = signin_continue(request, proven=user)
            if outcome.remember:
                user_agent = request.headers.get("User-Agent", "")
                remember_cookie_set(response, browser_remember(user=user, user_agent=user_agent))
            return response
        if outcome.locked:
            pending.clear()
            passcode_sent_forget(request)
            return locked_page(request, "twofactor/verify.html")
    return render(request, "twofactor/verify.html", choice.context(), status=choice.status)
