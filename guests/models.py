"""Sponsorships (Invited User Requests) and the guest keys that open them.

A sponsorship is one request by a sponsor for one guest between two dates. Its stored
``status`` is its lifecycle (key issued -> registered -> expired, or revoked at any point);
what the sponsor sees adds the dates to it (``Sponsorship.shown_status``): a registered guest
whose start date has come is active, and a key issued but left unused past its expiry is
expired.

Each key is a row of its own: a new key ends the old one, redeeming one marks it used, and a
partial unique constraint keeps at most one live key per sponsorship however requests race.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.normalize import name_key


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the portal's time zone (``TIME_ZONE``)."""
    return timezone.make_aware(datetime.combine(day, time.min))


class Sponsorship(models.Model):
    class Status(models.TextChoices):
        KEY_ISSUED = "issued", "Key issued"
        REGISTERED = "registered", "Registered"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    class Shown(models.TextChoices):
        """What the sponsor reads in My guests."""

        KEY_ISSUED = "issued", "Key issued"
        REGISTERED = "registered", "Registered"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    sponsor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sponsored_guests"
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    last_name_key = models.CharField(max_length=100, editable=False, default="")
    email = models.EmailField(
        "guest's email", help_text="Used only to tell the guest when their access ends."
    )
    organisation = models.CharField(max_length=200)
    purpose = models.TextField("purpose of access", max_length=1000)
    start_date = models.DateField()
    end_date = models.DateField()
    attested_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.KEY_ISSUED)
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sponsorship",
    )
    registered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The end date the "ends soon" reminder went out for; an extension re-arms it.
    reminded_for = models.DateField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["sponsor", "-created_at"], name="sponsorship_sponsor"),
            models.Index(fields=["status", "end_date"], name="sponsorship_status_end"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="sponsorship_dates_ordered"
            ),
            models.CheckConstraint(
                condition=~Q(status="issued") | Q(account__isnull=True),
                name="sponsorship_issued_has_no_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.organisation}), sponsored by {self.sponsor}"

    def save(self, *args, **kwargs):
        self.last_name_key = name_key(self.last_name)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def access_starts_at(self) -> datetime:
        return day_start(self.start_date)

    @property
    def access_ends_at(self) -> datetime:
        """The end of the end date: access lasts through that whole day."""
        return day_start(self.end_date + timedelta(days=1))

    def live_key(self) -> GuestKey | None:
        now = timezone.now()
        live = self.keys.filter(used_at__isnull=True, ended_at__isnull=True, expires_at__gt=now)
        return live.first()

    def shown_status(self, *, live_key: bool | None = None) -> str:
        """The status the sponsor reads, from the stored one and the dates."""
        if self.status == self.Status.REGISTERED:
            if timezone.now() >= self.access_ends_at:
                return self.Shown.EXPIRED
            if timezone.now() >= self.access_starts_at:
                return self.Shown.ACTIVE
            return self.Shown.REGISTERED
        if self.status == self.Status.KEY_ISSUED:
            has_key = self.live_key() is not None if live_key is None else live_key
            if not has_key or timezone.now() >= self.access_ends_at:
                return self.Shown.EXPIRED
            return self.Shown.KEY_ISSUED
        return self.status

    @property
    def is_open(self) -> bool:
        """Not revoked and not ended: the sponsor can still act on it."""
        return self.status in (self.Status.KEY_ISSUED, self.Status.REGISTERED)


class GuestKey(models.Model):
    """One guest key, stored only as its keyed hash (``guests.keys.hash_key``)."""

    sponsorship = models.ForeignKey(Sponsorship, on_delete=models.CASCADE, related_name="keys")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # Replaced by a new key, stopped after wrong last names, or the sponsorship ended.
    ended_at = models.DateTimeField(null=True, blank=True)
    # The key typed with a last name that is not the guest's (``GUESTS_KEY_NAME_ATTEMPTS``).
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    # The one-time token of the form that asked for this key: the same form sent again (a
    # reload, a double click) cannot issue a second key (``AlreadySubmitted`` in guests.services).
    submission = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sponsorship"],
                condition=Q(used_at__isnull=True, ended_at__isnull=True),
                name="one_live_guest_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Guest key for {self.sponsorship.full_name}"
