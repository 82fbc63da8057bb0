"""Who may be where in the two-factor pages: shared by the pages and the JSON endpoints that
serve them (the enrollment wizard and its key options, the second step and its key options).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.services.recent_proof import confirm_it_is_you, recent_proof_satisfied
from accounts.stages import PendingSignIn
from safecode.selectors import user_has_verified_channel
from twofactor.app_settings import app_settings
from twofactor.freshness import second_factor_is_fresh
from twofactor.policy import user_has_device


def second_step_timed_out(pending: PendingSignIn) -> bool:
    """Whether the sign-in waiting for its second factor is older than ``PENDING_TIMEOUT``."""
    age = timezone.now().timestamp() - pending.started_at
    return not pending.started_at or age > app_settings.PENDING_TIMEOUT.total_seconds()


def enroll_proof_refusal(request) -> HttpResponse | None:
    """Where to send someone who has not proven enough to add a device, or None.

    Someone holding only the password must not bind their own phone to the account: the first
    device needs "Confirm it is you" with a SafeCode (so an account with no SafeCode contact
    registers one first), and a later device a second factor from one the account has.
    """
    user = request.user
    back = request.get_full_path() if request.method == "GET" else request.path
    if user_has_device(user):
        if second_factor_is_fresh(request):
            return None
        return redirect(f"{reverse('twofactor:confirm')}?{urlencode({'next': back})}")
    if not user_has_verified_channel(user):
        return render(request, "twofactor/enroll/safecode_needed.html")
    if not recent_proof_satisfied(request, user):
        return confirm_it_is_you(back)
    return None
