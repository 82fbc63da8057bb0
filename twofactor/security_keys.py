"""Security keys and passkeys (WebAuthn), checked with py_webauthn.

Registration (the enrollment wizard) and authentication (the second step of sign-in, the
step-up before a change, the second factor of a reset) are each two requests: the options,
whose challenge is a ``WebAuthnChallenge`` row, then the browser's answer, which uses the
newest challenge of the person once (a conditional UPDATE on ``used_at IS NULL``) before
anything else is checked, so that a refused answer burns it too. Only the newest challenge
works, as only the newest passcode does. py_webauthn checks the origin (``WEBAUTHN_ORIGINS``),
the relying-party id (``WEBAUTHN_RP_ID``), the challenge, user presence and the signature;
the signature counter is checked here, after the signature, so that only a genuine answer
whose counter did not go up is taken for a cloned key (``twofactor.key_cloned``).

A key's answer at sign-in is booked by ``second_factor_succeeded`` / ``second_factor_failed``,
the same bookkeeping as a passcode: one failure count, one lock, whatever the method.

Why not django-otp-webauthn: it is a good django-otp plugin on py_webauthn, and its scripts
are static files configured through ``json_script``, so the portal's CSP would allow them.
But its views finish the ceremony themselves: they log the person in (``auth_login`` and
``otp_login``) straight from its JSON endpoints, which would step around the portal's sign-in
pipeline (``PendingSignIn`` and its stages), the shared ``MethodChoice`` of sign-in, step-up
and reset, the second-factor failure count and lock, and the wizard's proof-first pages with
their step bar. It brings its own credential model where the portal already has
``SecurityKey`` beside its ``Device``, keeps the challenge in the session rather than in a
row used once, and ships a bundled front end (webpack, @simplewebauthn/browser) whose pages
and messages are not the portal's. The parts worth having are py_webauthn's, used directly.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    generate_challenge,
    options_to_json_dict,
    parse_authentication_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from twofactor.app_settings import app_settings
from twofactor.binding import session_binding
from twofactor.models import Device, SecurityKey, WebAuthnChallenge
from twofactor.services import (
    SecondFactorResult,
    TwoFactorError,
    device_discard_unconfirmed,
    device_mark_confirmed,
    second_factor_failed,
    second_factor_succeeded,
)

USER_HANDLE_SALT = "twofactor.webauthn.user_handle"
METHOD = "webauthn"
TRANSPORTS = frozenset(transport.value for transport in AuthenticatorTransport)
# WebAuthn bounds a credential id at 1,023 bytes; a longer one is no real key.
MAX_CREDENTIAL_ID_BYTES = 1023
MULTI_DEVICE = CredentialDeviceType.MULTI_DEVICE
# What py_webauthn and the decoders under it raise for an answer they cannot read: anything
# a browser (or someone posing as one) sends is refused with a sentence, never an error page.
UNREADABLE = (
    WebAuthnException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
)

EXPIRED = "That took too long, or the page was opened again elsewhere. Try again."
NOT_REGISTERED = (
    "The key's answer could not be checked, so it was not added. Try again, or use another key."
)
ALREADY_REGISTERED = "That key is already registered. Use another key."
NO_KEY = "This device has no security key."


class SecurityKeyError(TwoFactorError):
    message = NOT_REGISTERED


# Identifiers ----------------------------------------------------------------------------------


def user_handle(user: User) -> bytes:
    """The WebAuthn user id of ``user``: 32 bytes keyed on the account's id, the same at every
    registration (so a passkey made again replaces the old one on the authenticator) and
    saying nothing of the account to anyone without the portal's ``SECRET_KEY``.

    Keys are always asked for by credential id (``allowCredentials``), never found by this
    handle, so a new ``SECRET_KEY`` leaves every registered key working."""
    return salted_hmac(USER_HANDLE_SALT, str(user.pk), algorithm="sha256").digest()


def _descriptor(key: SecurityKey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(name) for name in key.transports if name in TRANSPORTS]
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(key.credential_id), transports=transports or None
    )


def _timeout_ms() -> int:
    """How long the browser waits for the key: as long as the challenge works."""
    return int(app_settings.WEBAUTHN_CHALLENGE_VALIDITY.total_seconds() * 1000)


# Challenges -----------------------------------------------------------------------------------


def _challenge_issue(user: User, purpose: str, request: HttpRequest | None) -> bytes:
    """A new challenge for ``user``'s next ``purpose`` ceremony on ``request``'s page. That
    page's older ones are dropped: only its newest works, and a page asked again and again
    leaves one row. Another browser's ceremony is left alone (``twofactor.binding``)."""
    challenge = generate_challenge()
    waiter = session_binding(request)
    WebAuthnChallenge.objects.filter(user=user, purpose=purpose, waiter=waiter).delete()
    WebAuthnChallenge.objects.filter(
        user=user, purpose=purpose, expires_at__lte=timezone.now()
    ).delete()
    WebAuthnChallenge.objects.create(
        user=user,
        purpose=purpose,
        waiter=waiter,
        challenge=bytes_to_base64url(challenge),
        expires_at=timezone.now() + app_settings.WEBAUTHN_CHALLENGE_VALIDITY,
    )
    return challenge


def _challenge_consume(user: User, purpose: str, request: HttpRequest | None) -> bytes | None:
    """Use the newest ``purpose`` challenge of ``user`` that ``request``'s page asked for,
    once: however many answers race, one of them gets it (a conditional UPDATE). None when it
    is used, expired or missing."""
    from portal.single_use import single_use_consume

    newest = (
        WebAuthnChallenge.objects.filter(
            user=user, purpose=purpose, waiter=session_binding(request)
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if newest is None or not single_use_consume(WebAuthnChallenge.objects, pk=newest.pk):
        return None
    return base64url_to_bytes(newest.challenge)


# Registration ---------------------------------------------------------------------------------


def key_registration_options(*, user: User, request: HttpRequest | None = None) -> dict:
    """The options for ``navigator.credentials.create()``, as JSON: the portal as relying
    party, the account's opaque handle, no attestation, a passkey where the authenticator can
    keep one (resident key and user verification preferred, not required, so that a plain
    security key works too), and the account's keys excluded, so one is not added twice."""
    existing = SecurityKey.objects.filter(user=user)
    options = generate_registration_options(
        rp_id=app_settings.WEBAUTHN_RP_ID,
        rp_name=app_settings.WEBAUTHN_RP_NAME,
        user_id=user_handle(user),
        user_name=user.username,
        user_display_name=user.display_name or user.username,
        challenge=_challenge_issue(user, WebAuthnChallenge.Purpose.REGISTER, request),
        timeout=_timeout_ms(),
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(key) for key in existing],
    )
    data = options_to_json_dict(options)
    # credProps tells whether the authenticator kept a passkey (a discoverable credential).
    data["extensions"] = {"credProps": True}
    return data


def _made_in_a_frame(credential_json: str) -> bool:
    """Whether the browser says the ceremony ran in a frame of another site (``crossOrigin``
    or ``topOrigin`` in the client data, WebAuthn Level 3), which py_webauthn does not check.
    The portal is never framed (``X-Frame-Options: DENY``), so such an answer is refused."""
    try:
        data = json.loads(credential_json)
        response = data["response"]
        client_data = json.loads(base64url_to_bytes(response["clientDataJSON"]))
    except (ValueError, TypeError, KeyError, RecursionError):
        return False  # unreadable: py_webauthn refuses it with its own reason
    if not isinstance(client_data, dict):
        return False
    return client_data.get("crossOrigin") is True or "topOrigin" in client_data


def _client_results(credential_json: str) -> dict[str, Any]:
    """What the browser said beside the signed answer: transports and credProps."""
    try:
        data = json.loads(credential_json)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    response = data.get("response") if isinstance(data.get("response"), dict) else {}
    extensions = data.get("clientExtensionResults")
    props = extensions.get("credProps") if isinstance(extensions, dict) else None
    transports = response.get("transports")
    return {
        "transports": [
            name
            for name in (transports if isinstance(transports, list) else [])
            if isinstance(name, str) and name in TRANSPORTS
        ],
        "discoverable": isinstance(props, dict) and props.get("rk") is True,
    }


def key_register(
    *, user: User, credential_json: str, name: str, request: HttpRequest | None = None
) -> Device:
    """Add the key that answered ``user``'s newest registration challenge: a confirmed
    ``SecurityKey`` and its ``Device`` (the default when it is the first), in one
    transaction, and the person is told as for any device added (``device_mark_confirmed``).

    The challenge is used first, so a refused answer cannot be tried again; user verification
    is not required (a key without a PIN is still a second factor after the password).
    Raises ``SecurityKeyError`` with a sentence for the page.
    """
    challenge = _challenge_consume(user, WebAuthnChallenge.Purpose.REGISTER, request)
    if challenge is None:
        _register_refused(user, request, "challenge")
        raise SecurityKeyError(EXPIRED)
    try:
        verified = verify_registration_response(
            credential=credential_json,
            expected_challenge=challenge,
            expected_rp_id=app_settings.WEBAUTHN_RP_ID,
            expected_origin=list(app_settings.WEBAUTHN_ORIGINS),
            require_user_verification=False,
        )
    except UNREADABLE as exc:
        _register_refused(user, request, str(exc)[:200])
        raise SecurityKeyError(NOT_REGISTERED) from None
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES or _made_in_a_frame(credential_json):
        _register_refused(user, request, "credential id too long or made in a frame")
        raise SecurityKeyError(NOT_REGISTERED)
    credential_id = bytes_to_base64url(verified.credential_id)
    extra = _client_results(credential_json)
    try:
        with transaction.atomic():
            if SecurityKey.objects.filter(credential_id=credential_id).exists():
                raise SecurityKeyError(ALREADY_REGISTERED)
            device_discard_unconfirmed(user=user)
            key = SecurityKey.objects.create(
                user=user,
                name=name,
                confirmed=True,
                credential_id=credential_id,
                public_key=bytes_to_base64url(verified.credential_public_key),
                sign_count=verified.sign_count,
                transports=extra["transports"],
                aaguid=verified.aaguid,
                discoverable=extra["discoverable"],
                backup_eligible=verified.credential_device_type == MULTI_DEVICE,
            )
            device = Device.objects.create(
                user=user, kind=Device.Kind.SECURITY_KEY, name=name, security_key=key
            )
            device_mark_confirmed(device=device, request=request)
    except (SecurityKeyError, IntegrityError):
        # IntegrityError: the same credential, registered by a request that raced this one.
        _register_refused(user, request, "already registered")
        raise SecurityKeyError(ALREADY_REGISTERED) from None
    return device


def _register_refused(user: User, request: HttpRequest | None, reason: str) -> None:
    audit_record(
        event="twofactor.key_register_failed",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
        reason=reason,
    )


# Authentication -------------------------------------------------------------------------------


def _user_keys(user: User):
    return SecurityKey.objects.filter(
        user=user, confirmed=True, portal_device__confirmed_at__isnull=False
    )


def key_authentication_options(
    *, user: User, device: Device | None = None, request: HttpRequest | None = None
) -> dict:
    """The options for ``navigator.credentials.get()``, as JSON: the key of ``device`` (or
    every key of the account), user verification preferred. Raises ``SecurityKeyError`` when
    there is no key to ask."""
    keys = _user_keys(user)
    if device is not None:
        keys = keys.filter(portal_device=device)
    keys = list(keys)
    if not keys:
        raise SecurityKeyError(NO_KEY)
    options = generate_authentication_options(
        rp_id=app_settings.WEBAUTHN_RP_ID,
        challenge=_challenge_issue(user, WebAuthnChallenge.Purpose.AUTHENTICATE, request),
        timeout=_timeout_ms(),
        allow_credentials=[_descriptor(key) for key in keys],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json_dict(options)


def _assertion_check(
    user: User, device: Device | None, credential_json: str, request: HttpRequest | None
) -> bool:
    """Whether ``credential_json`` is the answer of ``device``'s key to ``user``'s newest
    authentication challenge, with a counter that went up; the key's counter moves on."""
    challenge = _challenge_consume(user, WebAuthnChallenge.Purpose.AUTHENTICATE, request)
    key = device.security_key if device is not None else None
    if challenge is None or key is None or _made_in_a_frame(credential_json):
        return False
    try:
        credential = parse_authentication_credential_json(credential_json)
        # Only the key of the device chosen: an unknown credential, or another key of the
        # account, or someone else's, is refused before any signature is looked at.
        if not constant_time_compare(credential.id, key.credential_id):
            return False
        # The counter is checked below, once the signature is known to be the key's own.
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=app_settings.WEBAUTHN_RP_ID,
            expected_origin=list(app_settings.WEBAUTHN_ORIGINS),
            credential_public_key=base64url_to_bytes(key.public_key),
            credential_current_sign_count=0,
            require_user_verification=False,
        )
    except UNREADABLE:
        return False
    if (verified.credential_device_type == MULTI_DEVICE) != key.backup_eligible:
        audit_record(
            event="twofactor.key_cloned",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=user,
            request=request,
            device=device.name,
            reason="backup eligibility changed",
        )
        return False
    new_count, stored = verified.new_sign_count, key.sign_count
    now = timezone.now()
    if new_count == 0 and stored == 0:
        # An authenticator without a counter (many passkeys): nothing to compare.
        SecurityKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return True
    # Counted under a conditional UPDATE, so two answers with the same count cannot both pass.
    moved = SecurityKey.objects.filter(pk=key.pk, sign_count__lt=new_count).update(
        sign_count=new_count, last_used_at=now
    )
    if moved:
        return True
    audit_record(
        event="twofactor.key_cloned",
        outcome=AuditEvent.Outcome.FAILURE,
        subject=user,
        request=request,
        device=device.name,
        sign_count=new_count,
        stored_count=stored,
    )
    return False


def key_authenticate(
    *, user: User, device_id: int, credential_json: str, request: HttpRequest | None = None
) -> SecondFactorResult:
    """Check the answer of the key of ``device_id`` (a confirmed device of ``user``) as the
    second factor. A success or a failure is booked as for any method; a counter that did not
    go up is also audited as ``twofactor.key_cloned``."""
    device = (
        Device.objects.filter(
            pk=device_id, user=user, confirmed_at__isnull=False, security_key__isnull=False
        )
        .select_related("security_key")
        .first()
    )
    if _assertion_check(user, device, credential_json, request):
        return second_factor_succeeded(user=user, device=device, method=METHOD, request=request)
    return second_factor_failed(user=user, method=METHOD, request=request)
