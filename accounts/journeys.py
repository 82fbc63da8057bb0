"""The portal's multi-request journeys, declared once: their stages, timeouts and services.

Each journey is a ``portal.flows.Flow`` (ordered stages under one session key, an idle and an
absolute deadline) plus what its shared pages need to know. Views serve one stage each, and
the URL configuration passes the journey to views that serve more than one (the send and
code pages of unlock and forgotten password; those of change and expired password).

- Registration: details -> code from the institutional mailbox -> username and password.
- Recovery, for someone who cannot sign in: unlock (username -> code -> unlocked) and
  forgotten password (details -> code -> new password -> done). Both answer alike for every
  account until a code is proven; they differ only in two service callables
  (``accounts.services.unlock``, ``accounts.services.recovery``) and their words.
- A known account: change password (signed in) and expired password (a stage of a pending
  sign-in, ``accounts.stages``): current password or CAPTCHA -> send a SafeCode to a channel
  shown masked -> enter it -> new password.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.app_settings import app_settings
from accounts.models import User
from accounts.services.recovery import RecoveryDetails, recovery_send_code, recovery_verify_code
from accounts.services.unlock import unlock_send_code, unlock_with_code
from accounts.stages import ExpiredPasswordStage, PendingSignIn, sign_in_again
from portal.flows import CodeVerification, Flow, FlowRun, Stage
from safecode.models import Purpose

# Registration -----------------------------------------------------------------------------

REGISTRATION = Flow(
    "registration",
    [
        Stage("details", "accounts:register", "Your details"),
        Stage("code", "accounts:register_code", "Confirm by email"),
        Stage("account", "accounts:register_account", "Username and password"),
    ],
    idle=lambda: app_settings.FLOW_TIMEOUT,
    lifetime=lambda: app_settings.FLOW_LIFETIME,
    end_label="Done",
)


# Recovery: unlock and forgotten password -------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    """One of the two anonymous journeys, and the words its shared pages use.

    ``send_code`` and ``verify_code`` are the journey's two services: the first answers
    nothing, the second the account or None, for every failure alike.
    """

    name: str
    flow: Flow
    title: str
    intro: str
    start_fields: str  # the template of the first page's fields
    code_notice: str  # "{contact}" and "{them}" name what was chosen
    submit_label: str
    desk_heading: str  # who the service desk helps instead, and how
    desk_lead: str
    desk_tail: str
    purpose: str
    send_code: Callable[..., None]
    verify_code: Callable[..., User | None]

    def codes(self, run: FlowRun) -> CodeVerification:
        return CodeVerification(
            run,
            sends=app_settings.RECOVERY_SENDS_PER_FLOW,
            interval=app_settings.RECOVERY_RESEND_INTERVAL,
            attempts=app_settings.RECOVERY_CODE_ATTEMPTS,
        )

    def url(self, stage: str | None = None) -> str:
        return self.flow.url(stage)

    @property
    def start_url(self) -> str:
        return self.flow.url()

    @property
    def send_url(self) -> str:
        return self.flow.url("send")


def _recovery_flow(name: str, stages: list[Stage]) -> Flow:
    return Flow(
        name,
        stages,
        idle=lambda: app_settings.FLOW_TIMEOUT,
        lifetime=lambda: app_settings.FLOW_LIFETIME,
    )


def _unlock_send(*, subject: dict, kind: str, binding: str, request: HttpRequest) -> None:
    unlock_send_code(login=subject["login"], kind=kind, binding=binding, request=request)


def _unlock_verify(*, subject: dict, code: str, binding: str, request: HttpRequest):
    return unlock_with_code(login=subject["login"], code=code, binding=binding, request=request)


def _forgot_send(*, subject: dict, kind: str, binding: str, request: HttpRequest) -> None:
    recovery_send_code(
        details=RecoveryDetails.from_session(subject), kind=kind, binding=binding, request=request
    )


def _forgot_verify(*, subject: dict, code: str, binding: str, request: HttpRequest):
    return recovery_verify_code(
        details=RecoveryDetails.from_session(subject), code=code, binding=binding, request=request
    )


UNLOCK = Recovery(
    name="unlock",
    flow=_recovery_flow(
        "unlock",
        [
            Stage("start", "accounts:unlock", "Your username"),
            Stage("send", "accounts:unlock_send", "Send a SafeCode", revisit=True),
            Stage("code", "accounts:unlock_code", "Enter the code"),
            Stage("done", "accounts:unlock_done", "Unlocked"),
        ],
    ),
    title="Unlock your account",
    intro=(
        "An account is locked after ten wrong passwords in a row. You can unlock it yourself "
        "with a SafeCode sent to the mobile phone or personal email you registered."
    ),
    start_fields="accounts/recovery/fields_unlock.html",
    code_notice="If this account is locked and has {contact}, we sent a code to {them}.",
    submit_label="Unlock my account",
    desk_heading="No SafeCode, or a departmental account?",
    desk_lead=(
        "Departmental accounts, and accounts with no SafeCode mobile phone or email, are "
        "unlocked by"
    ),
    desk_tail="once it has confirmed who you are.",
    purpose=Purpose.UNLOCK,
    send_code=_unlock_send,
    verify_code=_unlock_verify,
)

FORGOT = Recovery(
    name="password_forgot",
    flow=_recovery_flow(
        "password_forgot",
        [
            Stage("start", "accounts:password_forgot", "Find your account"),
            Stage("send", "accounts:password_forgot_send", "Send a SafeCode", revisit=True),
            Stage("code", "accounts:password_forgot_code", "Enter the code"),
            # Extra proofs other apps ask for (accounts.reset_proofs): a second factor.
            Stage("check", "accounts:password_forgot_check", "Second factor", step=False),
            Stage("new", "accounts:password_forgot_new", "New password"),
            Stage("done", "accounts:password_forgot_done", "Done"),
        ],
    ),
    title="Forgotten or expired password",
    intro=(
        "Confirm who you are, then choose a new password with a SafeCode sent to the mobile "
        "phone or personal email you registered. Resetting your password also unlocks your "
        "account."
    ),
    code_notice=(
        "If the details you entered match an account that has {contact}, we sent a code to {them}."
    ),
    start_fields="accounts/recovery/fields_forgot.html",
    submit_label="Confirm",
    desk_heading="No SafeCode, or not in the directory?",
    desk_lead=(
        "If your account has no SafeCode mobile phone or email, if it is a departmental "
        "account, or if you are an affiliate without a Harvard ID,"
    ),
    desk_tail="resets your password once it has confirmed who you are.",
    purpose=Purpose.PASSWORD_RESET,
    send_code=_forgot_send,
    verify_code=_forgot_verify,
)


# A known account: change and expired password ---------------------------------------------


@dataclass(frozen=True)
class KnownAccount:
    """Change or expired password: the same stages for an account the person has proven."""

    name: str
    flow: Flow
    purpose: str
    title: str

    def url(self, stage: str | None = None) -> str:
        return self.flow.url(stage)

    @property
    def start_url(self) -> str:
        return self.flow.url()

    @property
    def send_url(self) -> str:
        return self.flow.url("send")

    @property
    def code_url(self) -> str:
        return self.flow.url("code")

    def user(self, request: HttpRequest) -> User:
        """The account the journey is for: the signed-in one, or the pending sign-in's."""
        if self is EXPIRED:
            return PendingSignIn(request).user
        return request.user


def _known_stages(prefix: str) -> list[Stage]:
    return [
        Stage("start", f"accounts:{prefix}", "Security check"),
        Stage("send", f"accounts:{prefix}_send", "Send a SafeCode", revisit=True),
        Stage("code", f"accounts:{prefix}_code", "Enter the code"),
        Stage("new", f"accounts:{prefix}_new", "New password"),
    ]


def _expired_guard(request: HttpRequest) -> HttpResponse | None:
    """The expired journey exists only while a sign-in waits for it; its run ends with it.
    A repeated post after the sign-in finished goes where the sign-in went."""
    if PendingSignIn(request).is_pending(ExpiredPasswordStage.name):
        return None
    request.session.pop(EXPIRED.flow.key, None)
    if request.user.is_authenticated:
        return redirect("home")
    return sign_in_again(request)


def _signed_in_guard(request: HttpRequest) -> HttpResponse | None:
    """The change journey is for the signed-in account only. Its pages that it shares with
    the expired journey are marked ``login_not_required``, so the guard says it again."""
    if request.user.is_authenticated:
        return None
    return redirect_to_login(request.get_full_path())


CHANGE = KnownAccount(
    name="password_change",
    flow=Flow(
        "password_change",
        _known_stages("password_change"),
        idle=lambda: app_settings.FLOW_TIMEOUT,
        lifetime=lambda: app_settings.FLOW_LIFETIME,
        guard=_signed_in_guard,
    ),
    purpose=Purpose.PASSWORD_CHANGE,
    title="Change your password",
)

EXPIRED = KnownAccount(
    name="password_expired",
    flow=Flow(
        "password_expired",
        _known_stages("password_expired"),
        idle=lambda: app_settings.PENDING_SIGNIN_TIMEOUT,
        lifetime=lambda: app_settings.PENDING_SIGNIN_TIMEOUT,
        guard=_expired_guard,
    ),
    purpose=Purpose.PASSWORD_EXPIRED,
    title="Your password has expired",
)


def password_changed_url(next_url: str = "") -> str:
    """The "password changed" page, keeping where the person was going."""
    done = reverse("accounts:password_changed")
    return f"{done}?{urlencode({'next': next_url})}" if next_url else done
