"""The two-factor app's tunables, read lazily so ``override_settings`` works.

Each can be set in Django settings under the name ``TWOFACTOR_<NAME>``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, f"TWOFACTOR_{name}", default)


class TwoFactorSettings:
    @property
    def REQUIRED_FOR(self) -> tuple[str, ...] | str:
        """Who must enroll a second factor: ``"all"`` (the default), or the affiliations
        (``Person.affiliation`` values) that must; ``()`` for nobody."""
        value = _get("REQUIRED_FOR", "all")
        return value if value == "all" else tuple(value)

    @property
    def REQUIRED_FOR_STAFF(self) -> bool:
        """Whether staff (the service desk, administrators) must have a second factor, and the
        console refuses a session that was not verified with one. On by default."""
        return bool(_get("REQUIRED_FOR_STAFF", True))

    @property
    def PENDING_TIMEOUT(self) -> timedelta:
        """How long the second step waits after the password before it must be redone."""
        return timedelta(minutes=_get("PENDING_MINUTES", 10))

    @property
    def PASSCODE_VALIDITY(self) -> timedelta:
        """How long a passcode sent by text message or call works."""
        return timedelta(minutes=_get("PASSCODE_MINUTES", 10))

    @property
    def PASSCODE_INTERVAL(self) -> timedelta:
        """The least time between two passcodes sent to one phone."""
        return timedelta(seconds=_get("PASSCODE_INTERVAL_SECONDS", 60))

    @property
    def LOCK_AFTER_FAILURES(self) -> int:
        """Wrong second factors in a row that lock the account."""
        return _get("LOCK_AFTER_FAILURES", 10)

    @property
    def REMEMBER_FOR(self) -> timedelta:
        """How long "Remember me" lets a browser skip the second step."""
        return timedelta(days=_get("REMEMBER_DAYS", 30))

    @property
    def ACTIVATION_LINK_VALIDITY(self) -> timedelta:
        """How long an emailed activation link works."""
        return timedelta(hours=_get("ACTIVATION_LINK_HOURS", 24))


app_settings = TwoFactorSettings()
