"""The two-factor app's tunables, read lazily so ``override_settings`` works.

Each can be set in Django settings under the name ``TWOFACTOR_<NAME>``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, f"TWOFACTOR_{name}", default)


def _portal_host() -> str:
    from urllib.parse import urlsplit

    return urlsplit(settings.PORTAL_URL).hostname or "localhost"


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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

    # Bypass codes from the service desk (twofactor.bypass) ------------------------------------

    @property
    def BYPASS_CODE_TTL(self) -> timedelta:
        """How long a bypass code works when the agent does not choose (one hour); never more
        than ``BYPASS_MAX_TTL``."""
        return min(timedelta(minutes=_get("BYPASS_CODE_TTL_MINUTES", 60)), self.BYPASS_MAX_TTL)

    @property
    def BYPASS_MAX_TTL(self) -> timedelta:
        """The longest a bypass code may work: seven days (issue 13)."""
        return timedelta(days=7)

    # Push to the portal's authenticator app (twofactor.push) ---------------------------------

    @property
    def PUSH_VALIDITY(self) -> timedelta:
        """How long a push waits for the phone's answer."""
        return timedelta(seconds=_get("PUSH_SECONDS", 60))

    @property
    def PUSH_UNANSWERED_LIMIT(self) -> int:
        """Unanswered pushes to one account within ``PUSH_UNANSWERED_WINDOW`` after which only
        the other methods are offered: a person is not worn down by pushes they did not ask for."""
        return _get("PUSH_UNANSWERED_LIMIT", 3)

    @property
    def PUSH_UNANSWERED_WINDOW(self) -> timedelta:
        return timedelta(minutes=_get("PUSH_UNANSWERED_MINUTES", 10))

    @property
    def PUSH_FRAUD_MUTE(self) -> timedelta:
        """How long pushes to an account stay off after one was reported as fraud."""
        return timedelta(minutes=_get("PUSH_FRAUD_MUTE_MINUTES", 20))

    @property
    def PLACE_LOOKUP(self) -> str:
        """Dotted path of a callable that gives the approximate place of an IP address for the
        phone to show ("Boston, MA"); empty (the default) shows none."""
        return _get("PLACE_LOOKUP", "")

    @property
    def APP_SIGNATURE_WINDOW(self) -> timedelta:
        """How far the timestamp of a signed poll from the app may be from the server's clock."""
        return timedelta(seconds=_get("APP_SIGNATURE_WINDOW_SECONDS", 120))

    @property
    def VAPID_PUBLIC_KEY(self) -> str:
        """Web Push (VAPID, RFC 8292) application server key, base64url of the raw P-256 point;
        empty turns Web Push off and the app learns of pushes by polling while open."""
        return _get("VAPID_PUBLIC_KEY", "")

    @property
    def VAPID_PRIVATE_KEY(self) -> str:
        """The VAPID private key (base64url of the raw 32-byte scalar, or PEM)."""
        return _get("VAPID_PRIVATE_KEY", "")

    @property
    def PUSH_SERVICE_HOSTS(self) -> tuple[str, ...]:
        """The push services a phone's subscription may name (a leading dot: any host under
        that domain), so that the portal never posts to an address an app made up."""
        return tuple(
            _get(
                "PUSH_SERVICE_HOSTS",
                (
                    "fcm.googleapis.com",
                    "updates.push.services.mozilla.com",
                    ".push.apple.com",
                    ".notify.windows.com",
                ),
            )
        )

    @property
    def VAPID_SUBJECT(self) -> str:
        """The contact a push service may write to (``mailto:`` or ``https:``)."""
        from email.utils import parseaddr

        return _get("VAPID_SUBJECT", "") or f"mailto:{parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}"

    # Security keys and passkeys (twofactor.security_keys) ------------------------------------

    @property
    def WEBAUTHN_RP_ID(self) -> str:
        """The relying party id: the portal's host name. Browsers refuse an IP address, so a
        portal at ``http://127.0.0.1:8000`` (the embedded default) uses ``localhost``, and its
        keys work when the portal is opened at ``http://localhost:8000``."""
        host = _portal_host()
        return _get("WEBAUTHN_RP_ID", "") or ("localhost" if _is_ip(host) else host)

    @property
    def WEBAUTHN_RP_NAME(self) -> str:
        return _get("WEBAUTHN_RP_NAME", "") or f"{settings.INSTITUTION_SHORT_NAME} Identity Portal"

    @property
    def WEBAUTHN_ORIGINS(self) -> tuple[str, ...]:
        """The origins a ceremony may come from; the portal's own URL by default (on
        ``localhost`` when ``PORTAL_URL`` names an IP address, as ``WEBAUTHN_RP_ID`` does)."""
        from urllib.parse import urlsplit

        value = _get("WEBAUTHN_ORIGINS", ())
        if value:
            return tuple(value)
        parts = urlsplit(settings.PORTAL_URL)
        netloc = parts.netloc
        if _is_ip(_portal_host()):
            netloc = f"localhost:{parts.port}" if parts.port else "localhost"
        return (f"{parts.scheme}://{netloc}",)

    @property
    def WEBAUTHN_CHALLENGE_VALIDITY(self) -> timedelta:
        """How long one ceremony's challenge works."""
        return timedelta(minutes=_get("WEBAUTHN_CHALLENGE_MINUTES", 5))


app_settings = TwoFactorSettings()
