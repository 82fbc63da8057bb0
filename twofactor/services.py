"""Two-factor writes: enrolling and confirming devices, passcodes by text and call, the
second-factor check at sign-in, device changes and remembered browsers.

Rules kept here, whatever door calls them:
- A device counts only once a correct code from it confirmed it, in one transaction.
- A sign-in is verified against the one OTP device the person chose (``django_otp.verify_token``
  on its persistent id), with django-otp's throttling and, for TOTP, ``last_t`` against replay.
- Passcodes by text or call are 6 digits from ``secrets``, valid 10 minutes, stored as a keyed
  hash and consumed by a conditional UPDATE: one use however requests race.
- Second-factor failures have their own counter; ``LOCK_AFTER_FAILURES`` in a row lock the
  account through the accounts lock service, with the factor in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

import django_otp
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services.lockout import account_lock
from accounts.services.notices import notice_send
from audit.models import AuditEvent
from audit.services import audit_record
from delivery.models import Message
from delivery.services import message_enqueue
from safecode.codes import generate_code, generate_token, normalize_code
from twofactor.app_settings import app_settings
from twofactor.models import Device, PhoneDevice, Profile, RememberedBrowser
from twofactor.policy import user_devices

HASH_SALT = "twofactor.passcode"
REMEMBER_SALT = "twofactor.remembered_browser"


class TwoFactorError(Exception):
    """A refusal with a message a person can read."""

    message = "That did not work."

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class LastDeviceRequired(TwoFactorError):
    message = "This is your only device. Add another before you remove it."


class PasscodeWait(TwoFactorError):
    message = "A passcode was sent less than a minute ago. Wait a moment before asking again."


# Enrolling ----------------------------------------------------------------------------------


def device_start(
    *, user: User, kind: str, name: str, number: str = "", phone_type: str = "", app: bool
) -> Device:
    """An unconfirmed device: a TOTP key when the device runs an authenticator ``app``, a
    phone passcode device when it has a ``number``. Nothing counts until ``device_confirm``.

    Unconfirmed devices of the person are dropped first, so leaving the wizard half-way and
    starting again leaves nothing behind.
    """
    with transaction.atomic():
        device_discard_unconfirmed(user=user)
        totp = phone = None
        if app:
            totp = TOTPDevice.objects.create(
                user=user, name=name, confirmed=False, tolerance=1, step=30, digits=6
            )
        if number:
            phone = PhoneDevice.objects.create(user=user, name=name, confirmed=False, number=number)
        return Device.objects.create(
            user=user,
            kind=kind,
            name=name,
            number=number,
            phone_type=phone_type,
            totp=totp,
            phone=phone,
        )


def device_discard_unconfirmed(*, user: User) -> None:
    for device in Device.objects.filter(user=user, confirmed_at__isnull=True):
        _delete(device)


def device_confirm(
    *, device: Device, method: str, code: str, request: HttpRequest | None = None
) -> bool:
    """Confirm ``device`` with a code from it (``passcode`` from the app, or one sent by
    ``sms``/``call``). A wrong code leaves it unconfirmed; the first device becomes the
    default. Tells the person on their account email."""
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        if device.is_confirmed:
            return True
        otp = otp_device_for(device, method)
        if otp is None or not _otp_verify(device.user, otp, code, confirming=True):
            audit_record(
                event="twofactor.device_confirm_failed",
                outcome=AuditEvent.Outcome.FAILURE,
                subject=device.user,
                request=request,
                method=method,
            )
            return False
        # Only what the code proved counts: an app's passcode proves the app, not the number.
        type(otp).objects.filter(pk=otp.pk).update(confirmed=True)
        device_mark_confirmed(device=device, request=request)
    return True


def device_mark_confirmed(*, device: Device, request: HttpRequest | None = None) -> None:
    """The device proved itself (a code from it, the app's activation, a key's registration):
    it counts from now, the first device becomes the default, and the person is told on their
    account email. Called inside the transaction that proved it, the device row locked."""
    has_default = Device.objects.filter(user=device.user, is_default=True).exists()
    device.confirmed_at = timezone.now()
    device.is_default = not has_default
    device.save(update_fields=["confirmed_at", "is_default"])
    audit_record(
        event="twofactor.device_added",
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=device.user,
        request=request,
        device=device.name,
        kind=device.kind,
    )
    notice_send(
        user=device.user,
        name="twofactor/device_added",
        context={"device": device},
        report_change="twofactor.device_added",
    )


def device_number_proven(*, device: Device, request: HttpRequest | None = None) -> None:
    """A passcode sent to ``device``'s number came back: texts and calls to it may now prove
    a sign-in. Until then a phone enrolled with an app offers only the app's passcodes."""
    if device.phone_id is not None:
        PhoneDevice.objects.filter(pk=device.phone_id).update(confirmed=True)
        audit_record(event="twofactor.number_proven", subject=device.user, request=request)


# Passcodes by text message and call --------------------------------------------------------


def _hash(device: PhoneDevice, code: str) -> str:
    return salted_hmac(HASH_SALT, f"{device.pk}:{code}", algorithm="sha256").hexdigest()


def passcode_send(*, device: Device, method: str, request: HttpRequest | None = None) -> None:
    """Send a new passcode to ``device``'s phone by ``sms`` or ``call``; only the newest works.

    At most one a minute per device (``PasscodeWait``), so a page pressed again and again
    does not ring a phone again and again.
    """
    phone = device.phone
    if phone is None or method not in ("sms", "call"):
        raise TwoFactorError("This device cannot receive passcodes that way.")
    now = timezone.now()
    code = generate_code()
    valid_until = now + app_settings.PASSCODE_VALIDITY
    resend_after = now - app_settings.PASSCODE_INTERVAL + app_settings.PASSCODE_VALIDITY
    with transaction.atomic():
        sent = (
            PhoneDevice.objects.filter(pk=phone.pk)
            .exclude(code_valid_until__gt=resend_after)
            .update(code_hash=_hash(phone, code), code_valid_until=valid_until)
        )
        if not sent:
            raise PasscodeWait
        institution = settings.INSTITUTION_SHORT_NAME
        if method == "sms":
            body = f"{institution} passcode: {code}. It works once, for 10 minutes."
            channel = Message.Channel.SMS
            masked = [code]
        else:
            spoken = ", ".join(code)
            body = (
                f"This is {institution} with your sign-in passcode. Your passcode is: {spoken}. "
                f"Again, your passcode is: {spoken}. Goodbye."
            )
            channel = Message.Channel.VOICE
            masked = [spoken]
        message_enqueue(
            channel=channel,
            recipient=phone.number,
            body=body,
            purpose=f"twofactor.passcode_{method}",
            secrets=masked,
            user=device.user,
            expires_at=valid_until,
        )
        audit_record(
            event="twofactor.passcode_sent",
            subject=device.user,
            request=request,
            method=method,
            device=device.name,
        )


def phone_code_consume(*, device: PhoneDevice, code: str) -> bool:
    """Use the newest passcode of ``device`` if ``code`` is it and it has not expired."""
    current = PhoneDevice.objects.filter(pk=device.pk).values("code_hash").first()
    stored = (current or {}).get("code_hash") or ""
    if not stored or not constant_time_compare(stored, _hash(device, code)):
        return False
    return bool(
        PhoneDevice.objects.filter(
            pk=device.pk, code_hash=stored, code_valid_until__gt=timezone.now()
        ).update(code_hash="", code_valid_until=None)
    )


# The second factor at sign-in ---------------------------------------------------------------


@dataclass(frozen=True)
class SecondFactorResult:
    device: Device | None
    locked: bool = False

    @property
    def ok(self) -> bool:
        return self.device is not None


def otp_device_for(device: Device, method: str):
    """The django-otp device that ``method`` on ``device`` proves (for ``django_otp.login``,
    so the console's own check sees it); None when the device has no such part."""
    if method == "passcode":
        return device.totp
    if method in ("sms", "call"):
        return device.phone
    if method == "push":
        return device.app
    if method == "webauthn":
        return device.security_key
    return None


def _otp_verify(user: User, otp, code: str, *, confirming: bool = False) -> bool:
    """Whether ``code`` is right for ``otp``; an OTP device not yet proven never passes a
    sign-in (``confirming`` is the one check that may prove it)."""
    if not (otp.confirmed or confirming):
        return False
    code = normalize_code(code)
    if code is None:
        return False
    return django_otp.verify_token(user, otp.persistent_id, code) is not None


def second_factor_verify(
    *,
    user: User,
    device_id: int,
    method: str,
    code: str,
    request: HttpRequest | None = None,
    devices: list[Device] | None = None,
) -> SecondFactorResult:
    """Check ``code`` against the one device and method the person chose.

    ``devices`` are the person's confirmed devices as the page just read them
    (``twofactor.policy.user_devices``); the chosen one is taken from them rather than read
    again. A success resets the second-factor failure count and stamps the device; a failure
    counts, and ``LOCK_AFTER_FAILURES`` in a row lock the account.
    """
    device = _confirmed_device(user, device_id, devices)
    otp = otp_device_for(device, method) if device is not None else None
    # The number of a phone enrolled with its app was typed and checked by the person who had
    # just proven a SafeCode; the first passcode that comes back from it proves it.
    first_use = otp is not None and otp is device.phone and not otp.confirmed
    if otp is not None and _otp_verify(user, otp, code, confirming=first_use):
        if first_use:
            device_number_proven(device=device, request=request)
        return second_factor_succeeded(user=user, device=device, method=method, request=request)
    return second_factor_failed(user=user, method=method, request=request)


def _confirmed_device(user: User, device_id: int, devices: list[Device] | None) -> Device | None:
    if devices is None:
        devices = user_devices(user).filter(pk=device_id)
    return next(
        (
            device
            for device in devices
            if device.pk == device_id and device.user_id == user.pk and device.confirmed_at
        ),
        None,
    )


def second_factor_succeeded(
    *, user: User, device: Device, method: str, request: HttpRequest | None = None
) -> SecondFactorResult:
    """What every proven second factor does, whatever the method: the failure count starts
    again, the device is stamped, and the audit trail says which method it was."""
    Profile.objects.filter(user=user).update(failed_count=0)
    Device.objects.filter(pk=device.pk).update(last_used_at=timezone.now())
    audit_record(
        event="twofactor.verified",
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=user,
        request=request,
        method=method,
        device=device.name,
    )
    return SecondFactorResult(device=device)


def second_factor_failed(
    *, user: User, method: str, request: HttpRequest | None = None
) -> SecondFactorResult:
    """What every wrong second factor does, whatever the method: it counts, and
    ``LOCK_AFTER_FAILURES`` in a row lock the account."""
    profile, _ = Profile.objects.get_or_create(user=user)
    Profile.objects.filter(pk=profile.pk).update(failed_count=F("failed_count") + 1)
    failures = Profile.objects.values_list("failed_count", flat=True).get(pk=profile.pk)
    audit_record(
        event="twofactor.failed",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
        method=method,
        failures=failures,
    )
    locked = False
    if failures >= app_settings.LOCK_AFTER_FAILURES:
        locked = account_lock(user=user, reason=f"second_factor:{method}", request=request)
        Profile.objects.filter(pk=profile.pk).update(failed_count=0)
    return SecondFactorResult(device=None, locked=locked)


# My Settings & Devices ----------------------------------------------------------------------


def _delete(device: Device) -> None:
    """Delete ``device`` and the OTP devices that proved it; for the authenticator app that
    revokes its key, for a security key its credential."""
    linked_devices = (device.totp, device.phone, device.app, device.security_key)
    device.delete()
    for linked in linked_devices:
        if linked is not None:
            linked.delete()


def device_remove(*, device: Device, request: HttpRequest | None = None) -> None:
    """Remove a confirmed device. The last one stays while the policy requires two-factor;
    every remembered browser of the account is forgotten; the person is told."""
    from twofactor.policy import twofactor_required

    with transaction.atomic():
        user = device.user
        others = Device.objects.filter(user=user, confirmed_at__isnull=False).exclude(pk=device.pk)
        if not others.exists() and twofactor_required(user):
            raise LastDeviceRequired
        was_default = device.is_default
        name = device.name
        _delete(device)
        if was_default:
            successor = others.order_by("created_at").first()
            if successor is not None:
                Device.objects.filter(pk=successor.pk).update(is_default=True)
        RememberedBrowser.objects.filter(user=user).delete()
        audit_record(
            event="twofactor.device_removed",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            request=request,
            device=name,
        )
        notice_send(
            user=user,
            name="twofactor/device_removed",
            context={"device_name": name},
            report_change="twofactor.device_removed",
        )


def device_rename(*, device: Device, name: str, request: HttpRequest | None = None) -> None:
    name = " ".join(name.split())[:64]
    if not name:
        raise TwoFactorError("Enter a name for the device.")
    Device.objects.filter(pk=device.pk).update(name=name)
    audit_record(event="twofactor.device_renamed", subject=device.user, request=request)


def device_make_default(*, device: Device, request: HttpRequest | None = None) -> None:
    with transaction.atomic():
        Device.objects.filter(user=device.user, is_default=True).update(is_default=False)
        Device.objects.filter(pk=device.pk, confirmed_at__isnull=False).update(is_default=True)
    audit_record(event="twofactor.default_changed", subject=device.user, request=request)


def login_action_set(*, user: User, action: str, request: HttpRequest | None = None) -> None:
    if action not in Profile.LoginAction.values:
        raise TwoFactorError("Choose what happens when you sign in.")
    Profile.objects.update_or_create(user=user, defaults={"login_action": action})
    audit_record(event="twofactor.login_action_changed", subject=user, request=request)


# Remembered browsers -------------------------------------------------------------------------


def _password_marker(user: User) -> str:
    return salted_hmac(REMEMBER_SALT, user.password, algorithm="sha256").hexdigest()


def _secret_hash(secret: str) -> str:
    return salted_hmac(REMEMBER_SALT, secret, algorithm="sha256").hexdigest()


def browser_remember(*, user: User, user_agent: str) -> str:
    """A new remembered browser; returns the cookie value (``<id>:<secret>``), shown once."""
    secret = generate_token()
    browser = RememberedBrowser.objects.create(
        user=user,
        secret_hash=_secret_hash(secret),
        password_marker=_password_marker(user),
        user_agent=user_agent[:200],
        expires_at=timezone.now() + app_settings.REMEMBER_FOR,
    )
    return f"{browser.pk}:{secret}"


def browser_is_remembered(*, user: User, cookie: str) -> bool:
    """Whether ``cookie`` names a live remembered browser of ``user``: not expired, issued
    under the password in force, and not forgotten."""
    browser_id, _, secret = (cookie or "").partition(":")
    if not (browser_id.isascii() and browser_id.isdigit()) or len(browser_id) > 18 or not secret:
        return False
    browser = RememberedBrowser.objects.filter(
        pk=int(browser_id), user=user, expires_at__gt=timezone.now()
    ).first()
    if browser is None:
        return False
    if not constant_time_compare(browser.secret_hash, _secret_hash(secret)):
        return False
    if not constant_time_compare(browser.password_marker, _password_marker(user)):
        browser.delete()
        return False
    # The page lists the day a browser was last seen: one write a day, not one per check (the
    # sign-in pipeline asks this more than once per request).
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    RememberedBrowser.objects.filter(pk=browser.pk, last_seen_at__lt=today).update(
        last_seen_at=timezone.now()
    )
    return True


def browsers_remembered(*, user: User):
    """The browsers that would still skip ``user``'s second step: not expired, and issued
    under the password in force (the others are stale and are not listed)."""
    return RememberedBrowser.objects.filter(
        user=user, expires_at__gt=timezone.now(), password_marker=_password_marker(user)
    )


def browser_forget(*, user: User, browser_id: int, request: HttpRequest | None = None) -> None:
    RememberedBrowser.objects.filter(pk=browser_id, user=user).delete()
    audit_record(event="twofactor.browser_forgotten", subject=user, request=request)


# Activation links ----------------------------------------------------------------------------

ACTIVATION_SALT = "twofactor.activation_link"
# Links one device being set up may be sent; a person who needs more starts the setup again.
ACTIVATION_LINKS_PER_DEVICE = 3


def _activation_hash(token: str) -> str:
    return salted_hmac(ACTIVATION_SALT, token, algorithm="sha256").hexdigest()


def activation_link_send(
    *, device: Device, request: HttpRequest | None = None, app_token: str = ""
) -> str:
    """Email the account a link that opens, on the phone, the QR code and key of ``device``
    (unconfirmed, with an authenticator app); returns the address it went to. With
    ``app_token`` (the portal's own app), the email carries the same activation link as the
    QR code on the page instead of a new one.

    The link works once, for ``ACTIVATION_LINK_VALIDITY``; a newer one ends the older ones,
    and a device gets at most ``ACTIVATION_LINKS_PER_DEVICE``. Only the token's keyed hash
    is kept, and the token is masked in the stored message.
    """
    from django.urls import reverse

    from delivery.services import email_enqueue
    from twofactor.models import ActivationLink

    user = device.user
    address = user.notice_email
    if not address:
        raise TwoFactorError("Your account has no email address. Scan the QR code instead.")
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        if device.is_confirmed or device.totp is None:
            raise TwoFactorError("This device is not waiting for an authenticator app.")
        if app_token:
            link = activation_link_live(app_token, for_app=True)
            if link is None or link.device_id != device.pk:
                raise TwoFactorError("This activation link has expired. Start the setup again.")
            token = app_token
            path = f"{reverse('mobile:activate')}#{token}"
        else:
            token = activation_link_create(device=device)
            link = ActivationLink.objects.get(token_hash=_activation_hash(token))
            path = reverse("twofactor:activation_link", args=[token])
        hours = int(app_settings.ACTIVATION_LINK_VALIDITY.total_seconds() // 3600)
        email_enqueue(
            recipient=address,
            template="twofactor/email/activation_link",
            context={
                "user": user,
                "device": device,
                "link": f"{settings.PORTAL_URL}{path}",
                "hours": hours,
                "portal_app": bool(app_token),
            },
            purpose="twofactor.activation_link",
            user=user,
            secrets=[token],
            expires_at=link.expires_at,
        )
        audit_record(
            event="twofactor.activation_link_sent",
            subject=user,
            request=request,
            device=device.name,
        )
    return address


def activation_link_create(*, device: Device, for_app: bool = False) -> str:
    """A new link for ``device`` (unconfirmed, locked by the caller's transaction); returns
    its token, shown once. A device gets at most ``ACTIVATION_LINKS_PER_DEVICE``; the new one
    ends the device's other open links."""
    from twofactor.models import ActivationLink

    if ActivationLink.objects.filter(device=device).count() >= ACTIVATION_LINKS_PER_DEVICE:
        raise TwoFactorError(
            "We sent as many activation links as we can for this device. Check your email, "
            "or scan the QR code instead."
        )
    now = timezone.now()
    ActivationLink.objects.filter(device=device, used_at__isnull=True).update(used_at=now)
    token = generate_token()
    ActivationLink.objects.create(
        device=device,
        token_hash=_activation_hash(token),
        for_app=for_app,
        expires_at=now + app_settings.ACTIVATION_LINK_VALIDITY,
    )
    return token


def activation_link_live(token: str, *, for_app: bool = False):
    """The open, unexpired link ``token`` names, of a device still being set up with an app;
    a link of the portal's own app (``for_app``) is never one that shows a key."""
    from twofactor.models import ActivationLink

    if not token or len(token) > 100:
        return None
    link = (
        ActivationLink.objects.select_related("device__totp", "device__user")
        .filter(
            token_hash=_activation_hash(token),
            for_app=for_app,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    if link is None or link.device.is_confirmed or link.device.totp is None:
        return None
    return link


def activation_link_device(*, token: str) -> Device | None:
    """The device a live link would open, without using the link: None for an unknown,
    used or expired link, or one whose device is confirmed or gone."""
    link = activation_link_live(token)
    return link.device if link is not None else None


def activation_link_open(*, token: str, request: HttpRequest | None = None) -> Device | None:
    """Use the link once (a conditional UPDATE: however many requests race, one wins) and
    return the device whose key it shows; None whenever ``activation_link_device`` is."""
    from portal.single_use import single_use_consume
    from twofactor.models import ActivationLink

    link = activation_link_live(token)
    if link is None or not single_use_consume(ActivationLink.objects, pk=link.pk):
        return None
    audit_record(
        event="twofactor.activation_link_opened",
        subject=link.device.user,
        request=request,
        device=link.device.name,
    )
    return link.device


# The service desk ----------------------------------------------------------------------------


def device_remove_by_desk(
    *, device: Device, agent: User, request: HttpRequest | None = None
) -> str:
    """The service desk removes one of the person's devices; returns its name.

    Unlike ``device_remove`` (the person's own, after a fresh proof), the last device may go:
    the desk removes a lost or stolen phone, and the person then signs in with a bypass code
    and enrolls a new one (``TwoFactorEnrollment``). As with the person's removal, the other
    devices keep a default and every remembered browser of the account is forgotten (a
    browser is bound to the device list). Audited with the agent; the desk's own notice tells
    the person, so nothing is sent here. Raises ``TwoFactorError`` for a device that is not
    there any more.
    """
    with transaction.atomic():
        current = (
            Device.objects.select_for_update().filter(pk=device.pk, user_id=device.user_id).first()
        )
        if current is None:
            raise TwoFactorError("That device was removed already.")
        user = current.user
        name, was_default = current.name, current.is_default
        _delete(current)
        if was_default:
            successor = (
                Device.objects.filter(user=user, confirmed_at__isnull=False)
                .order_by("created_at", "pk")
                .first()
            )
            if successor is not None:
                Device.objects.filter(pk=successor.pk).update(is_default=True)
        forgotten = RememberedBrowser.objects.filter(user=user).delete()[0]
        audit_record(
            event="twofactor.device_removed",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            actor=agent,
            request=request,
            device=name,
            by="service_desk",
            browsers_forgotten=forgotten,
        )
    return name


def browsers_forget_all(*, user: User, actor: User | None = None, request=None) -> int:
    """Forget every remembered browser of ``user``: each asks for a second factor at its next
    sign-in. Returns how many were forgotten; audited with the actor (the desk's agent)."""
    with transaction.atomic():
        forgotten = RememberedBrowser.objects.filter(user=user).delete()[0]
        audit_record(
            event="twofactor.browsers_forgotten",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            actor=actor,
            request=request,
            count=forgotten,
        )
    return forgotten
