"""The second factor of a forgotten-password reset (``twofactor.recovery``).

Served only while the reset of an account with a device waits for it, after the SafeCode
(``accounts.reset_proofs``): the same choice of device and method as the sign-in's second
step. Someone who lost every device is sent to the service desk; the SafeCode alone never
resets such an account; a bypass code the desk gave after confirming who they are does
("Enter a bypass code", ``twofactor.bypass``).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.reset_proofs import reset_proof_account, reset_proof_passed
from twofactor.choice import MethodChoice, locked_page, passcode_sent_forget
from twofactor.recovery import SecondFactorResetProof


@login_not_required
@never_cache
@sensitive_post_parameters("code", "bypass-code")
@require_http_methods(["GET", "POST"])
def reset_verify(request):
    user = reset_proof_account(request)
    if user is None:
        return redirect("accounts:password_forgot")
    choice = MethodChoice(request, user, flow=f"reset:{user.pk}", remember=False, bypass=True)
    if request.method == "POST":
        outcome = choice.handle_post()
        if outcome.verified:
            passcode_sent_forget(request)
            return reset_proof_passed(request, SecondFactorResetProof.name)
        if outcome.locked:
            passcode_sent_forget(request)
            return locked_page(request, "twofactor/reset.html")
    return render(request, "twofactor/reset.html", choice.context(), status=choice.status)
