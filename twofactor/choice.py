"""The choice of a device and a method, and the passcode sent for it: what the second step
of sign-in, the step-up before a change and the second factor of a password reset share.

``MethodChoice`` lists the person's confirmed devices, default first, each with its methods,
and handles a post that sends a passcode or checks one against the one device and method
chosen (``twofactor.services.second_factor_verify``), or checks a security key's answer
(``action=webauthn``, ``twofactor.security_keys.key_authenticate``). Where ``bypass`` is
offered (the sign-in's second step and the reset's, never the step-up before a change), it
also takes "Enter a bypass code" from the service desk (``action=bypass``,
``twofactor.bypass.bypass_code_check``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User
from accounts.stages import PendingSignIn
from twofactor.bypass import bypass_code_check
from twofactor.forms import (
    CODE_HEADINGS,
    CODE_LABELS,
    METHOD_LABELS,
    BypassCodeForm,
    PasscodeForm,
    SecurityKeyForm,
    SendPasscodeForm,
    form_id,
)
from twofactor.models import Device
from twofactor.policy import user_devices
from twofactor.push import PushStatus, PushUnavailable, push_complete, push_send, push_status
from twofactor.security_keys import key_authenticate
from twofactor.services import (
    PasscodeWait,
    SecondFactorResult,
    TwoFactorError,
    passcode_send,
    second_factor_verify,
)

WRONG_PASSCODE = "That passcode is not right, or it has expired."
WRONG_BYPASS = "That bypass code is not right, or it has expired or been used."
WRONG_KEY = (
    "That security key did not confirm it is you. Try again with the key registered as this "
    "device, or choose another way."
)
SENT_KEY = "twofactor:sent"
NO_PUSH_WAITING = "No push is waiting for an answer. Send a new one, or use a passcode."
NOT_ANSWERED_YET = (
    "Your phone has not answered yet. Approve the request there, then press Continue."
)
# What the waiting page says when a push ended without an approval it can use.
PUSH_ENDINGS = {
    "denied": "The request was denied on your phone. Send a new push, or use a passcode.",
    "fraud": (
        "The request was denied on the phone and reported as fraud. Pushes to this account are "
        "off for now; use a passcode."
    ),
    "wrong_number": (
        "The number typed on the phone did not match the one shown here. Send a new push and "
        "type the number this page shows."
    ),
    "expired": (
        "The push timed out: no answer came from the phone in time. Send another, or use a "
        "passcode."
    ),
    "used": NO_PUSH_WAITING,
    "approved": NO_PUSH_WAITING,
}


# Which passcode was sent, so that a reload still shows its field ----------------------------


def passcode_sent_record(
    request: HttpRequest,
    *,
    user: User,
    device: Device,
    method: str,
    flow: str,
    auto=False,
    push_id: str = "",
) -> None:
    """Remember in the session that a passcode (or a push, ``push_id``) went to ``device`` by
    ``method`` in ``flow`` (a sign-in or a step-up), so that the page shows the field for it,
    or the push it waits for, until it is used."""
    request.session[SENT_KEY] = {
        "user_id": user.pk,
        "device_id": device.pk,
        "method": method,
        "flow": flow,
        "auto": auto,
        "push_id": push_id,
    }


def push_waiting(request: HttpRequest) -> tuple[int, str] | None:
    """The account and push id the session's page waits for, if it waits for a push."""
    state = request.session.get(SENT_KEY)
    if not isinstance(state, dict) or state.get("method") != "push" or not state.get("push_id"):
        return None
    return state.get("user_id"), state["push_id"]


def passcode_sent_forget(request: HttpRequest) -> None:
    request.session.pop(SENT_KEY, None)


def _passcode_sent(request: HttpRequest, user: User, flow: str) -> dict | None:
    state = request.session.get(SENT_KEY)
    if not isinstance(state, dict) or state.get("user_id") != user.pk:
        return None
    return state if state.get("flow") == flow else None


def signin_flow(pending: PendingSignIn) -> str:
    """The name of one sign-in, for ``passcode_sent_record``: a passcode sent during an
    earlier sign-in does not show on a later one."""
    return f"signin:{pending.started_at}"


# The choice of a device and a method --------------------------------------------------------


@dataclass
class Section:
    """One device on the page: its code fields, its send buttons and what was sent to it."""

    device: Device
    code_forms: list[tuple[str, str, PasscodeForm]] = field(default_factory=list)
    send_methods: list[tuple[str, str]] = field(default_factory=list)
    sent: str = ""
    auto: bool = False
    wait: str = ""
    push: PushStatus | None = None
    key_form: SecurityKeyForm | None = None


@dataclass
class Outcome:
    result: SecondFactorResult | None = None
    method: str = ""
    remember: bool = False
    # A service-desk bypass code stood in for the second factor: no device proved it.
    bypass: bool = False

    @property
    def verified(self) -> bool:
        return self.bypass or (self.result is not None and self.result.ok)

    @property
    def locked(self) -> bool:
        return self.result is not None and self.result.locked


class MethodChoice:
    """The person's confirmed devices, default first, each with its methods; handles a post
    that sends a passcode or checks one."""

    def __init__(
        self, request: HttpRequest, user: User, *, flow: str, remember: bool, bypass=False
    ) -> None:
        self.request = request
        self.user = user
        self.flow = flow
        self.remember = remember
        self.bypass = bypass
        self.bound_bypass: BypassCodeForm | None = None
        self.devices = list(user_devices(user))
        self.bound: PasscodeForm | None = None
        self.bound_key: SecurityKeyForm | None = None
        self.errors: list[str] = []
        self.wait: tuple[int, str] | None = None
        self.status = HTTPStatus.OK

    def _code_form(self, data=None, *, device_id: int, method: str) -> PasscodeForm:
        return PasscodeForm(
            data,
            devices=self.devices,
            remember=self.remember,
            method=method,
            auto_id=form_id(device_id, method if method in CODE_LABELS else "other"),
            initial={"device": device_id, "method": method},
        )

    def handle_post(self) -> Outcome:
        post = self.request.POST
        if post.get("action") == "send":
            self._send(SendPasscodeForm(post, devices=self.devices))
            return Outcome()
        if post.get("action") == "push":
            return self._push_check()
        if post.get("action") == "webauthn":
            return self._key_check()
        if post.get("action") == "bypass" and self.bypass:
            return self._bypass_check()
        device_id, method = PasscodeForm(post, devices=self.devices).chosen
        form = self._code_form(post, device_id=device_id or 0, method=method)
        self.status = HTTPStatus.BAD_REQUEST
        if not form.is_valid():
            self._keep(form)
            return Outcome()
        result = second_factor_verify(
            user=self.user,
            device_id=form.cleaned_data["device"],
            method=form.cleaned_data["method"],
            code=form.cleaned_data["code"],
            request=self.request,
            devices=self.devices,
        )
        outcome = Outcome(
            result=result,
            method=form.cleaned_data["method"],
            remember=bool(form.cleaned_data.get("remember")),
        )
        if not result.ok:
            form.add_error("code", WRONG_PASSCODE)
            form.data = form.data.copy()
            form.data[form.add_prefix("code")] = ""
            self._keep(form)
        return outcome

    def _keep(self, form: PasscodeForm) -> None:
        """Show ``form`` with its errors beside its device, or above every device when it
        names none of them."""
        device_id, method = form.chosen
        device = next((d for d in self.devices if d.pk == device_id), None)
        if device is None or method not in device.methods or method not in CODE_HEADINGS:
            self.errors = [str(e) for errors in form.errors.values() for e in errors]
        else:
            self.bound = form

    def _send(self, form: SendPasscodeForm) -> None:
        if not form.is_valid():
            self.status = HTTPStatus.BAD_REQUEST
            self.errors = [str(e) for errors in form.errors.values() for e in errors]
            return
        device, method = form.cleaned_data["device_obj"], form.cleaned_data["method"]
        if method == "push":
            self._push_send(device)
            return
        try:
            passcode_send(device=device, method=method, request=self.request)
        except PasscodeWait as exc:
            # The newest passcode, sent less than a minute ago, still works: show its field.
            self.status = HTTPStatus.TOO_MANY_REQUESTS
            self.wait = (device.pk, exc.message)
        except TwoFactorError as exc:
            self.status = HTTPStatus.BAD_REQUEST
            self.errors = [exc.message]
            return
        passcode_sent_record(
            self.request, user=self.user, device=device, method=method, flow=self.flow
        )

    def _push_send(self, device: Device) -> None:
        try:
            push = push_send(device=device, flow=self.flow, request=self.request)
        except PushUnavailable as exc:
            self.status = HTTPStatus.TOO_MANY_REQUESTS
            self.errors = [exc.message]
            return
        passcode_sent_record(
            self.request,
            user=self.user,
            device=device,
            method="push",
            flow=self.flow,
            push_id=str(push.pk),
        )

    def _push_check(self) -> Outcome:
        """The waiting page asks whether its push was approved (its script, as soon as the
        phone answered, or the person's "Continue" button)."""
        sent = _passcode_sent(self.request, self.user, self.flow) or {}
        push_id = sent.get("push_id") if sent.get("method") == "push" else ""
        if not push_id:
            self.status = HTTPStatus.BAD_REQUEST
            self.errors = [NO_PUSH_WAITING]
            return Outcome()
        result = push_complete(push_id=push_id, user=self.user, request=self.request)
        if result is not None:
            remember = self.remember and self.request.POST.get("remember") == "on"
            return Outcome(result=result, method="push", remember=remember)
        status = push_status(push_id=push_id, user_id=self.user.pk, request=self.request)
        state = status.state if status is not None else "gone"
        if state == "pending":
            self.errors = [NOT_ANSWERED_YET]
            return Outcome()
        passcode_sent_forget(self.request)
        self.status = HTTPStatus.BAD_REQUEST
        self.errors = [PUSH_ENDINGS.get(state, NO_PUSH_WAITING)]
        return Outcome()

    # A bypass code from the service desk (twofactor.bypass) --------------------------------

    def _bypass_check(self) -> Outcome:
        """ "Enter a bypass code": a wrong one counts as any wrong second factor; a right one
        never remembers the browser."""
        form = BypassCodeForm(self.request.POST, prefix="bypass", auto_id="id_bypass_%s")
        self.status = HTTPStatus.BAD_REQUEST
        self.bound_bypass = form
        if not form.is_valid():
            return Outcome(method="bypass")
        check = bypass_code_check(
            user=self.user,
            typed=form.cleaned_data["code"],
            request=self.request,
            where=self.flow.partition(":")[0],
        )
        if check.ok:
            return Outcome(method="bypass", bypass=True)
        form.add_error("code", WRONG_BYPASS)
        form.data = form.data.copy()
        form.data[form.add_prefix("code")] = ""
        return Outcome(result=SecondFactorResult(device=None, locked=check.locked), method="bypass")

    def _bypass_form(self) -> BypassCodeForm | None:
        if not self.bypass:
            return None
        if self.bound_bypass is not None:
            return self.bound_bypass
        return BypassCodeForm(prefix="bypass", auto_id="id_bypass_%s")

    # Security keys (twofactor.security_keys) ---------------------------------------------

    def _key_form(self, data=None, *, device_id: int) -> SecurityKeyForm:
        return SecurityKeyForm(
            data,
            devices=self.devices,
            remember=self.remember,
            auto_id=form_id(device_id, "webauthn"),
            initial={"device": device_id, "method": "webauthn"},
        )

    def _key_check(self) -> Outcome:
        """The answer of the chosen device's security key, which the page's script put in the
        form (static/js/webauthn.js); a wrong one counts as any wrong second factor."""
        device_id, _ = SecurityKeyForm(self.request.POST, devices=self.devices).chosen
        form = self._key_form(self.request.POST, device_id=device_id or 0)
        self.status = HTTPStatus.BAD_REQUEST
        outcome = Outcome(method="webauthn")
        if form.is_valid():
            outcome.result = key_authenticate(
                user=self.user,
                device_id=form.cleaned_data["device"],
                credential_json=form.cleaned_data["credential"],
                request=self.request,
            )
            outcome.remember = bool(form.cleaned_data.get("remember"))
            if outcome.verified:
                return outcome
            form.add_error("credential", WRONG_KEY)
        device = next((d for d in self.devices if d.pk == device_id), None)
        if device is None or "webauthn" not in device.methods:
            self.errors = [str(e) for errors in form.errors.values() for e in errors]
        else:
            self.bound_key = form
        return outcome

    def _key_form_for(self, device: Device) -> SecurityKeyForm:
        bound = self.bound_key
        if bound is not None and bound.chosen[0] == device.pk:
            return bound
        return self._key_form(device_id=device.pk)

    def sections(self) -> list[Section]:
        sent = _passcode_sent(self.request, self.user, self.flow) or {}
        found = []
        for device in self.devices:
            section = Section(
                device=device,
                send_methods=[
                    (m, METHOD_LABELS[m])
                    for m in device.methods
                    if m not in ("passcode", "webauthn")
                ],
            )
            methods = ["passcode"] if "passcode" in device.methods else []
            if sent.get("device_id") == device.pk and sent.get("method") in device.methods:
                section.sent = sent["method"]
                section.auto = bool(sent.get("auto"))
                if sent["method"] == "push":
                    self._show_push(section, sent.get("push_id", ""))
                elif sent["method"] not in methods:
                    methods.append(sent["method"])
            bound = self.bound
            if (
                bound is not None
                and bound.chosen[0] == device.pk
                and bound.chosen[1] not in methods
            ):
                methods.append(bound.chosen[1])
            for method in methods:
                if bound is not None and bound.chosen == (device.pk, method):
                    form = bound
                else:
                    form = self._code_form(device_id=device.pk, method=method)
                section.code_forms.append((method, CODE_HEADINGS[method], form))
            if self.wait and self.wait[0] == device.pk:
                section.wait = self.wait[1]
            if "webauthn" in device.methods:
                section.key_form = self._key_form_for(device)
            found.append(section)
        return found

    def _show_push(self, section: Section, push_id: str) -> None:
        """The waiting panel: the push's number, and how long it still waits."""
        from twofactor.models import PushRequest

        status = push_status(push_id=push_id, user_id=self.user.pk, request=self.request)
        state = status.state if status is not None else "gone"
        if state in (PushRequest.State.PENDING, PushRequest.State.APPROVED):
            section.push = status
            return
        # It ended while the page was away (no script, or a reload): say how.
        section.sent = ""
        passcode_sent_forget(self.request)
        message = PUSH_ENDINGS.get(state, NO_PUSH_WAITING)
        if message not in self.errors:
            self.errors.append(message)

    def context(self) -> dict:
        return {
            "remember_offered": self.remember,
            "sections": self.sections(),
            "choice_errors": self.errors,
            "page_has_errors": bool(self.errors)
            or (self.bound is not None)
            or (self.bound_key is not None)
            or (self.bound_bypass is not None),
            "bypass_form": self._bypass_form(),
            # Which page asks for a key's challenge (twofactor.views.keys): signin, step_up, reset.
            "key_step": self.flow.partition(":")[0],
        }


def locked_page(request: HttpRequest, template: str) -> HttpResponse:
    """Ten wrong second factors in a row locked the account: say so, and how to unlock it."""
    return render(
        request, template, {"locked": True, "page_has_errors": True}, status=HTTPStatus.FORBIDDEN
    )
