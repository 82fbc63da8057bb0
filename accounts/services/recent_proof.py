"""A fresh proof beyond the session before recovery contacts change.

A signed-in session alone must not be able to take an account's recovery over (SECURITY.md,
Two-factor: binding a new authenticator needs the strongest factor). Adding, replacing or
removing a SafeCode phone or email, and changing the contact email, need:

1. the account's password, entered within ``RECENT_PROOF_TTL`` (through the sign-in service,
   so a wrong one counts toward the lock like any other, and the CAPTCHA rule applies), and
2. when the account already has a verified SafeCode channel, a code sent to one of them and
   entered within the same time.

The first SafeCode registration, when none exists, needs only the session: that is the prompt
after sign-in. The proof lives in the session under one key, bound to the account, with the
time of each step; codes for it are bound to the session as well.

The services that make those changes call ``recent_proof_require`` themselves, so no page can
skip it; their views send people to the confirmation page and back.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import User
from accounts.services.signin import SignInOutcome, signin_attempt
from audit.models import AuditEvent
from audit.services import audit_record

SESSION_KEY = "recent_proof"


class RecentProofRequired(Exception):
    """The change needs a fresh proof first (``accounts:recent_proof``)."""


def _state(request: HttpRequest, user: User) -> dict:
    state = request.session.get(SESSION_KEY) or {}
    if state.get("user_id") != user.pk:
        state = {"user_id": user.pk, "binding": secrets.token_urlsafe(18)}
    return state


def _fresh(stamp: float | None) -> bool:
    if not stamp:
        return False
    return timezone.now().timestamp() - stamp < app_settings.RECENT_PROOF_TTL.total_seconds()


def recent_proof_needs_code(user: User) -> bool:
    from safecode.selectors import user_has_verified_channel

    return user_has_verified_channel(user)


def recent_proof_password_done(request: HttpRequest, user: User) -> bool:
    return _fresh(_state(request, user).get("password_at"))


def recent_proof_satisfied(request: HttpRequest | None, user: User) -> bool:
    """Whether ``request``'s session holds a fresh proof for ``user``."""
    if request is None or not hasattr(request, "session"):
        return False
    state = _state(request, user)
    if not _fresh(state.get("password_at")):
        return False
    return not recent_proof_needs_code(user) or _fresh(state.get("code_at"))


def recent_proof_require(*, request: HttpRequest | None, user: User, change: str) -> None:
    """Raise ``RecentProofRequired`` unless the session holds a fresh proof for ``user``."""
    if recent_proof_satisfied(request, user):
        return
    audit_record(
        event="recent_proof.required",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
        change=change,
    )
    raise RecentProofRequired


def recent_proof_binding(request: HttpRequest, user: User) -> str:
    state = _state(request, user)
    request.session[SESSION_KEY] = state
    return state["binding"]


def recent_proof_confirm_password(
    *, request: HttpRequest, user: User, password: str, captcha_passed: bool = False
) -> SignInOutcome:
    """Check the account's password through the sign-in service and record the step."""
    result = signin_attempt(
        login=user.get_username(),
        password=password,
        request=request,
        captcha_passed=captcha_passed,
    )
    if result.outcome is SignInOutcome.OK and result.user is not None and result.user == user:
        state = _state(request, user)
        state["password_at"] = timezone.now().timestamp()
        request.session[SESSION_KEY] = state
        audit_record(event="recent_proof.password", subject=user, request=request)
        return SignInOutcome.OK
    return result.outcome if result.outcome is not SignInOutcome.OK else SignInOutcome.INVALID


def recent_proof_send_code(*, request: HttpRequest, user: User, channel) -> None:
    """Send a code to one of the account's verified SafeCode channels (raises like
    ``safecode_issue``)."""
    from safecode.models import Purpose
    from safecode.services import safecode_issue

    safecode_issue(
        user=user,
        purpose=Purpose.RECENT_PROOF,
        channel=channel,
        request=request,
        binding=recent_proof_binding(request, user),
    )


def recent_proof_confirm_code(*, request: HttpRequest, user: User, code: str):
    """Check the code; on success record the step. Returns a ``CheckResult`` (raises like
    ``safecode_check``)."""
    from safecode.models import Purpose
    from safecode.services import CheckResult, safecode_check

    result = safecode_check(
        user=user,
        purpose=Purpose.RECENT_PROOF,
        code=code,
        request=request,
        binding=recent_proof_binding(request, user),
    )
    if result is CheckResult.ACCEPTED:
        request.session.cycle_key()  # a step-up: rotate the session key
        state = _state(request, user)
        state["code_at"] = timezone.now().timestamp()
        request.session[SESSION_KEY] = state
    return result


def recent_proof_record_second_factor(request: HttpRequest, user: User) -> None:
    """A second factor just entered at the step-up (``twofactor:confirm``) is a fresh proof.

    The device is the account's strongest factor: a code from it, on a session the password
    opened, proves more than the password and a SafeCode together, so changing SafeCode
    contacts or the contact email right after it does not ask again. Both steps are stamped,
    bound to the account like every proof, and last ``RECENT_PROOF_TTL`` as they do.
    """
    state = _state(request, user)
    now = timezone.now().timestamp()
    state["password_at"] = now
    state["code_at"] = now
    request.session[SESSION_KEY] = state
    audit_record(event="recent_proof.second_factor", subject=user, request=request)


def confirm_it_is_you(next_url: str):
    """The redirect to the confirmation page, coming back to ``next_url``."""
    from urllib.parse import urlencode

    from django.shortcuts import redirect
    from django.urls import reverse

    return redirect(f"{reverse('accounts:recent_proof')}?{urlencode({'next': next_url})}")


def recent_proof_forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
