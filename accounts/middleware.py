"""Send a signed-in person to the first requirement they have not met (``accounts.requirements``).

The one place that says what stays reachable while a requirement is pending, whichever it is.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import get_script_prefix, reverse

from accounts.requirements import signed_in_requirements

# Mounted in portal/urls.py as whole prefixes: the development pages (404 unless DEBUG is on)
# and the CAPTCHA's pictures, sounds and refresh, which "Confirm it is you" may show.
MOUNTED_PREFIXES = ("/dev/", "/captcha/")


def always_reachable(path: str, user) -> bool:
    """Paths no pending requirement closes: the way out, help, the health check, files, the
    development and CAPTCHA paths, "Confirm it is you" (which a requirement's own pages may
    ask for), and the admin for staff, who have their own door and its own session rules."""
    if path == reverse("accounts:logout"):
        return True
    prefixes = (
        reverse("accounts:help"),
        reverse("accounts:recent_proof"),
        reverse("healthz"),
        # The authenticator app holds nothing of the account; its calls are signed.
        reverse("mobile:app"),
        settings.STATIC_URL,
        settings.MEDIA_URL,
        *MOUNTED_PREFIXES,
    )
    # Django turns an unset STATIC_URL or MEDIA_URL into the script prefix ("/"), which would
    # open every page: only a real folder counts.
    root = ("", "/", get_script_prefix())
    if path.startswith(tuple(prefix for prefix in prefixes if prefix not in root)):
        return True
    return user.is_staff and path.startswith(reverse("admin:index"))


class SignedInRequirementsMiddleware:
    """For a signed-in person, walk the requirements in order: a page that belongs to one of
    them is served once every requirement before it is met; the first one not met answers any
    other page with a redirect to itself.

    So only the pending requirement's pages (and those of the ones already met) are reachable,
    and asking for a later step's page by URL leads back to the earlier one.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        if always_reachable(request.path_info, user):
            return self.get_response(request)
        for requirement in signed_in_requirements():
            if requirement.owns(request):
                break
            if not requirement.is_met(request):
                return HttpResponseRedirect(requirement.url(request))
        return self.get_response(request)
