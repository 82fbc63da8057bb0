"""The "Remember me for 30 days" cookie: its name and how it is set.

The value is ``<id>:<secret>`` of a ``RememberedBrowser`` row, signed by Django
(``set_signed_cookie``) and bound to the account, HttpOnly, Secure where the session cookie
is, SameSite=Lax (a sign-in may start from a link).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from twofactor.app_settings import app_settings

REMEMBER_COOKIE = "portal_remember"
REMEMBER_SALT = "twofactor.remember"


def remember_cookie_value(request: HttpRequest) -> str:
    return request.get_signed_cookie(REMEMBER_COOKIE, default="", salt=REMEMBER_SALT)


def remember_cookie_set(response: HttpResponse, value: str) -> None:
    response.set_signed_cookie(
        REMEMBER_COOKIE,
        value,
        salt=REMEMBER_SALT,
        max_age=int(app_settings.REMEMBER_FOR.total_seconds()),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
