"""Two-factor devices, the person's sign-in preferences and remembered browsers.

A ``Device`` here is what the person enrolled and sees in My Settings & Devices: a mobile
phone, a tablet, a landline or a security key, with a name. Each holds the django-otp devices
that prove it: a TOTP key (``otp_totp.TOTPDevice``: passcodes from an authenticator app, with
django-otp's throttling, drift and ``last_t`` against replay), a ``PhoneDevice`` (passcodes by
text message or a phone call), an ``AppKey`` (pushes approved in the portal's own
authenticator app, /m/) and/or a ``SecurityKey`` (WebAuthn). A sign-in is always verified
against the one OTP device the person chose, never by trying a code against every device.

A device is created unconfirmed and counts as a second factor only once a correct code from
it confirmed it (``confirmed_at``, set in one transaction with its OTP devices' ``confirmed``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_otp.models import Device as OTPDevice
from django_otp.models import ThrottlingMixin, TimestampMixin
from django_otp.plugins.otp_totp.models import TOTPDevice


class PhoneDevice(ThrottlingMixin, TimestampMixin, OTPDevice):
    """Passcodes sent by text message or read out by a phone call.

    The passcode is stored as a keyed hash with its expiry; checking it is a constant-time
    comparison and its use a conditional UPDATE (``twofactor.services``), so a code works once
    however requests race. django-otp's ``SideChannelDevice`` keeps the code in clear and
    compares it with ``==``, which is why this model does not build on it.
    """

    number = models.CharField(max_length=20)
    code_hash = models.CharField(max_length=128, blank=True)
    code_valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "phone passcode device"

    def get_throttle_factor(self) -> int:
        return 1

    def verify_token(self, token) -> bool:
        """django-otp's entry point (``django_otp.verify_token``): one use of the newest code."""
        from twofactor.services import phone_code_consume

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        if phone_code_consume(device=self, code=str(token)):
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save(
                update_fields=[
                    "throttling_failure_count",
                    "throttling_failure_timestamp",
                    "last_used_at",
                ]
            )
            return True
        self.throttle_increment(commit=True)
        return False


class Device(models.Model):
    """A device the person enrolled, as listed in My Settings & Devices."""

    class Kind(models.TextChoices):
        MOBILE = "mobile", "Mobile phone"
        TABLET = "tablet", "Tablet"
        LANDLINE = "landline", "Landline"
        SECURITY_KEY = "key", "Security key"

    class PhoneType(models.TextChoices):
        IPHONE = "iphone", "iPhone"
        ANDROID = "android", "Android"
        OTHER = "other", "Other (passcodes by text message and calls)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="twofactor_devices"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    phone_type = models.CharField(max_length=10, choices=PhoneType.choices, blank=True)
    name = models.CharField(max_length=64)
    number = models.CharField(max_length=20, blank=True)
    totp = models.OneToOneField(
        TOTPDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="portal_device"
    )
    phone = models.OneToOneField(
        PhoneDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="portal_device"
    )
    app = models.OneToOneField(
        "AppKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="portal_device"
    )
    security_key = models.OneToOneField(
        "SecurityKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="portal_device",
    )
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_default", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(is_default=True),
                name="twofactor_one_default_device",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def methods(self) -> list[str]:
        """What the device can do at sign-in, in the order offered."""
        found = []
        if self.security_key_id:
            found.append("webauthn")
        if self.app_id and self.app.confirmed:
            found.append("push")
        if self.totp_id and self.totp.confirmed:
            found.append("passcode")
        if self.phone_id and self.kind == Device.Kind.MOBILE:
            found.append("sms")
        if self.phone_id:
            found.append("call")
        return found

    @property
    def masked_number(self) -> str:
        return f"•••-•••-{self.number[-4:]}" if self.number else ""


class Profile(models.Model):
    """A person's two-factor preferences and second-factor failure count (kept apart from the
    password's, which the accounts app counts)."""

    class LoginAction(models.TextChoices):
        ASK = "ask", "Ask me to choose an authentication method"
        PUSH = "push", "Automatically send this device a push"
        CALL = "call", "Automatically call this device"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="twofactor_profile"
    )
    login_action = models.CharField(
        max_length=10, choices=LoginAction.choices, default=LoginAction.ASK
    )
    failed_count = models.PositiveIntegerField(default=0)
    # A push reported as fraud mutes pushes to the account until then.
    push_muted_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Two-factor settings of {self.user}"


class RememberedBrowser(models.Model):
    """A browser that skips the second step at sign-in for 30 days.

    The cookie carries this row's id and a random secret; only the secret's keyed hash is kept.
    It is bound to the account, to the password in force when it was issued
    (``password_marker``), and ends when any device is removed or the person forgets it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remembered_browsers"
    )
    secret_hash = models.CharField(max_length=128)
    password_marker = models.CharField(max_length=128)
    user_agent = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.user} on {self.user_agent[:40]}"


class ActivationLink(models.Model):
    """An emailed link that opens, on the phone, the QR code and key of a device being set up.

    It works once and for ``ACTIVATION_LINK_VALIDITY``; only the token's keyed hash is kept.
    Opening it shows the key and confirms nothing: the device still counts only once a
    passcode from the app, typed into the setup page, confirmed it (``device_confirm``).
    A newer link for the same device ends the older ones, so at most one is open at a time.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="activation_links")
    token_hash = models.CharField(max_length=64, unique=True)
    # A link that activates the portal's own authenticator app (/m/activate/) rather than
    # showing the key of another app.
    for_app = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device"],
                condition=Q(used_at__isnull=True),
                name="twofactor_one_open_activation_link",
            )
        ]

    def __str__(self) -> str:
        return f"Activation link for {self.device}"


class AppKey(TimestampMixin, OTPDevice):
    """The portal's authenticator web app (/m/) on one phone: the public half of the P-256
    key pair the app made with WebCrypto at activation. The private half never leaves the
    phone (not extractable, in its IndexedDB); every poll and every decision the app sends is
    signed with it and verified here (``twofactor.push``).

    Removing the device deletes this row, which revokes the key: the app's next request is
    answered "removed" and it says so.
    """

    public_key = models.TextField(help_text="SubjectPublicKeyInfo, DER, base64url.")
    platform = models.CharField(max_length=200, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # A Web Push subscription (RFC 8030/8291), when the phone's browser gave one.
    push_endpoint = models.URLField(max_length=1000, blank=True)
    push_p256dh = models.CharField(max_length=200, blank=True)
    push_auth = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = "authenticator app key"

    def verify_token(self, token) -> bool:
        """A push is approved on the phone, never typed: no token proves this device."""
        return False


class PushRequest(models.Model):
    """One "Send Me a Push": a sign-in (or a step-up, or a reset) waiting for the phone.

    The id is random, so that one request's id says nothing of another's. ``number`` is the
    verified-push number the waiting page shows and the phone must type; the phone's API
    never returns it. A decision is accepted once (a conditional UPDATE from ``pending``),
    and an approval is used once, by the page that asked and no other (``approved`` ->
    ``used``, matched on ``waiter``).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the phone"
        APPROVED = "approved", "Approved"
        USED = "used", "Approved and used"
        DENIED = "denied", "Denied"
        FRAUD = "fraud", "Denied and reported as fraud"
        WRONG_NUMBER = "wrong_number", "Refused: the number typed did not match"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_requests"
    )
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="push_requests")
    purpose = models.CharField(max_length=40)
    number = models.CharField(max_length=3)
    # Keyed hash of a secret kept in the session of the page that asked: only that page may
    # wait for this push and use its approval (``twofactor.binding``).
    waiter = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    browser = models.CharField(max_length=200, blank=True)
    place = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    nonce = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"Push to {self.user} ({self.get_state_display()})"


class FraudReport(models.Model):
    """A push the person denied on the phone and reported as fraud: the service desk's queue.

    Someone who knows the password is trying to sign in; the desk contacts the person and
    resolves the report here (the console).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fraud_reports"
    )
    push = models.OneToOneField(PushRequest, on_delete=models.CASCADE, related_name="report")
    ip = models.GenericIPAddressField(null=True, blank=True)
    browser = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["resolved_at", "-created_at"]

    def __str__(self) -> str:
        return f"Fraud reported by {self.user} on {self.created_at:%Y-%m-%d %H:%M}"


class SecurityKey(TimestampMixin, OTPDevice):
    """A WebAuthn credential: a security key, or a passkey on a phone or a computer.

    Checked by py_webauthn (``twofactor.security_keys``); the signature counter only goes up,
    and a key whose counter goes back (a cloned key) is refused and audited.
    """

    credential_id = models.CharField(max_length=1400, unique=True, help_text="base64url")
    public_key = models.TextField(help_text="COSE public key, base64url.")
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    discoverable = models.BooleanField(default=False)
    # Whether the key said at registration that it may be backed up (a synced passkey). The
    # flag never changes for one credential (WebAuthn's BE bit), so an answer that changes it
    # is not from this key.
    backup_eligible = models.BooleanField(default=False)

    class Meta:
        verbose_name = "security key"

    def verify_token(self, token) -> bool:
        """A key answers a WebAuthn ceremony, never a typed token."""
        return False


class WebAuthnChallenge(models.Model):
    """One ceremony's challenge, kept on the server and used once (a conditional UPDATE)."""

    class Purpose(models.TextChoices):
        REGISTER = "register", "Register a key"
        AUTHENTICATE = "authenticate", "Sign in with a key"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webauthn_challenges"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    # The session of the page that asked for it (``twofactor.binding``): only that page's
    # answer uses it, and only that page's next request replaces it.
    waiter = models.CharField(max_length=64, blank=True)
    challenge = models.CharField(max_length=128, unique=True, help_text="base64url")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} for {self.user}"


class BypassCode(models.Model):
    """A 9-digit code the service desk read to a person who cannot use their devices: it
    stands in for the second factor once, at the sign-in's second step or a reset's.

    Only the code's keyed hash is kept (``safecode.codes.hash_code`` with the salt of
    ``twofactor.bypass``); the agent sees the code once, on the page that issued it. A code
    works until ``expires_at`` (one hour by default, at most seven days), once (``used_at``,
    set by a conditional UPDATE), and not after an agent revoked it (``revoked_at``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bypass_codes"
    )
    code_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The codes a typed one is compared with: the account's unused, unrevoked ones.
            models.Index(
                fields=["user", "expires_at"],
                condition=Q(used_at__isnull=True, revoked_at__isnull=True),
                name="twofactor_bypass_live",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="twofactor_bypass_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(used_at__isnull=True) | Q(revoked_at__isnull=True),
                name="twofactor_bypass_used_or_revoked",
            ),
        ]

    def __str__(self) -> str:
        return f"Bypass code of {self.user} ({self.state_label})"

    def state_at(self, now) -> str:
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "unused"

    @property
    def state_label(self) -> str:
        from django.utils import timezone

        return self.state_at(timezone.now())
