"""The page a service-desk reset link opens (``accounts.services.reset_link``).

A GET only shows a button, so that a mail scanner or a link preview that fetches the URL
does not use the link up. Pressing it uses the link once and continues the forgotten-password
journey where a proven SafeCode would (``accounts.journeys.FORGOT``, stage "check"): a second
factor (or a bypass code) for an account with two-factor, then the new password, then "sign in
with your new password". The token is not in any later URL.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.journeys import FORGOT
from accounts.services.reset_link import reset_link_live, reset_link_open


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def reset_link(request, token: str):
    if request.method == "GET":
        if not reset_link_live(token):
            return render(request, "accounts/reset_link_invalid.html", status=404)
        return render(request, "accounts/reset_link.html")
    user = reset_link_open(token=token, request=request)
    if user is None:
        return render(request, "accounts/reset_link_invalid.html", status=404)
    request.session.cycle_key()  # proven: a step up, so a new session key
    run = FORGOT.flow.run(request)
    run.begin()
    # As after the journey's SafeCode: on to its "check" stage (the extra proofs such as a
    # second factor, accounts.reset_proofs), then the new password.
    return run.done("code", subject=None, user_id=user.pk, username=user.username)
