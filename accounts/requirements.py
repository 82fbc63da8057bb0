"""What a signed-in person must do before the portal lets them anywhere else.

A requirement is a step after sign-in (register a SafeCode contact, enroll a second factor):
until it is met, ``accounts.middleware.SignedInRequirementsMiddleware`` sends the person to its
page. The requirements are an ordered list of dotted paths in ``ACCOUNTS_SIGNED_IN_REQUIREMENTS``,
so the app that owns a step declares it and accounts imports none of them. Order matters: the
first one not met is the one asked for, and a later requirement's pages are no way around an
earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse

from accounts.app_settings import app_settings
from portal.loading import instances


class SignedInRequirement:
    """One step a signed-in person must take; subclass it and name it in the setting.

    ``name`` identifies it (in logs and tests); ``url_name`` is the page that meets it.
    ``own_path_names`` are the URL names whose paths (and everything under them) belong to the
    step: reachable while it is the one pending, or once it is met, never before an earlier
    step is. Requirements are instantiated once, with no arguments, and shared across requests:
    keep per-person state in the request or the session, never on ``self``.
    """

    name: str = ""
    url_name: str = ""
    own_path_names: tuple[str, ...] = ()

    def is_met(self, request: HttpRequest) -> bool:
        """Whether this signed-in person may go on past this step, on this request."""
        raise NotImplementedError

    def url(self, request: HttpRequest) -> str:
        """The page that meets the requirement, with ``next`` set to where the person was going,
        so that they carry on there afterwards."""
        query = urlencode({"next": request.get_full_path()})
        return f"{reverse(self.url_name)}?{query}"

    def own_paths(self, request: HttpRequest) -> Iterable[str]:
        """Path prefixes of the pages that belong to the step; by default its own page and
        those named in ``own_path_names``."""
        return (reverse(self.url_name), *(reverse(name) for name in self.own_path_names))

    def owns(self, request: HttpRequest) -> bool:
        return request.path_info.startswith(tuple(self.own_paths(request)))


def signed_in_requirements() -> tuple[SignedInRequirement, ...]:
    """The requirements in force, in the order they are asked for.

    Read through the setting on every call (and cached by its value), so ``override_settings``
    in a test changes the list."""
    return instances(tuple(app_settings.SIGNED_IN_REQUIREMENTS))
