"""SafeCode registration as a signed-in requirement: an account with no verified channel sees
the "Register for SafeCode" prompt after sign-in, and may skip it a limited number of times."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.requirements import SignedInRequirement
from safecode.selectors import user_has_verified_channel

SKIP_SESSION_KEY = "safecode:prompt_skipped"


def _sign_in_marker(user) -> str:
    """Changes at every sign-in (Django stamps ``last_login``), so a skip lasts one sign-in."""
    return user.last_login.isoformat() if user.last_login else "never"


def mark_prompt_skipped(request: HttpRequest) -> None:
    request.session[SKIP_SESSION_KEY] = _sign_in_marker(request.user)


def prompt_skipped(request: HttpRequest) -> bool:
    return request.session.get(SKIP_SESSION_KEY) == _sign_in_marker(request.user)


class SafeCodeRegistration(SignedInRequirement):
    """Once per sign-in, an account with no verified channel sees the prompt first.

    After a Skip the person goes on until the next sign-in; with no skips left the prompt does
    not offer one, so the requirement stays unmet until a channel is verified. All of SafeCode's
    pages belong to it: the prompt, adding a channel and confirming it with a code.
    """

    name = "safecode"
    url_name = "safecode:prompt"
    own_path_names = ("safecode:manage",)

    def is_met(self, request: HttpRequest) -> bool:
        # The session is read before the database: a skipped prompt costs no query.
        return prompt_skipped(request) or user_has_verified_channel(request.user)
