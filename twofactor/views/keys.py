"""The options of a security-key ceremony, as JSON, for static/js/webauthn.js.

Each is a POST with the page's CSRF token, answered only to someone in a state that may ask:
- registration, inside the enrollment wizard at its "key" stage, with the proof it asks for
  (``twofactor.views.enroll``);
- authentication, for the page the person is on (``step``): the second step of a sign-in that
  waits for it (``signin``), the step-up of a signed-in person (``step_up``), or the second
  factor of a password reset (``reset``), each finding its account as its page does.

The answer of the key goes back with the page's own form, never here: this view only hands
out challenges, and nothing in it signs anyone in.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.reset_proofs import reset_proof_account
from accounts.stages import PendingSignIn
from twofactor.guards import enroll_proof_refusal, second_step_timed_out
from twofactor.journeys import ENROLL
from twofactor.policy import user_devices
from twofactor.security_keys import (
    SecurityKeyError,
    key_authentication_options,
    key_registration_options,
)
from twofactor.stages import SecondFactorStage

PAGE_EXPIRED = "This page has expired. Reload it and try again."
CHOOSE_KEY = "Choose one of your security keys."


def _refuse(message: str, status: HTTPStatus) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@never_cache
@require_POST
def registration_options(request: HttpRequest) -> JsonResponse:
    """The options to register a key, for the wizard's key stage only."""
    flow = ENROLL.run(request)
    if flow.current != "key" or enroll_proof_refusal(request) is not None:
        return _refuse(PAGE_EXPIRED, HTTPStatus.FORBIDDEN)
    return JsonResponse(key_registration_options(user=request.user, request=request))


def _ceremony_user(request: HttpRequest, step: str) -> User | None:
    """The account the page of ``step`` is for, found as that page finds it; None when the
    session is in no state to ask."""
    if step == "signin":
        pending = PendingSignIn(request)
        user = pending.user
        if (
            user is None
            or second_step_timed_out(pending)
            or not pending.is_pending(SecondFactorStage.name)
        ):
            return None
        return user
    if step == "step_up":
        return request.user if request.user.is_authenticated else None
    if step == "reset":
        return reset_proof_account(request)
    return None


@login_not_required
@never_cache
@require_POST
def authentication_options(request: HttpRequest) -> JsonResponse:
    """The options to ask the key of the chosen device (``device``) for its answer."""
    user = _ceremony_user(request, request.POST.get("step", ""))
    if user is None:
        return _refuse(PAGE_EXPIRED, HTTPStatus.FORBIDDEN)
    raw = request.POST.get("device", "")
    device_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else None
    device = user_devices(user).filter(pk=device_id).first() if device_id else None
    if device is None:
        return _refuse(CHOOSE_KEY, HTTPStatus.BAD_REQUEST)
    try:
        options = key_authentication_options(user=user, device=device, request=request)
    except SecurityKeyError as exc:
        return _refuse(exc.message, HTTPStatus.BAD_REQUEST)
    return JsonResponse(options)
