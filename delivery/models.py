from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from delivery.masking import mask_recipient, mask_spans


class Message(models.Model):
    """One SMS, voice call or email, from the caller's transaction to the provider.

    The body keeps its secrets (a code, a link token) only until the message is sent or given
    up; ``secret_spans`` records where they are so they can be masked, never what they are.
    """

    class Channel(models.TextChoices):
        SMS = "sms", "Text message"
        VOICE = "voice", "Voice call"
        EMAIL = "email", "Email"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # Stopped by the service desk before it was sent; delivery and the sweep skip it.
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="delivery_messages",
    )
    channel = models.CharField(max_length=5, choices=Channel.choices)
    recipient = models.CharField(max_length=320)
    purpose = models.CharField(max_length=64)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    secret_spans = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_msg_status_next"),
            models.Index(fields=["purpose", "-created_at"], name="delivery_msg_purpose"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.masked_recipient} ({self.purpose})"

    @property
    def masked_body(self) -> str:
        return mask_spans(self.body, self.secret_spans)

    @property
    def masked_recipient(self) -> str:
        return mask_recipient(self.recipient)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SENT, self.Status.FAILED, self.Status.CANCELLED)

    def is_expired(self, now) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class OutboxEntry(models.Model):
    """The recipient's copy of a message delivered by the development outbox backend.

    It holds the whole text, codes included, exactly as a phone or inbox would; production
    settings refuse the outbox backend, so these rows exist only in development databases.
    """

    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbox_entries"
    )
    channel = models.CharField(max_length=5, choices=Message.Channel.choices)
    recipient = models.CharField(max_length=320)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    purpose = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "outbox entries"

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient}"
