from __future__ import annotations

from http import HTTPStatus

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.services.not_me import NOT_ME_DAYS, not_me_lookup, not_me_report


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def not_me(request, token: str):
    """The "this was not me" link of a change notice: confirm, then report to the desk."""
    if not_me_lookup(token) is None:
        return render(
            request,
            "accounts/not_me.html",
            {"invalid": True, "days": NOT_ME_DAYS},
            status=HTTPStatus.NOT_FOUND,
        )
    if request.method == "POST":
        not_me_report(token=token, request=request)
        return render(request, "accounts/not_me.html", {"reported": True})
    return render(request, "accounts/not_me.html", {})
