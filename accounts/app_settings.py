"""Tunables of the accounts app, read lazily so ``override_settings`` works in tests.

Each can be set in Django settings under the name ``ACCOUNTS_<NAME>``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, f"ACCOUNTS_{name}", default)


class AccountsSettings:
    @property
    def LOCKOUT_THRESHOLD(self) -> int:
        """Consecutive wrong passwords that lock an account."""
        return _get("LOCKOUT_THRESHOLD", 10)

    @property
    def LOCKOUT_AUTO_UNLOCK(self) -> timedelta | None:
        """Automatic unlock after this long; None (the default) keeps the lock until unlocked."""
        minutes = _get("LOCKOUT_AUTO_UNLOCK_MINUTES", 0)
        return timedelta(minutes=minutes) if minutes else None

    @property
    def OLD_PASSWORDS_NOT_COUNTED(self) -> int:
        """Wrong sign-ins with one of this many previous passwords do not count toward lockout."""
        return _get("OLD_PASSWORDS_NOT_COUNTED", 2)

    @property
    def IP_FAILURE_LIMIT(self) -> int:
        return _get("IP_FAILURE_LIMIT", 30)

    @property
    def IP_FAILURE_WINDOW(self) -> timedelta:
        return timedelta(seconds=_get("IP_FAILURE_WINDOW_SECONDS", 5 * 60))

    @property
    def REGISTRATION_HUID_FAILURES(self) -> int:
        return _get("REGISTRATION_HUID_FAILURES", 5)

    @property
    def REGISTRATION_HUID_WINDOW(self) -> timedelta:
        return timedelta(hours=_get("REGISTRATION_HUID_WINDOW_HOURS", 24))

    @property
    def REGISTRATION_IP_LIMIT(self) -> int:
        """Failed matches an hour from one IP before registration answers 429."""
        return _get("REGISTRATION_IP_LIMIT", 20)

    @property
    def REGISTRATION_CODE_TTL(self) -> timedelta:
        return timedelta(hours=_get("REGISTRATION_CODE_TTL_HOURS", 24))

    @property
    def REGISTRATION_CODE_MAX_FAILURES(self) -> int:
        return _get("REGISTRATION_CODE_MAX_FAILURES", 5)

    @property
    def EMAIL_TOKEN_TTL(self) -> timedelta:
        return timedelta(hours=_get("EMAIL_TOKEN_TTL_HOURS", 24))

    @property
    def FLOW_TIMEOUT(self) -> timedelta:
        """How long a multi-step flow's state stays in the session."""
        return timedelta(minutes=_get("FLOW_TIMEOUT_MINUTES", 30))


app_settings = AccountsSettings()
