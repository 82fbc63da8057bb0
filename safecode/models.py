"""SafeCode state: the channels a person registered and the single-use codes sent to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from safecode.addresses import mask_email, mask_phone


class Purpose(models.TextChoices):
    """What a code is for. A code works only for the purpose it was issued for."""

    CHANNEL_VERIFY = "channel_verify", "Confirm a SafeCode phone or email"
    UNLOCK = "unlock", "Unlock your account"
    PASSWORD_CHANGE = "password_change", "Change your password"
    PASSWORD_RESET = "password_reset", "Reset a forgotten password"
    PASSWORD_EXPIRED = "password_expired", "Replace an expired password"
    RECENT_PROOF = "recent_proof", "Confirm it is you before changing your contacts"
    CALLER_VERIFY = "caller_verify", "Confirm who you are on your call to the IT Service Desk"


class Channel(models.Model):
    """A phone or email address registered to receive codes.

    A new or changed address starts PENDING and counts only once a code sent to it has been
    entered; the address it replaces stays VERIFIED until then. Replaced or removed addresses
    become RETIRED and are kept for the audit trail.
    """

    class Kind(models.TextChoices):
        PHONE = "phone", "Mobile phone"
        EMAIL = "email", "Personal email"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for its code"
        VERIFIED = "verified", "Verified"
        RETIRED = "retired", "Replaced or removed"

    class Carrier(models.TextChoices):
        VERIZON = "verizon", "Verizon"
        ATT = "att", "AT&T"
        TMOBILE = "tmobile", "T-Mobile"
        USCELLULAR = "uscellular", "US Cellular"
        OTHER = "other", "Other"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="safecode_channels"
    )
    kind = models.CharField(max_length=5, choices=Kind.choices)
    address = models.CharField(
        max_length=254, help_text="E.164 phone number, or email address with an ASCII domain."
    )
    region = models.CharField(
        max_length=2, blank=True, help_text="Country of a phone number (ISO 3166 code)."
    )
    carrier = models.CharField(max_length=12, choices=Carrier.choices, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind"],
                condition=Q(status="verified"),
                name="safecode_one_verified_channel_per_kind",
            ),
            models.UniqueConstraint(
                fields=["user", "kind"],
                condition=Q(status="pending"),
                name="safecode_one_pending_channel_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.masked} ({self.status})"

    @property
    def masked(self) -> str:
        return (
            mask_phone(self.address) if self.kind == self.Kind.PHONE else mask_email(self.address)
        )


class SafeCode(models.Model):
    """One issued code, stored only as a keyed hash.

    Bound to one account, one purpose, one channel and, when a flow asked for it, that flow
    (``binding_hash``). It works while it is unused, not
    invalidated (by a newer code or too many wrong entries) and not expired; consuming it is a
    conditional UPDATE so that it works once, however many requests race.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="safecodes"
    )
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="codes")
    # Copies of the channel at issue time: throttles count sends per destination.
    channel_kind = models.CharField(max_length=5, choices=Channel.Kind.choices)
    destination = models.CharField(max_length=254)
    destination_region = models.CharField(max_length=2, blank=True)
    code_hash = models.CharField(max_length=64, editable=False)
    # Keyed hash of the flow that asked for the code (empty for none): a code works only in the
    # browser session and flow that asked for it.
    binding_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    invalidated_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "purpose", "-created_at"], name="safecode_user_purpose"),
            models.Index(fields=["user", "-created_at"], name="safecode_user_created"),
            models.Index(fields=["destination", "-created_at"], name="safecode_destination"),
            models.Index(fields=["destination_region", "-created_at"], name="safecode_dest_region"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "purpose"],
                condition=Q(used_at__isnull=True, invalidated_at__isnull=True),
                name="safecode_one_open_code_per_purpose",
            ),
        ]

    def __str__(self) -> str:
        return f"SafeCode {self.purpose} for user {self.user_id} ({self.created_at:%Y-%m-%d %H:%M})"


class WrongEntry(models.Model):
    """One wrong code entered, per account and purpose.

    Kept apart from the codes so that a new code does not reset the count, and in the database
    so that the lockout cannot fail open with a cache.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="safecode_wrong_entries"
    )
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "wrong entries"
        indexes = [
            models.Index(fields=["user", "purpose", "-created_at"], name="safecode_wrong_recent")
        ]

    def __str__(self) -> str:
        return f"Wrong {self.purpose} code for user {self.user_id} at {self.created_at:%H:%M:%S}"
