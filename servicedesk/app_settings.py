"""Tunables of the service-desk console, read lazily so ``override_settings`` works in tests.

Each can be set in Django settings under the name ``SERVICEDESK_<NAME>``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, f"SERVICEDESK_{name}", default)


class ServiceDeskSettings:
    @property
    def VERIFIED_CALL_TTL(self) -> timedelta:
        """How long a caller verified by an agent stands in for a written reason."""
        return timedelta(minutes=_get("VERIFIED_CALL_MINUTES", 30))

    @property
    def RECENT_EVENTS(self) -> int:
        """Audit events shown on a person's page."""
        return _get("RECENT_EVENTS", 20)


app_settings = ServiceDeskSettings()
