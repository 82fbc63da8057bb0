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
    def SIGNIN_CAPTCHA_IP_FAILURES(self) -> int:
        """Recent failed sign-ins from one IP after which sign-in asks for a CAPTCHA."""
        return _get("SIGNIN_CAPTCHA_IP_FAILURES", 5)

    @property
    def SIGNIN_CAPTCHA_LOGIN_FAILURES(self) -> int:
        """Recent failed sign-ins for one typed name (an account or not) after which sign-in
        asks for a CAPTCHA."""
        return _get("SIGNIN_CAPTCHA_LOGIN_FAILURES", 3)

    @property
    def SIGNIN_CAPTCHA_WINDOW(self) -> timedelta:
        return timedelta(seconds=_get("SIGNIN_CAPTCHA_WINDOW_SECONDS", 15 * 60))

    @property
    def SIGNIN_PRESSURE_FAILURES(self) -> int:
        """Failed sign-ins across the portal within the pressure window from which every
        browser not known for the typed name answers a CAPTCHA before a password is checked."""
        return _get("SIGNIN_PRESSURE_FAILURES", 300)

    @property
    def SIGNIN_PRESSURE_WINDOW(self) -> timedelta:
        """Long enough to outlast a spray's pause: once the CAPTCHA stops a spray, failures stop
        too, and a short window would lift the rule within a minute and let the spray's next
        few hundred attempts reach the hash."""
        return timedelta(seconds=_get("SIGNIN_PRESSURE_WINDOW_SECONDS", 15 * 60))

    @property
    def SIGNIN_PRESSURE_CHECK_SECONDS(self) -> float:
        """How long each process trusts its last reading of the portal-wide failures."""
        return _get("SIGNIN_PRESSURE_CHECK_SECONDS", 1.0)

    @property
    def KNOWN_BROWSER_DAYS(self) -> int:
        """How long a browser in which a sign-in succeeded stays known for that account."""
        return _get("KNOWN_BROWSER_DAYS", 180)

    @property
    def ALERT_FAILED_SIGNINS_PER_HOUR(self) -> int:
        """Failed sign-ins across the portal in an hour that raise an alert to the desk."""
        return _get("ALERT_FAILED_SIGNINS_PER_HOUR", 500)

    @property
    def ALERT_LOCKOUTS_PER_HOUR(self) -> int:
        """Accounts locked across the portal in an hour that raise an alert to the desk."""
        return _get("ALERT_LOCKOUTS_PER_HOUR", 20)

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
    def REGISTRATION_IP_SUBMISSIONS(self) -> int:
        """Submissions of registration details an hour from one IP, matched or not, before
        registration answers 429 (so matches cannot be tried without bound either)."""
        return _get("REGISTRATION_IP_SUBMISSIONS", 40)

    @property
    def REGISTRATION_CODES_PER_HOUR(self) -> int:
        """Confirmation codes mailed to one person an hour; past it the last one stays valid."""
        return _get("REGISTRATION_CODES_PER_HOUR", 3)

    @property
    def REGISTRATION_CODES_PER_DAY(self) -> int:
        return _get("REGISTRATION_CODES_PER_DAY", 5)

    @property
    def REGISTRATION_NOTICES_PER_HOUR(self) -> int:
        """ "You already have an account" emails to one person an hour."""
        return _get("REGISTRATION_NOTICES_PER_HOUR", 1)

    @property
    def REGISTRATION_NOTICES_PER_DAY(self) -> int:
        return _get("REGISTRATION_NOTICES_PER_DAY", 3)

    @property
    def AFFILIATE_LINKS_PER_HOUR(self) -> int:
        """Sign-up links mailed to one affiliate address an hour."""
        return _get("AFFILIATE_LINKS_PER_HOUR", 3)

    @property
    def AFFILIATE_LINKS_PER_DAY(self) -> int:
        return _get("AFFILIATE_LINKS_PER_DAY", 5)

    @property
    def AFFILIATE_IP_LIMIT(self) -> int:
        """Affiliate sign-ups an hour from one IP before the page answers 429."""
        return _get("AFFILIATE_IP_LIMIT", 10)

    @property
    def REGISTRATION_CODE_TTL(self) -> timedelta:
        return timedelta(hours=_get("REGISTRATION_CODE_TTL_HOURS", 24))

    @property
    def REGISTRATION_CODE_MAX_FAILURES(self) -> int:
        """Wrong confirmation codes one person may enter in ``REGISTRATION_HUID_WINDOW``,
        across every code mailed to them: a new code does not bring new tries."""
        return _get("REGISTRATION_CODE_MAX_FAILURES", 5)

    @property
    def EMAIL_TOKEN_TTL(self) -> timedelta:
        return timedelta(hours=_get("EMAIL_TOKEN_TTL_HOURS", 24))

    @property
    def FLOW_TIMEOUT(self) -> timedelta:
        """How long a multi-step journey may sit idle before it starts again."""
        return timedelta(minutes=_get("FLOW_TIMEOUT_MINUTES", 30))

    @property
    def FLOW_LIFETIME(self) -> timedelta:
        """How long a journey lasts from its first page, however busy: a code asked for and
        tried again and again cannot keep one run alive for ever."""
        return timedelta(minutes=_get("FLOW_LIFETIME_MINUTES", 120))

    # Passwords: expiry, reminders and the flows that change them ---------------------------

    @property
    def PASSWORD_EXPIRY(self) -> timedelta | None:
        """How long a password lasts; None when ``ACCOUNTS_PASSWORD_EXPIRY_DAYS`` is 0.

        NIST SP 800-63B discourages periodic expiry; the institution requires it, so it is a
        setting that can be turned off.
        """
        days = _get("PASSWORD_EXPIRY_DAYS", 365)
        return timedelta(days=days) if days and days > 0 else None

    @property
    def PASSWORD_EXPIRY_WARNING(self) -> timedelta:
        """Sign-in warns that the password is due to expire this long before it does."""
        return timedelta(days=_get("PASSWORD_EXPIRY_WARNING_DAYS", 14))

    @property
    def PASSWORD_EXPIRY_REMINDER_DAYS(self) -> tuple[int, ...]:
        """Days before expiry on which a reminder is emailed, once each."""
        return tuple(sorted(_get("PASSWORD_EXPIRY_REMINDER_DAYS", (14, 7, 1)), reverse=True))

    @property
    def PENDING_SIGNIN_TIMEOUT(self) -> timedelta:
        """How long someone whose password expired has to replace it after giving it."""
        return timedelta(minutes=_get("PENDING_SIGNIN_TIMEOUT_MINUTES", 15))

    @property
    def RECOVERY_CODE_ATTEMPTS(self) -> int:
        """Wrong codes one unlock or reset flow accepts before it starts again (with a new
        CAPTCHA). Counted in the flow, so the answer is the same for any account."""
        return _get("RECOVERY_CODE_ATTEMPTS", 5)

    @property
    def RECOVERY_SENDS_PER_FLOW(self) -> int:
        """Codes one unlock or reset flow may ask for before it starts again."""
        return _get("RECOVERY_SENDS_PER_FLOW", 3)

    @property
    def RECOVERY_RESEND_INTERVAL(self) -> timedelta:
        """Time between two codes asked for in one unlock or reset flow."""
        return timedelta(seconds=_get("RECOVERY_RESEND_INTERVAL_SECONDS", 60))

    @property
    def RECENT_PROOF_TTL(self) -> timedelta:
        """How long a fresh proof (password, and a code to a SafeCode already verified) lets a
        signed-in person change their SafeCode contacts or contact email."""
        return timedelta(minutes=_get("RECENT_PROOF_MINUTES", 10))

    @property
    def CURRENT_PASSWORD_ATTEMPTS(self) -> int:
        """Wrong current passwords one change flow accepts before it starts again."""
        return _get("CURRENT_PASSWORD_ATTEMPTS", 3)

    @property
    def SIGNIN_STAGES(self) -> tuple[str, ...]:
        """Dotted paths of the ``accounts.stages.SignInStage`` subclasses between the password
        and the session, in order."""
        return tuple(_get("SIGNIN_STAGES", ("accounts.stages.ExpiredPasswordStage",)))

    @property
    def RESET_PROOFS(self) -> tuple[str, ...]:
        """Dotted paths of the ``accounts.reset_proofs.ResetProof`` subclasses a forgotten
        password asks for after the SafeCode, when the account needs them."""
        return tuple(_get("RESET_PROOFS", ()))

    # After sign-in ---------------------------------------------------------------------------

    @property
    def SIGNED_IN_REQUIREMENTS(self) -> tuple[str, ...]:
        """Dotted paths of the ``accounts.requirements.SignedInRequirement`` subclasses a
        signed-in person must meet, in the order they are asked for. Each app that owns a step
        names its own here, so accounts imports none of them."""
        return tuple(
            _get("SIGNED_IN_REQUIREMENTS", ("safecode.requirements.SafeCodeRegistration",))
        )


app_settings = AccountsSettings()
