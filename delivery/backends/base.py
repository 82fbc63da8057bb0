from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from django.utils.module_loading import import_string

from delivery.app_settings import app_settings


class DeliveryError(Exception):
    """The provider did not take the message. ``str()`` must never contain the body."""


class TransientDeliveryError(DeliveryError):
    """A failure that may pass: provider overloaded or down, timeout, connection lost."""


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying cannot fix: invalid number, recipient refused, bad request."""


@dataclass(frozen=True)
class Outgoing:
    """What a backend sends: the full, unmasked text, held only in memory."""

    message_id: int | None
    channel: str
    recipient: str
    subject: str
    body: str = field(repr=False)
    purpose: str


class Backend(Protocol):
    def send(self, outgoing: Outgoing) -> str: ...


def backend_for(channel: str) -> Backend:
    """The configured backend for a channel: texts and calls share one, email has its own."""
    from delivery.models import Message

    if channel == Message.Channel.EMAIL:
        return import_string(app_settings.EMAIL_BACKEND)()
    return import_string(app_settings.SMS_BACKEND)()
