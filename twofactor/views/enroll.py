"""Two-factor setup (/twofactor/enroll/), in the manner of Duo's enrollment:

  start -> device type -> phone number -> phone type -> install the app -> activate -> done
  a mobile phone with no app ("Other"):   ... phone type -> a passcode by text -> done
  a tablet:                               device type -> install the app -> activate -> done
  a landline:                             device type -> phone number -> a test call -> done
  a security key or passkey:              device type -> register the key -> done

One ``portal.flows.Flow`` in the session; each path skips the stages its device has no use
for (``FlowRun.done(next_stage=...)``), and a stage that is not on the run's path leads to the
stage the run waits for. Every stage has Back, which sends the run back to the stage before
it on its path (``FlowRun.back_to``); going on from there redoes the stages after it.

Proof first (SECURITY.md, Two-factor: binding a new authenticator needs the strongest factor):
every stage after the start needs, for the account's first device, a fresh "Confirm it is
you" with a SafeCode, and for a later device a second factor verified within ten minutes.
A device is made unconfirmed (``device_start``) and counts only once a passcode from it
confirmed it (``device_confirm``), so leaving half-way adds nothing.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from audit.services import audit_record
from portal.flows import CodeVerification, FlowRun
from safecode.selectors import user_has_verified_channel
from twofactor.app_settings import app_settings
from twofactor.forms import (
    SECURITY_KEY,
    DeviceKindForm,
    DeviceNumberForm,
    EnrollPasscodeForm,
    OwnershipSendForm,
    PhoneTypeForm,
    SecurityKeyRegisterForm,
)
from twofactor.freshness import second_factor_mark_fresh
from twofactor.guards import enroll_proof_refusal
from twofactor.journeys import ENROLL
from twofactor.models import Device
from twofactor.policy import user_has_device
from twofactor.push import app_activation_link, app_activation_url, app_is_activated
from twofactor.qr import qr_svg, totp_key_text
from twofactor.security_keys import key_register
from twofactor.services import (
    TwoFactorError,
    activation_link_device,
    activation_link_open,
    activation_link_send,
    device_confirm,
    device_number_proven,
    device_start,
    passcode_send,
    phone_code_consume,
)

MOBILE, TABLET, LANDLINE = Device.Kind.MOBILE, Device.Kind.TABLET, Device.Kind.LANDLINE
OTHER_PHONE = Device.PhoneType.OTHER
# How recent a second factor must be before another device is added.

DEVICE_NAMES = {
    (MOBILE, Device.PhoneType.IPHONE): "iPhone",
    (MOBILE, Device.PhoneType.ANDROID): "Android phone",
    (MOBILE, OTHER_PHONE): "Mobile phone",
    (TABLET, ""): "Tablet",
    (LANDLINE, ""): "Landline",
}
WRONG_PASSCODE = (
    "That passcode is not right, or it has expired. Enter the newest one and try again."
)
WRONG_APP_PASSCODE = (
    "That passcode is not right. Enter the 6 digits the app shows now for this account; "
    "if it keeps failing, check that the phone's clock is set automatically."
)
TOO_MANY = "Too many passcodes were asked for or tried. Start the setup again."
WAIT = "A new passcode can be sent once a minute. Wait {wait} seconds."
DEVICE_GONE = "The device being set up changed in another window, so that step starts again."
NOT_ACTIVATED = (
    "The app is not activated yet. Scan the QR code with your phone's camera and open the "
    "link, then wait for the app to say it is activated."
)
PORTAL_APP_PHONES = (Device.PhoneType.IPHONE, Device.PhoneType.ANDROID)
# Emails of the portal app's activation link one run may send.
ACTIVATION_EMAILS = 3


# The run's path -------------------------------------------------------------------------------


def _path(kind: str, phone_type: str = "") -> tuple[str, ...]:
    """The stages a device of ``kind`` goes through (a mobile phone's, until it is chosen)."""
    if kind == TABLET:
        return ("type", "install", "activate", "done")
    if kind == LANDLINE:
        return ("type", "phone", "call", "done")
    if kind == SECURITY_KEY:
        return ("type", "key", "done")
    if phone_type == OTHER_PHONE:
        return ("type", "phone", "phone_type", "call", "done")
    return ("type", "phone", "phone_type", "install", "activate", "done")


def _run_path(flow: FlowRun) -> tuple[str, ...]:
    return _path(flow.get("kind") or MOBILE, flow.get("phone_type") or "")


def _next(stage: str, kind: str, phone_type: str = "") -> str:
    path = _path(kind, phone_type)
    return path[path.index(stage) + 1]


def _page(flow: FlowRun, stage: str, template: str, **context) -> HttpResponse:
    """The stage's page, with the step bar of the run's own path."""
    path = _run_path(flow)
    steps = [ENROLL.stage(name).label for name in path]
    current = path.index(stage) + 1 if stage in path else 1
    return flow.render(
        f"twofactor/enroll/{template}",
        steps=steps,
        current=current,
        **context,
    )


def _codes(flow: FlowRun) -> CodeVerification:
    """The run's own limits on passcodes sent and tried, on top of each phone's."""
    return CodeVerification(flow, sends=5, interval=timedelta(seconds=60), attempts=10)


def _send_within_limits(
    request, flow: FlowRun, device: Device, method: str, **update
) -> tuple[HttpResponse | None, str]:
    """Send a passcode to ``device`` by ``method`` within the run's limits (``_codes``).

    Returns the response to give (the page again once it went, with ``update`` recorded in
    the run; the start, once the run has sent all it may) or None with the sentence to show
    (wait a minute; the phone's own refusal).
    """
    codes = _codes(flow)
    wait = codes.wait()
    if wait < 0:
        return flow.restart(TOO_MANY), ""
    if wait:
        return None, WAIT.format(wait=wait)
    try:
        passcode_send(device=device, method=method, request=request)
    except TwoFactorError as exc:
        return None, exc.message
    flow.update(**update, **codes.record_send())
    return redirect(request.path), ""


def _go_back(flow: FlowRun, stage: str) -> HttpResponse:
    """Back: the run waits again at the stage before ``stage`` on its path."""
    path = _run_path(flow)
    index = path.index(stage)
    if index == 0:
        return redirect(ENROLL.url())
    return flow.back_to(path[index - 1], ownership=None)


def wizard_stage(name: str):
    """Decorate the view of stage ``name``: served only when the run waits for it (or may
    show it again), once the person has proven enough (``enroll_proof_refusal``), and when the
    run's device has that stage; a post with ``action=back`` goes back a stage instead."""

    def decorator(view):
        @ENROLL.serves(name)
        @functools.wraps(view)
        def wrapper(request, flow: FlowRun):
            refusal = enroll_proof_refusal(request)
            if refusal is not None:
                return refusal
            if name not in _run_path(flow):
                return redirect(ENROLL.url(flow.current or "type"))
            if request.method == "POST" and request.POST.get("action") == "back":
                return _go_back(flow, name)
            return view(request, flow)

        return wrapper

    return decorator


# Devices of the run ----------------------------------------------------------------------------


def _run_device(flow: FlowRun, user) -> Device | None:
    """The unconfirmed device this run is setting up, if it still exists."""
    device_id = flow.get("device_id")
    if not device_id:
        return None
    return (
        Device.objects.select_related("totp", "phone")
        .filter(pk=device_id, user=user, confirmed_at__isnull=True)
        .first()
    )


def _device_for(flow: FlowRun, user, *, kind: str, phone_type: str, number: str, app: bool):
    """The device to confirm: the run's own if it is still the one chosen (so going back and
    on again keeps the key already scanned), else a new one (``device_start``)."""
    device = _run_device(flow, user)
    if (
        device is not None
        and (device.kind, device.phone_type, device.number) == (kind, phone_type, number)
        and bool(device.totp_id) == app
        and bool(device.phone_id) == bool(number)
    ):
        return device
    return device_start(
        user=user,
        kind=kind,
        name=DEVICE_NAMES.get((kind, phone_type), "Device"),
        number=number,
        phone_type=phone_type,
        app=app,
    )


def _number_used_elsewhere(user, number: str) -> bool:
    return (
        Device.objects.filter(number=number, confirmed_at__isnull=False).exclude(user=user).exists()
    )


def _confirmed(request, flow: FlowRun, stage: str, device: Device) -> HttpResponse:
    """The device is confirmed. A passcode from it (or the key's answer) was just checked,
    which is a fresh second factor: "Add another device" right after goes on without asking
    for one again. Every path ends at "done", whichever stage confirmed the device."""
    second_factor_mark_fresh(request)
    return flow.done(stage, next_stage="done", device_id=device.pk, device_name=device.name)


# The pages -----------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@ENROLL.serves("start")
def start(request, flow: FlowRun):
    """ "Protect your account with two-factor authentication" and Start setup. An account with
    a device comes here only to add another (``?add=1``, from My Settings & Devices)."""
    user = request.user
    has_device = user_has_device(user)
    adding = "1" in (request.GET.get("add"), request.POST.get("add"))
    if has_device and not adding:
        return redirect("twofactor:devices")
    if not has_device and not user_has_verified_channel(user):
        return render(request, "twofactor/enroll/safecode_needed.html")
    if request.method == "POST":
        return flow.start(adding=has_device)
    return flow.render("twofactor/enroll/start.html", adding=has_device)


@never_cache
@require_http_methods(["GET", "POST"])
@wizard_stage("type")
def device_type(request, flow: FlowRun):
    """Mobile phone (recommended), tablet, landline or security key."""
    form = DeviceKindForm(request.POST or None, initial={"kind": flow.get("kind")})
    if request.method == "POST" and form.is_valid():
        kind = form.cleaned_data["kind"]
        phone_type = flow.get("phone_type", "") if kind == MOBILE else ""
        return flow.done(
            "type",
            next_stage=_next("type", kind, phone_type),
            kind=kind,
            phone_type=phone_type,
        )
    return _page(flow, "type", "type.html", form=form)


@never_cache
@require_http_methods(["GET", "POST"])
@wizard_stage("phone")
def phone_number(request, flow: FlowRun):
    """The number, and "This number is correct". A number another account's device uses is
    taken only once a passcode sent to it proves it is the person's."""
    kind = flow.get("kind")
    ownership = flow.get("ownership")
    action = request.POST.get("action", "")
    if ownership and (request.method == "GET" or action in ("send", "code", "change")):
        return _ownership(request, flow, ownership, action)
    form = DeviceNumberForm(request.POST or None, kind=kind, initial={"number": flow.get("number")})
    if request.method == "POST" and form.is_valid():
        number = form.cleaned_data["number"]
        if number != flow.get("number_proven") and _number_used_elsewhere(request.user, number):
            device = _device_for(
                flow, request.user, kind=kind, phone_type="", number=number, app=False
            )
            flow.update(ownership={"number": number, "method": ""}, device_id=device.pk)
            return redirect(request.path)
        return _phone_done(request, flow, number)
    return _page(flow, "phone", "phone.html", form=form, kind=kind)


def _phone_done(request, flow: FlowRun, number: str, **data) -> HttpResponse:
    kind = flow.get("kind")
    if kind == LANDLINE:
        device = _device_for(flow, request.user, kind=kind, phone_type="", number=number, app=False)
        data["device_id"] = device.pk
    next_stage = _next("phone", kind, flow.get("phone_type", ""))
    return flow.done("phone", next_stage=next_stage, number=number, ownership=None, **data)


def _ownership(request, flow: FlowRun, ownership: dict, action: str) -> HttpResponse:
    """Prove a number already in use is the person's: a passcode by text or call to it, sent
    to the phone of the device being set up and checked once (``phone_code_consume``)."""
    kind = flow.get("kind")
    if action == "change":
        flow.update(ownership=None)
        return redirect(request.path)
    device = _run_device(flow, request.user)
    if device is None or device.phone is None or device.number != ownership["number"]:
        flow.update(ownership=None)
        messages.error(request, DEVICE_GONE)
        return redirect(request.path)
    codes = _codes(flow)
    send_form = OwnershipSendForm(
        request.POST if action == "send" else None,
        kind=kind,
        initial={"method": ownership.get("method")} if ownership.get("method") else None,
    )
    code_form = EnrollPasscodeForm(
        request.POST if action == "code" else None, method=ownership.get("method") or "sms"
    )
    error = ""
    if action == "send" and send_form.is_valid():
        method = send_form.cleaned_data["method"]
        sent, error = _send_within_limits(
            request, flow, device, method, ownership={**ownership, "method": method}
        )
        if sent is not None:
            return sent
    if action == "code" and code_form.is_valid():
        if phone_code_consume(device=device.phone, code=code_form.cleaned_data["code"]):
            device_number_proven(device=device, request=request)
            number = ownership["number"]
            return _phone_done(request, flow, number, number_proven=number)
        if codes.record_wrong_code():
            return flow.restart(TOO_MANY)
        code_form.add_error("code", WRONG_PASSCODE)
    return _page(
        flow,
        "phone",
        "ownership.html",
        send_form=send_form,
        code_form=code_form,
        sent=bool(ownership.get("method")),
        method=ownership.get("method"),
        masked_number=device.masked_number,
        error=error,
        page_has_errors=bool(error or send_form.errors or code_form.errors),
    )


@never_cache
@require_http_methods(["GET", "POST"])
@wizard_stage("phone_type")
def phone_type(request, flow: FlowRun):
    """iPhone, Android or Other: an "Other" phone gets passcodes by text message and calls."""
    form = PhoneTypeForm(request.POST or None, initial={"phone_type": flow.get("phone_type")})
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["phone_type"]
        data = {"phone_type": chosen}
        if chosen == OTHER_PHONE:
            device = _device_for(
                flow,
                request.user,
                kind=MOBILE,
                phone_type=chosen,
                number=flow.get("number", ""),
                app=False,
            )
            data["device_id"] = device.pk
        return flow.done("phone_type", next_stage=_next("phone_type", MOBILE, chosen), **data)
    return _page(flow, "phone_type", "phone_type.html", form=form)


def _offers_portal_app(flow: FlowRun) -> bool:
    """The portal's own authenticator is offered for an iPhone or an Android phone."""
    return flow.get("kind") == MOBILE and flow.get("phone_type") in PORTAL_APP_PHONES


@never_cache
@require_http_methods(["GET", "POST"])
@wizard_stage("install")
def install(request, flow: FlowRun):
    """ "Use the portal's authenticator" (an iPhone or an Android phone) or another
    authenticator app; either makes the key, and the activate stage shows its QR code."""
    kind = flow.get("kind")
    if request.method == "POST":
        portal_app = _offers_portal_app(flow) and request.POST.get("action") == "portal_app"
        device = _device_for(
            flow,
            request.user,
            kind=kind,
            phone_type=flow.get("phone_type", "") if kind == MOBILE else "",
            number=flow.get("number", "") if kind == MOBILE else "",
            app=True,
        )
        return flow.done("install", device_id=device.pk, portal_app=portal_app, activation_token="")
    return _page(
        flow,
        "install",
        "install.html",
        kind=kind,
        phone_type=flow.get("phone_type"),
        portal_app=_offers_portal_app(flow),
    )


def _activation_token(flow: FlowRun, device: Device) -> str:
    """The token of the run's activation link, made once and kept while it is live."""
    token = app_activation_link(device=device, token=flow.get("activation_token", ""))
    if token != flow.get("activation_token"):
        flow.update(activation_token=token)
    return token


def _activate_portal_app(request, flow: FlowRun) -> HttpResponse:
    """The portal's authenticator: the phone scans the QR code (or opens the emailed link,
    which carries the same activation link) and activates; the page moves on as soon as it
    has (static/js/activation_wait.js) and asks for the passcode the app then shows, which
    alone confirms the device: it proves the phone that activated is the person's."""
    device = _run_device(flow, request.user)
    if device is None or device.totp is None:
        messages.error(request, DEVICE_GONE)
        return flow.back_to("install")
    action = request.POST.get("action", "")
    if device.app_id is not None:
        form = EnrollPasscodeForm(request.POST if action == "confirm" else None)
        if request.method == "POST" and action == "confirm" and form.is_valid():
            code = form.cleaned_data["code"]
            if device_confirm(device=device, method="passcode", code=code, request=request):
                return _confirmed(request, flow, "activate", device)
            if _codes(flow).record_wrong_code():
                return flow.restart(TOO_MANY)
            form.add_error("code", WRONG_APP_PASSCODE)
        return _page(
            flow, "activate", "activate_app.html", device=device, form=form, activated=True
        )
    try:
        token = _activation_token(flow, device)
    except TwoFactorError as exc:
        return flow.restart(exc.message)
    error = ""
    if request.method == "POST" and action == "email":
        emails = int(flow.get("app_emails", 0))
        if emails >= ACTIVATION_EMAILS:
            error = "We sent as many activation links as we can. Check your email."
        else:
            try:
                address = activation_link_send(device=device, request=request, app_token=token)
            except TwoFactorError as exc:
                error = exc.message
            else:
                flow.update(app_emails=emails + 1)
                messages.success(
                    request,
                    f"We sent the activation link to {address}. Open it on your phone.",
                )
                return redirect(request.path)
    elif request.method == "POST":
        error = NOT_ACTIVATED
    return _page(
        flow,
        "activate",
        "activate_app.html",
        device=device,
        activation_url=app_activation_url(token),
        hours=int(app_settings.ACTIVATION_LINK_VALIDITY.total_seconds() // 3600),
        error=error,
    )


@never_cache
@require_GET
@wizard_stage("activate")
def activation_status(request, flow: FlowRun):
    """Whether the phone has activated the app yet, for the activate page's script."""
    device = _run_device(flow, request.user)
    activated = device is not None and app_is_activated(device=device)
    return JsonResponse({"activated": activated})


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
@wizard_stage("activate")
def activate(request, flow: FlowRun):
    """Scan the QR code (or type the key, or have it emailed to the phone), then enter a
    passcode from the app: only that confirms the device."""
    if flow.get("portal_app"):
        return _activate_portal_app(request, flow)
    device = _run_device(flow, request.user)
    if device is None or device.totp is None:
        messages.error(request, DEVICE_GONE)
        return flow.back_to("install")
    action = request.POST.get("action", "confirm")
    if request.method == "POST" and action == "email":
        try:
            address = activation_link_send(device=device, request=request)
        except TwoFactorError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"We sent an activation link to {address}. Open it on the device you are "
                "setting up, then enter the passcode from the app here.",
            )
        return redirect(request.path)
    form = EnrollPasscodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if device_confirm(
            device=device, method="passcode", code=form.cleaned_data["code"], request=request
        ):
            return _confirmed(request, flow, "activate", device)
        form.add_error("code", WRONG_APP_PASSCODE)
    return _page(
        flow,
        "activate",
        "activate.html",
        form=form,
        device=device,
        key=totp_key_text(device.totp),
        otpauth_uri=device.totp.config_url,
    )


@require_GET
@wizard_stage("activate")
def qr_code(request, flow: FlowRun):
    """The QR code of the activate page, drawn on the server; never kept by any cache."""
    if flow.get("portal_app"):
        device = _run_device(flow, request.user)
        if device is None or device.app_id is not None or not flow.get("activation_token"):
            raise Http404
        content = app_activation_url(flow.get("activation_token"))
    else:
        device = _run_device(flow, request.user)
        if device is None or device.totp is None:
            raise Http404
        content = device.totp.config_url
    response = HttpResponse(qr_svg(content), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
@wizard_stage("call")
def landline_test(request, flow: FlowRun):
    """A landline's test call ("Call me", then the passcode the call read out), or, for a
    mobile phone with no app, a passcode by text message."""
    device = _run_device(flow, request.user)
    if device is None or device.phone is None:
        messages.error(request, DEVICE_GONE)
        return flow.back_to("phone_type" if flow.get("kind") == MOBILE else "phone")
    method = "call" if device.kind == LANDLINE else "sms"
    codes = _codes(flow)
    action = request.POST.get("action", "")
    error = ""
    if request.method == "POST" and action == "send":
        sent, error = _send_within_limits(request, flow, device, method, sent=True)
        if sent is not None:
            return sent
    form = EnrollPasscodeForm(request.POST if action == "code" else None, method=method)
    if request.method == "POST" and action == "code" and form.is_valid():
        if device_confirm(
            device=device, method=method, code=form.cleaned_data["code"], request=request
        ):
            return _confirmed(request, flow, "call", device)
        if codes.record_wrong_code():
            return flow.restart(TOO_MANY)
        form.add_error("code", WRONG_PASSCODE)
    return _page(
        flow,
        "call",
        "call.html",
        form=form,
        device=device,
        method=method,
        sent=bool(flow.get("sent")),
        error=error,
    )


@never_cache
@require_http_methods(["GET", "POST"])
@wizard_stage("key")
def security_key(request, flow: FlowRun):
    """Name the key, then "Register security key": static/js/webauthn.js asks the browser to
    make a credential with the options of ``twofactor:enroll_key_options`` and posts its
    answer in the form's hidden ``credential``; only a verified answer adds the key."""
    form = SecurityKeyRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = key_register(
                user=request.user,
                credential_json=form.cleaned_data["credential"],
                name=form.cleaned_data["name"],
                request=request,
            )
        except TwoFactorError as exc:
            form.add_error("credential", exc.message)
        else:
            return _confirmed(request, flow, "key", device)
    status = 400 if form.errors else 200
    return _page(flow, "key", "key.html", form=form, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@ENROLL.serves("done")
def done(request, flow: FlowRun):
    """The device is added: "Add another device", "Continue", or "Continue to sign in" to try
    it at once (signed out, then the sign-in page)."""
    device = (
        Device.objects.filter(
            pk=flow.get("device_id"), user=request.user, confirmed_at__isnull=False
        ).first()
        if flow.get("device_id")
        else None
    )
    if device is None:
        return flow.restart()
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "another":
        return flow.start(adding=True)
    if request.method == "POST" and action == "test":
        audit_record(event="signout", subject=request.user, request=request)
        logout(request)
        messages.info(
            request, f"Sign in again, and use your new device ({device.name}) for the second step."
        )
        return redirect("accounts:login")
    return _page(flow, "done", "done.html", device=device)


# The emailed activation link, opened on the phone ---------------------------------------------


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def activation_link(request, token: str):
    """The page an activation link opens on the phone: first a button, so that a mail
    scanner fetching the link does not use it up, then, once, the QR code and key."""
    if request.method == "GET":
        device = activation_link_device(token=token)
        if device is None:
            return render(request, "twofactor/enroll/link_invalid.html", status=404)
        return render(request, "twofactor/enroll/activation_link.html", {"device": device})
    device = activation_link_open(token=token, request=request)
    if device is None:
        return render(request, "twofactor/enroll/link_invalid.html", status=404)
    context = {
        "device": device,
        "shown": True,
        # Drawn here from the device's own key; no typed input reaches it.
        "qr": mark_safe(qr_svg(device.totp.config_url)),  # noqa: S308
        "key": totp_key_text(device.totp),
        "otpauth_uri": device.totp.config_url,
    }
    return render(request, "twofactor/enroll/activation_link.html", context)
