"""Recovery for someone who cannot sign in: unlock (/unlock/, "Locked Personal Account") and
forgotten password (/password/forgot/). One journey with two sets of words and two service
pairs (``accounts.journeys.UNLOCK`` and ``FORGOT``), passed by the URL configuration:

  who you are + CAPTCHA -> send a SafeCode -> enter it -> unlocked / new password -> done

Every page before the code is proven is the same for any account (the module docstring of
``accounts.services.unlock`` says how): nothing is looked up on the first page, the send page
names no number or address, its answer is always "if ..., we sent a code", and the limits on
codes asked for and tried are the run's own (``portal.flows.CodeVerification``), which read
alike for every username. Only a proven code says anything about the account.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from accounts.forms import ChannelKindForm, ForgotPasswordForm, NewPasswordForm, UnlockStartForm
from accounts.journeys import FORGOT, UNLOCK, Recovery
from accounts.models import User
from accounts.reset_proofs import CHECK_STAGE, reset_proof_pending
from accounts.services.password_change import PLACES_TO_UPDATE
from accounts.services.quiet_codes import ALL_CONTACTS
from accounts.services.recovery import password_reset
from portal.flows import FlowRun, serves
from safecode.forms import CodeForm
from safecode.models import Channel

WRONG_CODE = (
    "That code is not right, or it has expired. Check the newest message, or send a new code."
)
TOO_MANY_CODES = "Too many codes were asked for or tried. Start again."
WAIT = "A new code can be sent once a minute. Wait {wait} seconds."

START_FORMS = {UNLOCK.name: UnlockStartForm, FORGOT.name: ForgotPasswordForm}
CONTACTS = {
    ALL_CONTACTS: ("SafeCode contacts", "them: the same code to each"),
    Channel.Kind.PHONE: ("a SafeCode mobile phone", "it"),
    Channel.Kind.EMAIL: ("a SafeCode email address", "it"),
}


def _page(flow: FlowRun, journey: Recovery, template: str, **context):
    return flow.render(f"accounts/recovery/{template}", journey=journey, **context)


def _code_notice(journey: Recovery, kind: str) -> str:
    contact, them = CONTACTS.get(kind, CONTACTS[ALL_CONTACTS])
    return journey.code_notice.format(contact=contact, them=them)


@login_not_required
@never_cache
@sensitive_post_parameters("date_of_birth", "huid")
@require_http_methods(["GET", "POST"])
@serves("start")
def start(request, journey: Recovery, flow: FlowRun):
    """Who you are, and the CAPTCHA. Nothing is looked up yet; a new run begins."""
    initial = {"username": request.GET.get("username", "")[:150]}
    form = START_FORMS[journey.name](request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        return flow.start(subject=form.subject())
    return _page(flow, journey, "start.html", form=form)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
@serves("send")
def send(request, journey: Recovery, flow: FlowRun):
    """Choose every SafeCode contact (the default), a text message or an email, and send."""
    codes = journey.codes(flow)
    form = ChannelKindForm(request.POST or None, initial={"kind": flow.get("kind", ALL_CONTACTS)})
    if request.method == "POST" and form.is_valid():
        wait = codes.wait()
        if wait < 0:
            return flow.restart(TOO_MANY_CODES)
        if wait:
            form.add_error(None, WAIT.format(wait=wait))
        else:
            kind = form.cleaned_data["kind"]
            journey.send_code(
                subject=flow.get("subject"), kind=kind, binding=flow.binding, request=request
            )
            return flow.done("send", kind=kind, **codes.record_send())
    return _page(flow, journey, "send.html", form=form, limits=codes.limits())


@login_not_required
@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
@serves("code")
def code(request, journey: Recovery, flow: FlowRun):
    """The code. Only a proven code says anything about the account."""
    codes = journey.codes(flow)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = journey.verify_code(
            subject=flow.get("subject"),
            code=form.cleaned_data["code"],
            binding=flow.binding,
            request=request,
        )
        if user is not None:
            request.session.cycle_key()  # proven: a step up, so a new session key
            proven = flow.done("code", subject=None, user_id=user.pk, username=user.username)
            if flow.current == CHECK_STAGE and reset_proof_pending(user, []) is None:
                return flow.done(CHECK_STAGE)  # no extra proof: straight to the new password
            return proven
        if codes.record_wrong_code():
            return flow.restart(TOO_MANY_CODES)
        form.add_error("code", WRONG_CODE)
    notice = _code_notice(journey, flow.get("kind"))
    return _page(flow, journey, "code.html", form=form, notice=notice, limits=codes.limits())


@login_not_required
@never_cache
@require_GET
@UNLOCK.flow.serves("done")
def unlocked(request, flow: FlowRun):
    """The account is unlocked, with "Sign in now"."""
    return _page(flow, UNLOCK, "unlocked.html", username=flow.get("username"))


@login_not_required
@never_cache
@require_GET
@FORGOT.flow.serves(CHECK_STAGE)
def forgot_check(request, flow: FlowRun):
    """After the SafeCode: each extra proof the account needs (a second factor), then on."""
    user = User.objects.filter(pk=flow.get("user_id")).first()
    if user is None:
        return flow.restart()
    proof = reset_proof_pending(user, flow.get("proofs", []))
    if proof is not None:
        return redirect(proof.url())
    return flow.done(CHECK_STAGE)


@login_not_required
@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
@FORGOT.flow.serves("new")
def forgot_new_password(request, flow: FlowRun):
    """Once the code is proven: the new password. The person then signs in with it."""
    user = User.objects.select_related("person").filter(pk=flow.get("user_id")).first()
    if user is None or not user.may_sign_in:
        return flow.restart()
    form = NewPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        password_reset(user=user, new_password=form.cleaned_data["password1"], request=request)
        return flow.done("new")
    return flow.render("accounts/password_new.html", form=form, reset_user=user)


@login_not_required
@never_cache
@require_GET
@FORGOT.flow.serves("done")
def password_reset_done(request, flow: FlowRun):
    """The password is reset: what to update, and "Sign in with your new password"."""
    username = flow.get("username")
    return _page(flow, FORGOT, "reset.html", places=PLACES_TO_UPDATE, username=username)
