"""Tunables of SafeCode, read lazily so ``override_settings`` works in tests.

Each can be set in Django settings under the name ``SAFECODE_<NAME>``; the defaults are the
institution's published rules (codes live 10 minutes, five tries a code, ten wrong entries an
hour lock the purpose for an hour).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, f"SAFECODE_{name}", default)


class SafeCodeSettings:
    @property
    def CODE_TTL(self) -> timedelta:
        """How long a code can be used after it is issued (NIST: at most 10 minutes)."""
        return timedelta(seconds=_get("CODE_TTL_SECONDS", 10 * 60))

    @property
    def MAX_ATTEMPTS_PER_CODE(self) -> int:
        """Wrong entries after which a code stops working, even with the right digits."""
        return _get("MAX_ATTEMPTS_PER_CODE", 5)

    @property
    def LOCKOUT_FAILURES(self) -> int:
        """Wrong entries (per account and purpose, across codes) that stop issuing codes."""
        return _get("LOCKOUT_FAILURES", 10)

    @property
    def LOCKOUT_WINDOW(self) -> timedelta:
        """The window within which ``LOCKOUT_FAILURES`` wrong entries trigger a lockout."""
        return timedelta(seconds=_get("LOCKOUT_WINDOW_SECONDS", 60 * 60))

    @property
    def LOCKOUT_DURATION(self) -> timedelta:
        """How long no code is issued for the purpose once the lockout triggers."""
        return timedelta(seconds=_get("LOCKOUT_SECONDS", 60 * 60))

    @property
    def RESEND_INTERVAL(self) -> timedelta:
        """Minimum time between two codes for the same purpose to the same channel."""
        return timedelta(seconds=_get("RESEND_INTERVAL_SECONDS", 60))

    @property
    def CODES_PER_PURPOSE_PER_HOUR(self) -> int:
        """Codes for one purpose (unlock, reset, ...) an account can be sent in any hour.

        Per purpose, not per account: registering a phone and an email, then unlocking,
        changing and resetting the password within one hour must all deliver."""
        return _get("CODES_PER_PURPOSE_PER_HOUR", 5)

    @property
    def CODES_PER_CHANNEL_PER_HOUR(self) -> int:
        """Codes one phone or email of an account can be sent in any hour, all purposes."""
        return _get("CODES_PER_CHANNEL_PER_HOUR", 10)

    @property
    def SMS_PER_NUMBER_PER_DAY(self) -> int:
        """Texts any one phone number can be sent in 24 hours, across accounts (SMS pumping)."""
        return _get("SMS_PER_NUMBER_PER_DAY", 10)

    @property
    def SMS_PER_FOREIGN_COUNTRY_PER_DAY(self) -> int:
        """Texts to all numbers of one country other than the home region in 24 hours."""
        return _get("SMS_PER_FOREIGN_COUNTRY_PER_DAY", 200)

    @property
    def PHONE_REGION(self) -> str:
        """Region assumed for numbers typed without a country code."""
        return _get("PHONE_REGION", "US")

    @property
    def PHONE_COUNTRIES(self) -> tuple[str, ...]:
        """Countries (ISO 3166 alpha-2) whose mobile numbers may be registered as SafeCode phones.

        Always the United States and Canada, followed by any country named in
        ``SAFECODE_PHONE_COUNTRIES`` (a list, or a comma-separated string): the setting adds to
        the two, it cannot remove them. A number counts by its own region, not by its calling
        code, so Puerto Rico (``PR``) or Jamaica (``JM``) must be named to be allowed even
        though their numbers start with +1.
        """
        extra = _get("PHONE_COUNTRIES", ())
        if isinstance(extra, str):
            extra = extra.split(",")
        codes = ["US", "CA", *(str(code).strip().upper() for code in extra)]
        return tuple(dict.fromkeys(code for code in codes if code))

    @property
    def MAX_SKIPS(self) -> int:
        """Times an account may skip the registration prompt before it must register."""
        return _get("MAX_SKIPS", 5)


app_settings = SafeCodeSettings()
