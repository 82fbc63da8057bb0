"""An in-memory backend for tests: what was sent is appended to ``outbox``."""

from __future__ import annotations

from delivery.backends.base import Outgoing

outbox: list[Outgoing] = []


class LocmemBackend:
    def send(self, outgoing: Outgoing) -> str:
        outbox.append(outgoing)
        return f"locmem-{len(outbox)}"
