"""Password pages: change, the expiry warning, the forced change of an expired password, and the
forgotten password.

Change (/preferences/security/password/, signed in) and expired (/password/expired/, between the
password and the session) run the same stages for a known account: CAPTCHA -> send a SafeCode
to a channel of the account -> enter it -> new password. They show the account's channels
masked, since the person is signed in or has just given the right password. Each journey keeps
its stage under one session key (portal.flows.SessionFlow); a page reached out of order sends the
person back to the journey's start.

The expired journey is a stage of the sign-in pipeline (accounts.stages): the session holds a
pending sign-in (the account id, where to go next and an absolute deadline, never a password)
and is not signed in (LoginRequiredMiddleware keeps every other page out of reach) until the new
password is set; then ``signin_continue`` starts the session, rotating its key.

Forgotten password (/password/forgot/) asks for details instead of a session, and answers alike
for every account until the code is proven (accounts.services.recovery); it never signs in.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.app_settings import app_settings
from accounts.captcha import PortalCaptchaField
from accounts.forms import DateOfBirthField, HarvardIdField, NewPasswordMixin
from accounts.models import User
from accounts.services.expiry import password_expiry_warning
from accounts.services.password_change import (
    PLACES_TO_UPDATE,
    password_apply,
    password_current_matches,
)
from accounts.services.quiet_codes import ALL_CONTACTS
from accounts.services.recovery import (
    RecoveryDetails,
    password_reset,
    recovery_send_code,
    recovery_verify_code,
)
from accounts.stages import ExpiredPasswordStage, PendingSignIn, signin_continue
from accounts.views.unlock import (
    WRONG_CODE,
    ChannelKindForm,
    code_limits,
    note_send,
    note_wrong_code,
    send_wait,
)
from portal.flows import SessionFlow
from portal.http import is_safe_next
from safecode.errors import (
    SafeCodeChannelUnusable,
    SafeCodeInvalidFormat,
    SafeCodeLockedOut,
    SafeCodeThrottled,
)
from safecode.forms import ChannelForm, CodeForm, SendCodeForm
from safecode.models import Purpose
from safecode.selectors import (
    channel_list_pending,
    channel_list_verified,
    safecode_locked_until,
)
from safecode.services import (
    CheckResult,
    channel_register,
    channel_verify,
    safecode_check,
    safecode_issue,
)

STAGE_CAPTCHA = "captcha"
STAGE_SEND = "send"
STAGE_CODE = "code"
STAGE_NEW = "new"

WRONG_CURRENT = "That is not your current password."


# Forms ------------------------------------------------------------------------------------------


class CaptchaForm(forms.Form):
    captcha = PortalCaptchaField()


class NewPasswordForm(NewPasswordMixin):
    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def policy_user(self):
        return self.user


class ChangeStartForm(CaptchaForm):
    """The first page of a change: the current password first, then the CAPTCHA, so that a
    person who does not know it learns so before a picture and a text message."""

    field_order = ["current_password", "captcha"]
    current_password = forms.CharField(
        label="Current password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ForgotPasswordForm(forms.Form):
    login = forms.CharField(
        label="Username, Harvard ID or email address",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    last_name = forms.CharField(
        label="Last name",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    huid = HarvardIdField(
        label="Harvard ID",
        required=False,
        help_text="The first eight digits of the number on your Harvard ID badge.",
    )
    date_of_birth = DateOfBirthField(
        required=False, help_text="Instead of the Harvard ID, if you do not have one."
    )
    captcha = PortalCaptchaField()

    def clean(self):
        data = super().clean()
        complete = "huid" in data and "date_of_birth" in data
        if complete and not data["huid"] and not data["date_of_birth"]:
            self.add_error("huid", "Enter your Harvard ID, or your date of birth.")
        return data


# Journeys for a known account: change and expired ----------------------------------------------


@dataclass(frozen=True)
class Journey:
    name: str
    purpose: str
    title: str
    steps: tuple[str, ...] = ("Security check", "Send a SafeCode", "Enter the code", "New password")

    def url(self, stage: str = "") -> str:
        return reverse(f"accounts:{self.name}{'_' + stage if stage else ''}")

    @property
    def start_url(self) -> str:
        return self.url()

    @property
    def send_url(self) -> str:
        return self.url(STAGE_SEND)

    @property
    def code_url(self) -> str:
        return self.url(STAGE_CODE)


CHANGE = Journey("password_change", Purpose.PASSWORD_CHANGE, "Change your password")
EXPIRED = Journey("password_expired", Purpose.PASSWORD_EXPIRED, "Your password has expired")


def _flow(journey: Journey, request) -> SessionFlow:
    timeout = (
        app_settings.PENDING_SIGNIN_TIMEOUT if journey is EXPIRED else app_settings.FLOW_TIMEOUT
    )
    return SessionFlow(request, journey.name, timeout=timeout)


def _render(request, journey, template, step, status=HTTPStatus.OK, **context):
    context = {"journey": journey, "steps": journey.steps, "current": step, **context}
    return render(request, template, context, status=status)


def _captcha_step(request, journey: Journey, flow: SessionFlow, user: User):
    if not channel_list_verified(user).exists():
        if journey is EXPIRED:
            return redirect("accounts:password_expired_safecode")
        return _render(request, journey, "accounts/password_no_safecode.html", 1)
    form = CaptchaForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        flow.advance(STAGE_SEND)
        return redirect(journey.send_url)
    return _render(request, journey, "accounts/password_captcha.html", 1, form=form)


def _send_step(request, journey: Journey, flow: SessionFlow, user: User):
    if flow.stage not in (STAGE_SEND, STAGE_CODE):
        return redirect(journey.start_url)
    form = SendCodeForm(request.POST or None, user=user)
    throttle = None
    locked_until = safecode_locked_until(user=user, purpose=journey.purpose)
    status = HTTPStatus.OK
    if request.method == "POST" and form.is_valid():
        channel = form.cleaned_data["channel"]
        try:
            safecode_issue(
                user=user,
                purpose=journey.purpose,
                channel=channel,
                request=request,
                binding=flow.binding,
            )
        except SafeCodeThrottled as exc:
            throttle, status = exc, HTTPStatus.TOO_MANY_REQUESTS
        except SafeCodeLockedOut as exc:
            locked_until, status = exc.until, HTTPStatus.TOO_MANY_REQUESTS
        except SafeCodeChannelUnusable as exc:
            form.add_error("channel", str(exc))
        else:
            flow.advance(STAGE_CODE, sent_to=channel.masked)
            return redirect(journey.code_url)
    return _render(
        request,
        journey,
        "accounts/password_send.html",
        2,
        status=status,
        send_form=form,
        throttle=throttle,
        locked_until=locked_until,
    )


def _code_step(request, journey: Journey, flow: SessionFlow, user: User):
    if flow.stage != STAGE_CODE:
        return redirect(journey.start_url)
    form = CodeForm(request.POST or None)
    locked_until = None
    status = HTTPStatus.OK
    if request.method == "POST" and form.is_valid():
        try:
            result = safecode_check(
                user=user,
                purpose=journey.purpose,
                code=form.cleaned_data["code"],
                request=request,
                binding=flow.binding,
            )
        except SafeCodeInvalidFormat as exc:
            form.add_error("code", str(exc))
        except SafeCodeLockedOut as exc:
            locked_until, status = exc.until, HTTPStatus.TOO_MANY_REQUESTS
        else:
            if result is CheckResult.ACCEPTED:
                request.session.cycle_key()  # a step-up: rotate the session key
                flow.advance(STAGE_NEW)
                return redirect(journey.url(STAGE_NEW))
            form.add_error("code", result.message)
    return _render(
        request,
        journey,
        "accounts/password_code.html",
        3,
        status=status,
        form=form,
        sent_to=flow.get("sent_to", ""),
        locked_until=locked_until,
    )


# Change (signed in) -------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def password_change_start(request):
    """Step 1 of "Change your password": the current password and the CAPTCHA. Opening the
    page starts again; three wrong current passwords start the flow over."""
    flow = _flow(CHANGE, request)
    if request.method == "GET" or flow.stage is None:
        flow.start(STAGE_CAPTCHA, current_failures=flow.get("current_failures", 0))
    user = request.user
    if not channel_list_verified(user).exists():
        return _render(request, CHANGE, "accounts/password_no_safecode.html", 1)
    form = ChangeStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if password_current_matches(
            user=user, password=form.cleaned_data["current_password"], request=request
        ):
            flow.advance(STAGE_SEND, current_failures=0)
            return redirect(CHANGE.send_url)
        failures = flow.get("current_failures", 0) + 1
        if failures >= app_settings.CURRENT_PASSWORD_ATTEMPTS:
            flow.clear()
            messages.error(request, "The current password was wrong too many times.")
            return redirect(CHANGE.start_url)
        flow.advance(STAGE_CAPTCHA, current_failures=failures)
        form = ChangeStartForm()
        form.fields["current_password"].widget.attrs["aria-invalid"] = "true"
        return _render(
            request,
            CHANGE,
            "accounts/password_captcha.html",
            1,
            status=HTTPStatus.BAD_REQUEST,
            form=form,
            error=WRONG_CURRENT,
        )
    return _render(request, CHANGE, "accounts/password_captcha.html", 1, form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def password_change_send(request):
    return _send_step(request, CHANGE, _flow(CHANGE, request), request.user)


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def password_change_code(request):
    return _code_step(request, CHANGE, _flow(CHANGE, request), request.user)


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def password_change_new(request):
    """The last step, once the current password and a SafeCode are proven: the new one twice."""
    flow = _flow(CHANGE, request)
    if flow.stage != STAGE_NEW:
        return redirect(CHANGE.start_url)
    user = request.user
    form = NewPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        password_apply(
            user=user, new_password=form.cleaned_data["password1"], how="change", request=request
        )
        flow.clear()
        update_session_auth_hash(request, user)
        return redirect("accounts:password_changed")
    return _render(request, CHANGE, "accounts/password_new.html", 4, form=form)


@never_cache
@require_http_methods(["GET"])
def password_changed(request):
    """After any change: what to update so that an old password does not lock the account."""
    next_url = request.GET.get("next", "")
    return render(
        request,
        "accounts/password_done.html",
        {"places": PLACES_TO_UPDATE, "next": next_url if is_safe_next(request, next_url) else ""},
    )


# Expiring and expired, at sign-in ------------------------------------------------------------


def _pending_user(request) -> tuple[SessionFlow, User | None]:
    """The account whose sign-in waits for its expired password to be replaced, if any."""
    flow = _flow(EXPIRED, request)
    pending = PendingSignIn(request)
    if not pending.is_pending(ExpiredPasswordStage.name):
        flow.clear()
        return flow, None
    return flow, pending.user


def _sign_in_again(request):
    messages.info(request, "Your sign-in timed out. Sign in again.")
    return redirect("accounts:login")


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def password_expired_start(request):
    flow, user = _pending_user(request)
    if user is None:
        return _sign_in_again(request)
    if request.method == "GET" or flow.stage is None:
        flow.start(STAGE_CAPTCHA)
    return _captcha_step(request, EXPIRED, flow, user)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def password_expired_send(request):
    flow, user = _pending_user(request)
    if user is None:
        return _sign_in_again(request)
    return _send_step(request, EXPIRED, flow, user)


@login_not_required
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def password_expired_code(request):
    flow, user = _pending_user(request)
    if user is None:
        return _sign_in_again(request)
    return _code_step(request, EXPIRED, flow, user)


@login_not_required
@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def password_expired_new(request):
    """The new password; then the sign-in that was waiting completes."""
    flow, user = _pending_user(request)
    if user is None:
        return _sign_in_again(request)
    if flow.stage != STAGE_NEW:
        return redirect(EXPIRED.start_url)
    form = NewPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        password_apply(
            user=user, new_password=form.cleaned_data["password1"], how="expired", request=request
        )
        flow.clear()
        pending = PendingSignIn(request)
        done = reverse("accounts:password_changed")
        if pending.next_url:
            done += f"?{urlencode({'next': pending.next_url})}"
        pending.set_next(done)
        pending.set_handled(ExpiredPasswordStage.name)
        return signin_continue(request)
    return _render(request, EXPIRED, "accounts/password_new.html", 4, form=form)


@login_not_required
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def password_expired_safecode(request):
    """An expired password on an account without SafeCode: the person who just gave the right
    (expired) password registers a phone or email, confirmed by a code sent to it, as the
    prompt after a sign-in would let them; then the journey goes on with that SafeCode."""
    _, user = _pending_user(request)
    if user is None:
        return _sign_in_again(request)
    if channel_list_verified(user).exists():
        return redirect(EXPIRED.start_url)
    action = request.POST.get("action") if request.method == "POST" else None
    form = ChannelForm(request.POST if action == "register" else None, user=user)
    code_form = CodeForm(request.POST if action == "confirm" else None)
    waiting = channel_list_pending(user).first()
    status = HTTPStatus.OK
    if action == "register" and form.is_valid():
        try:
            channel_register(
                user=user,
                phone=form.cleaned_data["phone"],
                carrier=form.cleaned_data["carrier"],
                email=form.cleaned_data["email"],
                request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("accounts:password_expired_safecode")
    elif action == "confirm" and waiting is not None and code_form.is_valid():
        try:
            result = channel_verify(
                user=user, channel=waiting, code=code_form.cleaned_data["code"], request=request
            )
        except SafeCodeInvalidFormat as exc:
            code_form.add_error("code", str(exc))
        except SafeCodeLockedOut as exc:
            code_form.add_error("code", f"{exc.message} Call the IT Service Desk.")
        else:
            if result is CheckResult.ACCEPTED:
                return redirect(EXPIRED.start_url)
            code_form.add_error("code", result.message)
    if form.errors or code_form.errors:
        status = HTTPStatus.BAD_REQUEST
    return _render(
        request,
        EXPIRED,
        "accounts/password_expired_safecode.html",
        1,
        status=status,
        form=form,
        code_form=code_form,
        waiting=waiting,
    )


@never_cache
@require_http_methods(["GET"])
def password_expiring(request):
    """ "Your password is due to expire": change it now, or continue."""
    next_url = request.GET.get("next", "")
    next_url = next_url if is_safe_next(request, next_url) else ""
    expires = password_expiry_warning(request.user)
    if expires is None:
        return redirect(next_url or "home")
    days = (timezone.localdate(expires) - timezone.localdate()).days
    return render(
        request,
        "accounts/password_expiring.html",
        {"expires": expires, "days": days, "next": next_url or reverse("home")},
    )


# Forgotten password ---------------------------------------------------------------------------

FORGOT = "password_forgot"
FORGOT_STEPS = ("Find your account", "Send a SafeCode", "Enter the code", "New password", "Done")


def _forgot_flow(request) -> SessionFlow:
    return SessionFlow(request, FORGOT, timeout=app_settings.FLOW_TIMEOUT)


def _forgot_page(request, template, step, **context):
    return render(request, template, {"steps": FORGOT_STEPS, "current": step, **context})


@login_not_required
@never_cache
@sensitive_post_parameters("date_of_birth", "huid")
@require_http_methods(["GET", "POST"])
def password_forgot(request):
    """Step 1: who you are, and the CAPTCHA. Nothing is looked up yet."""
    form = ForgotPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        details = RecoveryDetails(
            login=data["login"],
            last_name=data["last_name"],
            huid=data["huid"],
            date_of_birth=data["date_of_birth"],
        )
        _forgot_flow(request).start(STAGE_SEND, details=details.as_session())
        return redirect("accounts:password_forgot_send")
    restarted = request.GET.get("again") == "1"
    return _forgot_page(request, "accounts/password_forgot.html", 1, form=form, restarted=restarted)


def _forgot_again():
    return redirect(f"{reverse('accounts:password_forgot')}?again=1")


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def password_forgot_send(request):
    flow = _forgot_flow(request)
    if flow.stage not in (STAGE_SEND, STAGE_CODE):
        return redirect("accounts:password_forgot")
    form = ChannelKindForm(request.POST or None, initial={"kind": flow.get("kind", ALL_CONTACTS)})
    if request.method == "POST" and form.is_valid():
        wait = send_wait(flow)
        if wait < 0:
            flow.clear()
            return _forgot_again()
        if wait:
            form.add_error(None, f"A new code can be sent once a minute. Wait {wait} seconds.")
        else:
            kind = form.cleaned_data["kind"]
            details = RecoveryDetails.from_session(flow.get("details"))
            recovery_send_code(details=details, kind=kind, binding=flow.binding, request=request)
            note_send(flow, STAGE_CODE, kind=kind)
            return redirect("accounts:password_forgot_code")
    return _forgot_page(
        request, "accounts/password_forgot_send.html", 2, form=form, limits=code_limits(flow)
    )


@login_not_required
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def password_forgot_code(request):
    flow = _forgot_flow(request)
    if flow.stage != STAGE_CODE:
        return redirect("accounts:password_forgot")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        details = RecoveryDetails.from_session(flow.get("details"))
        user = recovery_verify_code(
            details=details, code=form.cleaned_data["code"], binding=flow.binding, request=request
        )
        if user is not None:
            request.session.cycle_key()
            flow.advance(STAGE_NEW, user_id=user.pk, details=None)
            return redirect("accounts:password_forgot_new")
        if note_wrong_code(flow, STAGE_CODE):
            return _forgot_again()
        form.add_error("code", WRONG_CODE)
    return _forgot_page(
        request,
        "accounts/password_forgot_code.html",
        3,
        form=form,
        kind=flow.get("kind"),
        limits=code_limits(flow),
    )


@login_not_required
@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def password_forgot_new(request):
    """Step 4, once the code is proven: the new password. The person then signs in."""
    flow = _forgot_flow(request)
    user = None
    if flow.stage == STAGE_NEW:
        user = User.objects.select_related("person").filter(pk=flow.get("user_id")).first()
    if user is None or not user.may_sign_in:
        flow.clear()
        return redirect("accounts:password_forgot")
    form = NewPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        password_reset(user=user, new_password=form.cleaned_data["password1"], request=request)
        flow.clear()
        return _forgot_page(
            request,
            "accounts/password_forgot_done.html",
            5,
            places=PLACES_TO_UPDATE,
            reset_user=user,
        )
    return _forgot_page(
        request, "accounts/password_new.html", 4, form=form, journey=None, reset_user=user
    )
