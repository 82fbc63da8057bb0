"""Browsers in which a sign-in succeeded, so that a spray across the portal does not cost the
people who sign in from their usual browser a CAPTCHA.

OWASP's "Slow Down Online Guessing Attacks with Device Cookies": after a complete sign-in
(password and every stage, the second factor included) the browser gets a signed cookie naming
the account, by keyed hashes of its username and Harvard ID, never the names themselves. When
failed sign-ins across the portal pass ``ACCOUNTS_SIGNIN_PRESSURE_FAILURES`` in 15 minutes
(``accounts.services.signin``), every attempt asks for a CAPTCHA before the password is checked,
except from a browser that is known for the name typed. The cookie waives nothing else: the
per-IP throttle, the per-name CAPTCHA, the lockout and the second factor all still apply, so a
stolen cookie is worth a CAPTCHA, no more.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from accounts.app_settings import app_settings
from accounts.models import User
from accounts.normalize import login_key, sign_in_name, username_key

COOKIE_NAME = "portal_known"
SALT = "accounts.known_browser"
# The accounts one browser remembers (a shared workstation): the newest ones are kept.
MAX_ACCOUNTS = 8
KEY_LENGTH = 32


def _browser_key(login: str) -> str:
    return login_key(login)[:KEY_LENGTH]


def _remembered(request: HttpRequest | None) -> list[str]:
    raw = request.COOKIES.get(COOKIE_NAME, "") if request is not None else ""
    if not raw:
        return []
    try:
        keys = signing.loads(raw, salt=SALT, max_age=app_settings.KNOWN_BROWSER_DAYS * 24 * 60 * 60)
    except signing.BadSignature:
        return []
    if not isinstance(keys, list):
        return []
    return [key for key in keys if isinstance(key, str)]


def browser_is_known(request: HttpRequest | None, login: str | None = None) -> bool:
    """Whether a sign-in succeeded in this browser for ``login`` (for any account, without)."""
    remembered = _remembered(request)
    if login is None:
        return bool(remembered)
    return _browser_key(login) in remembered


def browser_remember(request: HttpRequest, response: HttpResponse, user: User) -> None:
    """Mark this browser as known for ``user``: called once the session has started."""
    # A username that reads as a Harvard ID (8 digits and hyphens, no longer allowed) does not
    # reach this account when typed, and would vouch for that ID's owner: it is left out.
    username = user.get_username()
    names = [username] if sign_in_name(username) == username_key(username) else []
    if user.person_id and user.person.huid:
        names.append(user.person.huid)
    keys = [_browser_key(name) for name in names]
    kept = keys + [key for key in _remembered(request) if key not in keys]
    response.set_cookie(
        COOKIE_NAME,
        signing.dumps(kept[: MAX_ACCOUNTS * 2], salt=SALT),
        max_age=app_settings.KNOWN_BROWSER_DAYS * 24 * 60 * 60,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
