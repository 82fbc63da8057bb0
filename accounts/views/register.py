"""Registration at /register/: details -> confirmation code -> username and password -> done.

The flow's stage and data sit under one session key (portal.flows.SessionFlow): the code to
check, the matched person a resend goes to (never shown; nothing on a mismatch), the flow's
record of sends, and the ``next`` given to /register/, which is handed to the sign-in pipeline
once the account exists. The page after the details is the same whether or not they matched:
it always offers the code entry, "Send a new code" and the not-in-system path.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts.app_settings import app_settings
from accounts.forms import (
    AffiliateCompleteForm,
    AffiliateEmailForm,
    CodeForm,
    RegistrationAccountForm,
    RegistrationDetailsForm,
)
from accounts.models import EmailToken, Person
from accounts.services import registration as service
from accounts.stages import signin_begin
from portal.flows import SessionFlow
from portal.http import is_safe_next

STAGE_CODE = "code"
STAGE_ACCOUNT = "account"
STEPS = ("Your details", "Confirm by email", "Username and password", "Done")


def _flow(request) -> SessionFlow:
    return SessionFlow(request, "registration", timeout=app_settings.FLOW_TIMEOUT)


def _next(request) -> str:
    """The same-site page to reach once registered, from the query or the details form."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if is_safe_next(request, target) else ""


def _render(request, template: str, step: int, status=HTTPStatus.OK, **context):
    context = {"steps": STEPS, "current": step, **context}
    return render(request, template, context, status=status)


@login_not_required
@sensitive_post_parameters("ssn")
@never_cache
def register(request):
    next_url = _next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    form = RegistrationDetailsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["guest_key"] and not data["huid"]:
            form.add_error(
                "guest_key",
                "Registration with a guest key is not open yet. Ask your sponsor or call the "
                "IT Service Desk.",
            )
        else:
            details = service.Details(
                last_name=data["last_name"],
                huid=data["huid"],
                date_of_birth=data["date_of_birth"],
                ssn=data["ssn"],
            )
            try:
                submitted = service.registration_submit_details(details=details, request=request)
            except service.RegistrationThrottled:
                return render(
                    request, "accounts/throttled.html", status=HTTPStatus.TOO_MANY_REQUESTS
                )
            except service.RegistrationBlocked:
                return _render(request, "accounts/register_blocked.html", 1, next=next_url)
            _flow(request).start(
                STAGE_CODE,
                code_id=submitted.code_id,
                match_id=submitted.person_id,
                sent_at=[timezone.now().timestamp()],
                next=next_url,
            )
            return redirect("accounts:register_code")
    return _render(request, "accounts/register.html", 1, form=form, next=next_url)


@login_not_required
@never_cache
def register_code(request):
    flow = _flow(request)
    if flow.stage != STAGE_CODE:
        return redirect("accounts:register")
    if request.method == "POST" and request.POST.get("action") == "resend":
        return _resend(request, flow)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        person = service.registration_verify_code(
            code_id=flow.get("code_id"), code=form.cleaned_data["code"], request=request
        )
        if person is not None:
            request.session.cycle_key()
            flow.advance(
                STAGE_ACCOUNT, person_id=person.pk, code_id=None, match_id=None, sent_at=[]
            )
            return redirect("accounts:register_account")
        form.add_error(
            "code", "That code is not right, or it has expired. Check the email and try again."
        )
    return _render(request, "accounts/register_code.html", 2, form=form, next=flow.get("next"))


def _resend(request, flow: SessionFlow):
    """ "Send a new code": the same answer whether or not the details matched."""
    resent = service.registration_resend_code(
        person_id=flow.get("match_id"),
        code_id=flow.get("code_id"),
        sent_at=flow.get("sent_at") or [],
        request=request,
    )
    flow.advance(STAGE_CODE, code_id=resent.code_id, sent_at=list(resent.sent_at))
    if resent.refused:
        return _render(
            request,
            "accounts/register_code.html",
            2,
            status=HTTPStatus.TOO_MANY_REQUESTS,
            form=CodeForm(),
            retry_at=resent.retry_at,
            next=flow.get("next"),
        )
    messages.success(
        request,
        "If the details you entered match our records, we sent a new code to the institutional "
        "email on file. Only the newest code works.",
    )
    return redirect("accounts:register_code")


@login_not_required
@sensitive_post_parameters("password1", "password2")
@never_cache
def register_account(request):
    flow = _flow(request)
    if flow.stage != STAGE_ACCOUNT:
        return redirect("accounts:register")
    person = Person.objects.filter(pk=flow.get("person_id"), is_active=True).first()
    if person is None:
        flow.clear()
        return redirect("accounts:register")
    form = RegistrationAccountForm(request.POST or None, person=person)
    if request.method == "POST" and form.is_valid():
        try:
            user = service.registration_create_account(
                person_id=person.pk,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                request=request,
            )
        except service.UsernameTaken as exc:
            form.add_error("username", str(exc))
        else:
            next_url = flow.get("next") or ""
            flow.clear()
            response = signin_begin(request, user, next_url)
            # Shown once, on whatever page comes next (the SafeCode prompt, for a new account).
            messages.success(request, f"Your account is ready. Your username is {user.username}.")
            return response
    return _render(
        request,
        "accounts/register_account.html",
        3,
        form=form,
        person=person,
        next=flow.get("next"),
    )


@login_not_required
@never_cache
def register_affiliate(request):
    form = AffiliateEmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            service.affiliate_signup_start(email=form.cleaned_data["email"], request=request)
        except service.RegistrationThrottled:
            return render(request, "accounts/throttled.html", status=HTTPStatus.TOO_MANY_REQUESTS)
        return render(
            request, "accounts/register_affiliate_sent.html", {"email": form.cleaned_data["email"]}
        )
    return render(request, "accounts/register_affiliate.html", {"form": form})


@login_not_required
@sensitive_post_parameters("password1", "password2")
@never_cache
def register_affiliate_complete(request, token: str):
    record = service.email_token_lookup(token=token, purpose=EmailToken.Purpose.AFFILIATE_SIGNUP)
    if record is None:
        return render(request, "accounts/link_invalid.html", status=HTTPStatus.NOT_FOUND)
    form = AffiliateCompleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = service.affiliate_signup_complete(
                token=token,
                first_name=data["first_name"],
                last_name=data["last_name"],
                username=data["username"],
                password=data["password1"],
                request=request,
            )
        except service.UsernameTaken as exc:
            form.add_error("username", str(exc))
        else:
            if user is None:
                return render(request, "accounts/link_invalid.html", status=HTTPStatus.NOT_FOUND)
            return render(request, "accounts/register_affiliate_pending.html", {"new_user": user})
    return render(
        request, "accounts/register_affiliate_complete.html", {"form": form, "email": record.email}
    )
