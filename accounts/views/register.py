"""Registration at /register/: details -> confirmation code -> username and password -> done.

The journey (``accounts.journeys.REGISTRATION``) keeps its stage and data under one session
key: the code to check, the matched person a resend goes to (never shown; nothing on a
mismatch), the run's record of sends, and the ``next`` given to /register/, which is handed to
the sign-in pipeline once the account exists. "Create my account" pressed twice creates one
account: the second press finds the stage done and goes where the first went.

The page after the details is the same whether or not they matched: it always offers the code
entry, "Send a new code" and the not-in-system path.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts.forms import (
    AffiliateCompleteForm,
    AffiliateEmailForm,
    RegistrationAccountForm,
    RegistrationDetailsForm,
)
from accounts.journeys import REGISTRATION
from accounts.models import EmailToken, Person
from accounts.services import registration as service
from accounts.stages import signin_begin
from guests.selectors import guest_for_key
from guests.services.redemption import GuestKeyRefused, guest_key_check, guest_key_redeem
from portal.flows import FlowRun
from portal.http import is_safe_next
from safecode.forms import CodeForm

WRONG_CODE = "That code is not right, or it has expired. Check the email and try again."


def _next(request) -> str:
    """The same-site page to reach once registered, from the query or the details form."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if is_safe_next(request, target) else ""


@login_not_required
@sensitive_post_parameters("ssn", "guest_key")
@never_cache
@REGISTRATION.serves("details")
def register(request, flow: FlowRun):
    next_url = _next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    form = RegistrationDetailsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["guest_key"]:
            return _guest_details(request, flow, form, next_url)
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
                return flow.render("accounts/register_blocked.html", next=next_url)
            return flow.start(
                code_id=submitted.code_id,
                match_id=submitted.person_id,
                sent_at=[timezone.now().timestamp()],
                next=next_url,
            )
    return flow.render("accounts/register.html", form=form, next=next_url)


def _guest_details(request, flow: FlowRun, form, next_url: str):
    """STEP 2 with a guest key: a key that matches the last name goes straight on to the
    username and password (the sponsor's key is the proof; there is no mailbox on file)."""
    data = form.cleaned_data
    try:
        key_id = guest_key_check(
            last_name=data["last_name"], key=data["guest_key"], request=request
        )
    except service.RegistrationThrottled:
        return render(request, "accounts/throttled.html", status=HTTPStatus.TOO_MANY_REQUESTS)
    except GuestKeyRefused as refused:
        form.add_error("guest_key", refused.message)
        return flow.render("accounts/register.html", form=form, next=next_url)
    request.session.cycle_key()
    flow.begin()
    return flow.done("details", next_stage="account", guest_key_id=key_id, next=next_url)


@login_not_required
@never_cache
@REGISTRATION.serves("code")
def register_code(request, flow: FlowRun):
    if request.method == "POST" and request.POST.get("action") == "resend":
        return _resend(request, flow)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        person = service.registration_verify_code(
            code_id=flow.get("code_id"), code=form.cleaned_data["code"], request=request
        )
        if person is not None:
            request.session.cycle_key()
            return flow.done("code", person_id=person.pk, code_id=None, match_id=None, sent_at=[])
        form.add_error("code", WRONG_CODE)
    return flow.render("accounts/register_code.html", form=form, next=flow.get("next"))


def _resend(request, flow: FlowRun):
    """ "Send a new code": the same answer whether or not the details matched."""
    resent = service.registration_resend_code(
        person_id=flow.get("match_id"),
        code_id=flow.get("code_id"),
        sent_at=flow.get("sent_at") or [],
        request=request,
    )
    flow.update(code_id=resent.code_id, sent_at=list(resent.sent_at))
    if resent.refused:
        return flow.render(
            "accounts/register_code.html",
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
@REGISTRATION.serves("account")
def register_account(request, flow: FlowRun):
    guest = guest_for_key(flow.get("guest_key_id")) if flow.get("guest_key_id") else None
    person = None
    if guest is None:
        person = Person.objects.filter(pk=flow.get("person_id"), is_active=True).first()
        if person is None:
            return flow.restart(GuestKeyRefused.message if flow.get("guest_key_id") else "")
    who = person or guest
    form = RegistrationAccountForm(
        request.POST or None, person=person, first_name=who.first_name, last_name=who.last_name
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = _create_account(request, flow, form, person)
        except service.UsernameTaken as exc:
            form.add_error("username", str(exc))
        except GuestKeyRefused as refused:
            return flow.restart(refused.message)
        else:
            # A press of "Create my account" that comes after this one goes on from here: the
            # finished run is kept through the new sign-in, which ends every other run.
            flow.done(
                "account",
                then=reverse("accounts:signin_continue"),
                person_id=None,
                guest_key_id=None,
            )
            if not user.may_sign_in:
                if user.access_starts_at and user.access_starts_at > timezone.now():
                    # A guest whose access starts later: the account waits for its first day.
                    return flow.render("accounts/register_starts_later.html", account=user)
                return flow.restart(GuestKeyRefused.message)
            response = signin_begin(
                request, user, flow.get("next") or "", keep=(REGISTRATION.name,)
            )
            # Shown once, on whatever page comes next (the SafeCode prompt, for a new account).
            messages.success(request, f"Your account is ready. Your username is {user.username}.")
            return response
    # A guest's key stands in for the emailed code: the step bar leaves that step out.
    steps = {"steps": REGISTRATION.steps_without("code"), "current": 2}
    return flow.render(
        "accounts/register_account.html",
        form=form,
        person=person,
        guest=guest,
        next=flow.get("next"),
        **(steps if guest else {}),
    )


def _create_account(request, flow: FlowRun, form, person):
    data = form.cleaned_data
    if person is None:
        return guest_key_redeem(
            key_id=flow.get("guest_key_id"),
            username=data["username"],
            password=data["password1"],
            request=request,
        )
    return service.registration_create_account(
        person_id=person.pk,
        username=data["username"],
        password=data["password1"],
        request=request,
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
