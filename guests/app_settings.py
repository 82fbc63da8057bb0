"""Tunables of guest sponsorship, read lazily so ``override_settings`` works in tests.

Each can be set in Django settings under the name ``GUESTS_<NAME>``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, f"GUESTS_{name}", default)


class GuestsSettings:
    @property
    def SPONSOR_AFFILIATIONS(self) -> tuple[str, ...]:
        """Directory affiliations whose people may sponsor guests."""
        return tuple(_get("SPONSOR_AFFILIATIONS", ("faculty", "staff")))

    @property
    def SPONSOR_FULL_TIME_ONLY(self) -> bool:
        """Whether a sponsor's directory record must also carry the full-time flag."""
        return bool(_get("SPONSOR_FULL_TIME_ONLY", True))

    @property
    def MAX_DURATION(self) -> timedelta:
        """The longest guest access, from the start date to the end date included; an
        extension cannot go past it either (a longer stay is a new request, attested again)."""
        return timedelta(days=_get("MAX_DURATION_DAYS", 365))

    @property
    def KEY_TTL(self) -> timedelta:
        """How long an unused guest key works after it is issued."""
        return timedelta(days=_get("KEY_TTL_DAYS", 30))

    @property
    def KEY_NAME_ATTEMPTS(self) -> int:
        """Wrong last names typed with a real key after which the key stops working (the
        sponsor is told and can issue a new one)."""
        return _get("KEY_NAME_ATTEMPTS", 5)

    @property
    def REMINDER_DAYS(self) -> int:
        """Days before the end date when the sponsor and the guest are told it is coming."""
        return _get("REMINDER_DAYS", 14)

    @property
    def START_WITHIN(self) -> timedelta:
        """How far ahead a request's start date may be."""
        return timedelta(days=_get("START_WITHIN_DAYS", 90))


app_settings = GuestsSettings()
