"""Push to the portal's own authenticator app (/m/): activation, requests, decisions.

The app on the phone holds a P-256 key pair made with WebCrypto; the private key never leaves
the phone. Every call it makes is signed (``twofactor.signatures``) over a fixed message:

- activation: ``portal-authenticator-activate \\n <token>``: the token of the QR code or the
  emailed link, used once, and the signature proves the phone holds the key it registers;
- a poll for waiting requests: ``portal-authenticator-poll \\n <app id> \\n <unix time>``, within
  ``APP_SIGNATURE_WINDOW`` of the server's clock;
- a decision: ``portal-authenticator-decision \\n <request id> \\n <number> \\n <decision> \\n
  <nonce>``: bound to one request, accepted once (a conditional UPDATE from ``pending`` while the
  request is live), so a replayed, late or misdirected decision changes nothing.

Verified push: the waiting page shows a 3-digit number that the person types on the phone; an
approval with another number is refused. A push nobody asked for therefore cannot be approved
by a tap alone, and ``PUSH_UNANSWERED_LIMIT`` unanswered pushes in ``PUSH_UNANSWERED_WINDOW``
turn pushes off for the account (the other methods stay), so an attacker who has the password
cannot wear the person down. "Deny and report as fraud" mutes pushes for ``PUSH_FRAUD_MUTE``,
tells the person by email, and puts a report in the service desk's queue (``FraudReport``).
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import User
from accounts.services.notices import notice_send
from audit.models import AuditEvent
from audit.services import audit_record
from portal.http import browser_label, client_ip, user_agent
from portal.single_use import single_use_consume
from twofactor.app_settings import app_settings
from twofactor.binding import session_binding
from twofactor.models import ActivationLink, AppKey, Device, FraudReport, Profile, PushRequest
from twofactor.services import (
    SecondFactorResult,
    TwoFactorError,
    activation_link_create,
    activation_link_live,
    second_factor_succeeded,
)
from twofactor.signatures import app_public_key, app_signature_valid, message_lines

ACTIVATE = "portal-authenticator-activate"
POLL = "portal-authenticator-poll"
DECISION = "portal-authenticator-decision"
SUBSCRIBE = "portal-authenticator-subscribe"

DECISIONS = ("approve", "deny", "fraud")
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
NUMBER = re.compile(r"[0-9]{3}")
# What an endpoint of a push service is made of; anything else (a backslash, "@", spaces,
# other scripts) could make two URL parsers disagree about the host.
ENDPOINT = re.compile(r"https://[A-Za-z0-9.-]+(?::443)?/[A-Za-z0-9._~/?&=%:+,;!$*'()-]*")
# How long after its approval the waiting page may still use a push.
APPROVAL_USABLE_FOR = timedelta(minutes=2)
# The app's "last seen" is written at most this often, not on every poll.
SEEN_EVERY = timedelta(minutes=1)

PURPOSES = {"signin": "Sign in", "step_up": "Confirm a change", "reset": "Reset your password"}


class AppError(TwoFactorError):
    """A refusal of a call from the app; ``status`` is the HTTP status it answers with."""

    status = 400

    def __init__(self, message: str = "", *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class AppUnauthorized(AppError):
    status = 401
    message = "This request was not signed by this device. Open the app again."


class AppRemoved(AppError):
    status = 410
    message = "This device was removed from your account."


class DecisionRefused(AppError):
    status = 409
    message = "This request was already answered, or it has expired."


class PushUnavailable(TwoFactorError):
    message = "A push cannot be sent now. Use another method."


# Activation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    app: AppKey
    device: Device
    totp_secret: str


def app_activation_link(*, device: Device, token: str = "") -> str:
    """The token of ``device``'s open link for the authenticator app: ``token`` again while it
    is live, else a new one (which ends any other open link of the device)."""
    link = activation_link_live(token, for_app=True) if token else None
    if link is not None and link.device_id == device.pk:
        return token
    return activation_link_create(device=device, for_app=True)


def app_activation_url(token: str) -> str:
    """The URL the QR code holds; the token is in the fragment, which no browser sends to a
    server, so it is in no access log and no Referer."""
    from django.urls import reverse

    return f"{settings.PORTAL_URL}{reverse('mobile:activate')}#{token}"


def app_activate(
    *, token: str, public_key: str, platform: str, signature: str, request: HttpRequest | None
) -> Activation:
    """Register the phone's public key for the device that ``token`` was made for; the
    signature proves the key is the phone's. The link is used once however many requests race,
    and the TOTP key of the same device is returned, once, so that the app shows passcodes
    (also offline).

    The device is not confirmed here: whoever saw the QR code (a shared screen, a photo) or
    read the emailed link could have opened it. It counts once the passcode the app then
    shows is typed on the setup page (``device_confirm``), which proves that the phone that
    activated is the one in the hands of the person setting up.
    """
    if not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9_-]{16,100}", token):
        raise AppError("This activation link is not valid.", status=404)
    if app_public_key(public_key) is None:
        raise AppError("The app sent a key the portal cannot use.")
    if not app_signature_valid(
        public_key=public_key, message=message_lines(ACTIVATE, token), signature=signature
    ):
        raise AppUnauthorized
    link = activation_link_live(token, for_app=True)
    if link is None:
        raise AppError(
            "This activation link was used already or has expired. Start the setup again.",
            status=404,
        )
    with transaction.atomic():
        if not single_use_consume(ActivationLink.objects, pk=link.pk):
            raise AppError("This activation link was used already.", status=404)
        device = (
            Device.objects.select_for_update(of=("self",))
            .select_related("totp")
            .get(pk=link.device_id)
        )
        if device.is_confirmed or device.totp is None or device.app_id is not None:
            raise AppError("This device is already activated.", status=409)
        app = AppKey.objects.create(
            user=device.user,
            name=device.name,
            confirmed=True,
            public_key=public_key,
            platform=str(platform or "")[:200],
            last_seen_at=timezone.now(),
        )
        device.app = app
        device.save(update_fields=["app"])
        audit_record(
            event="twofactor.app_activated",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=device.user,
            request=request,
            device=device.name,
        )
    secret = base64.b32encode(device.totp.bin_key).decode("ascii").rstrip("=")
    return Activation(app=app, device=device, totp_secret=secret)


def app_is_activated(*, device: Device) -> bool:
    """Whether a phone has activated the app for ``device`` (its passcode confirms it)."""
    return Device.objects.filter(pk=device.pk, app__isnull=False).exists()


# Calls from the app ----------------------------------------------------------------------------


def _whole_number(value) -> int | None:
    """``value`` as a non-negative whole number when it is one (an int, not a bool, or a
    string of at most 19 digits), else None: nothing an app sends can overflow or be a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**63 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return None


def _app(app_id) -> AppKey:
    """The live app key ``app_id`` names; ``AppRemoved`` when its device is gone."""
    app_id = _whole_number(app_id)
    if app_id is None:
        raise AppUnauthorized
    app = AppKey.objects.filter(pk=app_id, confirmed=True).select_related("user").first()
    # A device still being set up counts too: its app polls (and finds nothing) until the
    # setup page confirms it; a setup left half-way deletes it, and the app hears "removed".
    if app is None or not Device.objects.filter(app=app).exists():
        raise AppRemoved
    return app


def _check(app: AppKey, message: str, signature) -> None:
    if not app_signature_valid(public_key=app.public_key, message=message, signature=signature):
        audit_record(
            event="twofactor.app_signature_refused",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=app.user,
        )
        raise AppUnauthorized


def _check_time(ts) -> None:
    ts = _whole_number(ts)
    if ts is None:
        raise AppUnauthorized
    skew = abs(timezone.now().timestamp() - ts)
    if skew > app_settings.APP_SIGNATURE_WINDOW.total_seconds():
        raise AppUnauthorized("This phone's clock is off. Set it to update automatically.")


def _seen(app: AppKey) -> None:
    now = timezone.now()
    AppKey.objects.filter(pk=app.pk).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - SEEN_EVERY)
    ).update(last_seen_at=now)


def app_poll(*, app_id, ts, signature) -> list[PushRequest]:
    """The live requests waiting for the app's answer, newest first."""
    app = _app(app_id)
    _check(app, message_lines(POLL, app.pk, ts), signature)
    _check_time(ts)
    _seen(app)
    return list(
        PushRequest.objects.filter(
            device__app=app, state=PushRequest.State.PENDING, expires_at__gt=timezone.now()
        ).select_related("user")
    )


def push_service_allowed(endpoint: str) -> bool:
    """Whether ``endpoint`` is an https URL of a known push service (``PUSH_SERVICE_HOSTS``).

    The endpoint must be plain (``ENDPOINT``: no userinfo, backslash, space or other script),
    and the host that ``urllib3`` (which sends the request) reads must be the one checked here.
    """
    from urllib.parse import urlsplit

    from urllib3.util import parse_url

    if len(endpoint) > 1000 or not ENDPOINT.fullmatch(endpoint):
        return False
    try:
        parts = urlsplit(endpoint)
        port = parts.port
        sent_to = parse_url(endpoint).host
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or port not in (None, 443):
        return False
    if (sent_to or "").lower() != host:
        return False
    return any(
        host.endswith(allowed) if allowed.startswith(".") else host == allowed
        for allowed in app_settings.PUSH_SERVICE_HOSTS
    )


def app_subscribe(*, app_id, ts, subscription, signature) -> None:
    """Keep the phone's Web Push subscription, so that a push wakes the app when closed."""
    app = _app(app_id)
    if not isinstance(subscription, dict) or not isinstance(subscription.get("endpoint"), str):
        raise AppError("The app sent no subscription.")
    endpoint = subscription["endpoint"]
    _check(app, message_lines(SUBSCRIBE, app.pk, ts, endpoint), signature)
    _check_time(ts)
    keys = subscription.get("keys") if isinstance(subscription.get("keys"), dict) else {}
    if not push_service_allowed(endpoint):
        raise AppError("The app sent a subscription the portal cannot use.")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not (isinstance(p256dh, str) and isinstance(auth, str)):
        raise AppError("The app sent a subscription the portal cannot use.")
    if len(p256dh) > 200 or len(auth) > 100:
        raise AppError("The app sent a subscription the portal cannot use.")
    AppKey.objects.filter(pk=app.pk).update(
        push_endpoint=endpoint, push_p256dh=p256dh, push_auth=auth
    )


def app_decide(
    *, app_id, request_id, number, decision, nonce, signature, request: HttpRequest | None
) -> str:
    """Accept the app's decision on one request, once; returns the request's new state."""
    app = _app(app_id)
    try:
        push_id = uuid.UUID(str(request_id))
    except ValueError:
        raise AppError("The app named no request.") from None
    number = number if isinstance(number, str) else ""
    if (
        decision not in DECISIONS
        or not isinstance(nonce, str)
        or not NONCE.fullmatch(nonce)
        or (number and not NUMBER.fullmatch(number))
    ):
        raise AppError("The app sent a decision the portal cannot read.")
    _check(app, message_lines(DECISION, push_id, number, decision, nonce), signature)
    push = PushRequest.objects.filter(pk=push_id, device__app=app).select_related("user").first()
    if push is None:
        raise DecisionRefused
    if decision == "approve":
        right = constant_time_compare(number, push.number)
        state = PushRequest.State.APPROVED if right else PushRequest.State.WRONG_NUMBER
    elif decision == "fraud":
        state = PushRequest.State.FRAUD
    else:
        state = PushRequest.State.DENIED
    now = timezone.now()
    with transaction.atomic():
        answered = PushRequest.objects.filter(
            pk=push.pk, state=PushRequest.State.PENDING, expires_at__gt=now
        ).update(state=state, decided_at=now, nonce=nonce)
        if not answered:
            raise DecisionRefused
        _seen(app)
        audit_record(
            event="twofactor.push_answered",
            outcome=(
                AuditEvent.Outcome.SUCCESS
                if state == PushRequest.State.APPROVED
                else AuditEvent.Outcome.FAILURE
            ),
            subject=push.user,
            request=request,
            decision=state,
            device=app.name,
        )
        if state == PushRequest.State.FRAUD:
            _fraud_report(push=push, request=request)
    return state


def _fraud_report(*, push: PushRequest, request: HttpRequest | None) -> None:
    from delivery.services import email_enqueue

    user = push.user
    now = timezone.now()
    Profile.objects.update_or_create(
        user=user, defaults={"push_muted_until": now + app_settings.PUSH_FRAUD_MUTE}
    )
    # Whoever sent it may have other pushes waiting (another browser): they end too.
    PushRequest.objects.filter(user=user, state=PushRequest.State.PENDING).update(
        state=PushRequest.State.DENIED, decided_at=now
    )
    report = FraudReport.objects.create(user=user, push=push, ip=push.ip, browser=push.browser)
    audit_record(
        event="twofactor.push_fraud_reported",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
        ip=push.ip or "",
        browser=push.browser,
        report=report.pk,
    )
    notice_send(
        user=user,
        name="twofactor/push_fraud",
        context={"push": push, "minutes": int(app_settings.PUSH_FRAUD_MUTE.total_seconds() // 60)},
    )
    email_enqueue(
        recipient=settings.SERVICE_DESK_EMAIL,
        template="twofactor/email/push_fraud_desk",
        context={"reported": user, "push": push, "report": report},
        purpose="push_fraud_desk",
    )


# The waiting page ------------------------------------------------------------------------------


def push_purpose(flow: str) -> str:
    """What the phone says the push is for, from the name of the page's flow."""
    return PURPOSES.get(flow.partition(":")[0], "Sign in")


def push_place(ip: str) -> str:
    """The approximate place of ``ip`` from ``TWOFACTOR_PLACE_LOOKUP`` when one is set
    (a callable taking the IP and returning a short text such as "Boston, MA"), else ""."""
    lookup = app_settings.PLACE_LOOKUP
    if not lookup:
        return ""
    from django.utils.module_loading import import_string

    try:
        return str(import_string(lookup)(ip) or "")[:100]
    except Exception:  # a place is a courtesy: a lookup that fails shows none
        return ""


# Pushes that were not approved: waiting or left unanswered, denied, or a wrong number typed.
NOT_APPROVED = (
    PushRequest.State.PENDING,
    PushRequest.State.DENIED,
    PushRequest.State.FRAUD,
    PushRequest.State.WRONG_NUMBER,
)


def push_refusal(*, user: User) -> str:
    """Why a push cannot be sent to ``user`` now ("" when it can).

    ``PUSH_UNANSWERED_LIMIT`` pushes in the window that were not approved (left unanswered,
    denied, or answered with a wrong number) turn pushes off until the window moves on: a
    person who denies pushes they did not ask for is protected as much as one who ignores
    them, and a wrong number is not one more guess for whoever pushes.
    """
    now = timezone.now()
    muted = Profile.objects.filter(user=user, push_muted_until__gt=now).exists()
    if muted:
        return (
            "Pushes to your account are off for now, because a request was reported as fraud. "
            "Use a passcode instead."
        )
    unanswered = PushRequest.objects.filter(
        user=user,
        state__in=NOT_APPROVED,
        created_at__gt=now - app_settings.PUSH_UNANSWERED_WINDOW,
    ).count()
    if unanswered >= app_settings.PUSH_UNANSWERED_LIMIT:
        return (
            "Several pushes went unanswered or were denied, so pushes are off for a few "
            "minutes. Use a passcode instead."
        )
    return ""


def push_send(*, device: Device, flow: str, request: HttpRequest | None) -> PushRequest:
    """A push to ``device``'s app for the page's ``flow``; the live one this same page asked
    for when it is still waiting (pressing the button again does not buzz the phone again)."""
    if "push" not in device.methods:
        raise PushUnavailable("This device cannot receive pushes.")
    user = device.user
    now = timezone.now()
    purpose = push_purpose(flow)
    waiter = session_binding(request)
    # Worked out before the account row is locked: a place lookup may take its time.
    ip = client_ip(request) if request is not None else ""
    browser = browser_label(user_agent(request)) if request is not None else ""
    place = push_place(ip) if ip else ""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        waiting = PushRequest.objects.filter(
            device=device,
            purpose=purpose,
            waiter=waiter,
            state=PushRequest.State.PENDING,
            expires_at__gt=now,
        ).first()
        if waiting is not None:
            return waiting
        reason = push_refusal(user=user)
        if reason:
            raise PushUnavailable(reason)
        push = PushRequest.objects.create(
            user=user,
            device=device,
            purpose=purpose,
            number=f"{secrets.randbelow(900) + 100}",
            waiter=waiter,
            ip=ip or None,
            browser=browser,
            place=place,
            expires_at=now + app_settings.PUSH_VALIDITY,
        )
        audit_record(event="twofactor.push_sent", subject=user, request=request, device=device.name)
        _wake(push)
    return push


def _wake(push: PushRequest) -> None:
    """Wake the app through Web Push where it is configured; the app polls while open, so a
    wake-up that never arrives costs only the time until the person opens it."""
    from twofactor.webpush import push_wake_enqueue

    push_wake_enqueue(push=push)


@dataclass(frozen=True)
class PushStatus:
    push_id: str
    state: str
    expires_in: int
    number: str


def push_status(*, push_id, user_id: int, request: HttpRequest | None) -> PushStatus | None:
    """The state of push ``push_id`` of the account ``user_id`` as the page that asked for it
    shows it; None when there is no such push of theirs asked for by that page. One query: the
    page polls it every few seconds, and the account is not needed to read its push."""
    try:
        push_id = uuid.UUID(str(push_id))
    except ValueError:
        return None
    push = (
        PushRequest.objects.filter(pk=push_id, user_id=user_id, waiter=session_binding(request))
        .only("state", "expires_at", "number")
        .first()
    )
    if push is None:
        return None
    left = int((push.expires_at - timezone.now()).total_seconds())
    state = push.state
    if state == PushRequest.State.PENDING and left <= 0:
        state = "expired"
    return PushStatus(
        push_id=str(push.pk), state=state, expires_in=max(left, 0), number=push.number
    )


def push_complete(*, push_id, user: User, request: HttpRequest | None) -> SecondFactorResult | None:
    """Use ``user``'s approved push once, from the page that asked for it: the second factor
    is proven. None when the push is not approved (still waiting, denied, expired, or used
    already) or was asked for by another page."""
    try:
        push_id = uuid.UUID(str(push_id))
    except ValueError:
        return None
    now = timezone.now()
    used = PushRequest.objects.filter(
        pk=push_id,
        user=user,
        waiter=session_binding(request),
        state=PushRequest.State.APPROVED,
        decided_at__gt=now - APPROVAL_USABLE_FOR,
    ).update(state=PushRequest.State.USED)
    if not used:
        return None
    push = PushRequest.objects.select_related("device").get(pk=push_id)
    return second_factor_succeeded(user=user, device=push.device, method="push", request=request)


def fraud_report_resolve(*, report: FraudReport, agent: User, request: HttpRequest | None) -> bool:
    """The service desk dealt with ``report``; whether this call was the one that closed it."""
    closed = FraudReport.objects.filter(pk=report.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=agent
    )
    if closed:
        audit_record(
            event="twofactor.fraud_report_resolved",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=report.user,
            request=request,
            report=report.pk,
        )
    return bool(closed)
