"""Tunables of the portal as a whole, read lazily so ``override_settings`` works in tests.

The session lifetimes are set in ``portal/settings/base.py`` (SESSIONS) from the environment
variables of the same names.
"""

from __future__ import annotations

from django.conf import settings


def _seconds(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


class PortalSettings:
    @property
    def SESSION_IDLE_SECONDS(self) -> int:
        """A signed-in session unused for longer than this ends."""
        return _seconds("SESSION_IDLE_SECONDS", 30 * 60)

    @property
    def ADMIN_SESSION_IDLE_SECONDS(self) -> int:
        """A request to the admin after longer than this without activity ends the session.

        Shorter than ``SESSION_IDLE_SECONDS``: an unattended admin session can do more harm.
        """
        return _seconds("ADMIN_SESSION_IDLE_SECONDS", 10 * 60)

    @property
    def SESSION_ABSOLUTE_SECONDS(self) -> int:
        """A session ends this long after sign-in, however active it is."""
        return _seconds("SESSION_ABSOLUTE_SECONDS", 12 * 60 * 60)


app_settings = PortalSettings()
