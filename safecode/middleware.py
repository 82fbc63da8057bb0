"""Send signed-in people without a verified SafeCode channel to the registration prompt."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from safecode.app_settings import app_settings
from safecode.selectors import user_has_verified_channel

SKIP_SESSION_KEY = "safecode:prompt_skipped"


def _sign_in_marker(user) -> str:
    """Changes at every sign-in (Django stamps ``last_login``), so a skip lasts one sign-in."""
    return user.last_login.isoformat() if user.last_login else "never"


def mark_prompt_skipped(request: HttpRequest) -> None:
    request.session[SKIP_SESSION_KEY] = _sign_in_marker(request.user)


def prompt_skipped(request: HttpRequest) -> bool:
    return request.session.get(SKIP_SESSION_KEY) == _sign_in_marker(request.user)


class SafeCodeRegistrationMiddleware:
    """Once per sign-in, an account with no verified channel sees the prompt first.

    After a Skip the person goes on until the next sign-in; with no skips left, the prompt
    does not offer one, so nothing but SafeCode and sign-out is reachable until a channel
    is verified. Exempt: SafeCode's own pages, sign-out, static files, the development and
    CAPTCHA paths, the health check, and the admin for staff.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not self._exempt(request.path_info, user)
            and not prompt_skipped(request)
            and not user_has_verified_channel(user)
        ):
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('safecode:prompt')}?{query}")
        return self.get_response(request)

    @staticmethod
    def _exempt(path: str, user) -> bool:
        prefixes = (
            reverse("safecode:manage"),
            # Help and the way out stay reachable, skips or not.
            reverse("accounts:help"),
            reverse("accounts:recent_proof"),
            settings.STATIC_URL or "/static/",
            *app_settings.PROMPT_EXEMPT_PREFIXES,
        )
        if path.startswith(prefixes) or path == reverse("accounts:logout"):
            return True
        return user.is_staff and path.startswith(reverse("admin:index"))
