"""Answers for failures that are not the portal's bug: an outage, a lookup of something gone.

- The database unreachable (a restart, a failover): 503 with ``Retry-After`` and a page that
  needs neither the database nor a request context, instead of 500, so that a load balancer
  and a person both read "try again shortly". The middleware answers for views; ``server_error``
  (``handler500``) for the middleware layers, such as loading a session.
- An object looked up with ``.get()`` by a library's view (django-otp's admin pages) that does
  not exist: 404, as ``get_object_or_404`` would have answered.
- A malformed value reaching the ORM from an admin form that Django does not validate (the
  selection of a changelist action): 400.

Each is still logged, at WARNING for the last two, so nothing is hidden from the operators.
"""

from __future__ import annotations

import logging
import sys
from http import HTTPStatus

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import reverse
from django.views import defaults

logger = logging.getLogger("portal.errors")

RETRY_AFTER_SECONDS = 30
DATABASE_DOWN = (OperationalError, InterfaceError)


def database_unavailable() -> HttpResponse:
    response = HttpResponse(
        loader.get_template("503.html").render(), status=HTTPStatus.SERVICE_UNAVAILABLE
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class FailureAnswersMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_DOWN):
            logger.error("Database unavailable: %s", exception, exc_info=exception)
            return database_unavailable()
        if isinstance(exception, ObjectDoesNotExist):
            logger.warning("Not found: %s (%s)", request.path, exception)
            return defaults.page_not_found(request, exception)
        if _is_admin(request) and isinstance(exception, ValueError | ValidationError):
            logger.warning("Bad request to the admin: %s (%s)", request.path, exception)
            return defaults.bad_request(request, exception)
        return None


def _is_admin(request: HttpRequest) -> bool:
    return request.path.startswith(reverse("admin:index"))


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a database outage reads as 503 wherever it surfaced."""
    if isinstance(sys.exc_info()[1], DATABASE_DOWN):
        return database_unavailable()
    return defaults.server_error(request)
