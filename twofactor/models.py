"""Two-factor devices, the person's sign-in preferences and remembered browsers.

A ``Device`` here is what the person enrolled and sees in My Settings & Devices: a mobile
phone, a tablet or a landline, with a name. Each holds the django-otp devices that prove it:
a TOTP key (``otp_totp.TOTPDevice``: passcodes from an authenticator app, with django-otp's
throttling, drift and ``last_t`` against replay) and/or a ``PhoneDevice`` (passcodes by text
message or a phone call). A sign-in is always verified against the one OTP device the person
chose, never by trying a code against every device.

A device is created unconfirmed and counts as a second factor only once a correct code from
it confirmed it (``confirmed_at``, set in one transaction with its OTP devices' ``confirmed``).
"""

from __future__ import annotations

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
        CALL = "call", "Automatically call this device"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="twofactor_profile"
    )
    login_action = models.CharField(
        max_length=10, choices=LoginAction.choices, default=LoginAction.ASK
    )
    failed_count = models.PositiveIntegerField(default=0)

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
