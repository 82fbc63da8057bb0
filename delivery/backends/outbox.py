"""The embedded default backend: messages land in the development outbox at /dev/outbox/."""

from __future__ import annotations

from delivery.backends.base import Outgoing


class OutboxBackend:
    def send(self, outgoing: Outgoing) -> str:
        from delivery.models import OutboxEntry

        entry = OutboxEntry.objects.create(
            message_id=outgoing.message_id,
            channel=outgoing.channel,
            recipient=outgoing.recipient,
            subject=outgoing.subject,
            body=outgoing.body,
            purpose=outgoing.purpose,
        )
        return f"outbox-{entry.pk}"
