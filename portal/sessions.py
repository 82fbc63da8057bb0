"""Session lifetimes: an idle timeout, a shorter one for the admin, and an absolute lifetime.

Every signed-in session carries two timestamps (epoch seconds, so the JSON serializer stores
them as they are): when the person signed in and when the session was last used. The middleware
checks them on every request, whatever the door (portal sign-in, the admin's sign-in, anything
that calls ``django.contrib.auth.login``), and fixes the session's own expiry at the absolute end,
so that the cookie and the stored session die then too, even if no request ever comes back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum

from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from audit.services import audit_record
from portal.app_settings import app_settings

SIGNED_IN_AT = "portal:signed_in_at"
LAST_SEEN_AT = "portal:last_seen_at"

ACTIVITY_RESOLUTION_SECONDS = 60
"""Last activity is written to the session at most once per this many seconds.

Without it every request of a signed-in person would save the session (a database write). The
cost is precision: the recorded activity may lag the real one by up to this much, so an idle
timeout can end a session up to this many seconds early, never late.
"""


class Expiry(StrEnum):
    IDLE = "idle"
    ADMIN_IDLE = "admin_idle"
    ABSOLUTE = "absolute"


def session_expiry(
    *, signed_in_at: int, last_seen_at: int, now: int, admin: bool
) -> tuple[Expiry, int] | None:
    """Which limit, if any, a session used at ``now`` has passed, with that limit in seconds.

    The absolute lifetime comes first: past it, no amount of activity matters.
    """
    absolute = app_settings.SESSION_ABSOLUTE_SECONDS
    if now - signed_in_at >= absolute:
        return Expiry.ABSOLUTE, absolute
    idle = now - last_seen_at
    if admin and idle > app_settings.ADMIN_SESSION_IDLE_SECONDS:
        return Expiry.ADMIN_IDLE, app_settings.ADMIN_SESSION_IDLE_SECONDS
    if idle > app_settings.SESSION_IDLE_SECONDS:
        return Expiry.IDLE, app_settings.SESSION_IDLE_SECONDS
    return None


def _duration(seconds: int) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def expiry_message(reason: Expiry, limit: int) -> str:
    if reason is Expiry.ABSOLUTE:
        return (
            f"You were signed out because a sign-in lasts at most {_duration(limit)}. "
            "Sign in again."
        )
    where = " of the admin" if reason is Expiry.ADMIN_IDLE else ""
    return f"You were signed out{where} after {_duration(limit)} without activity. Sign in again."


def _signed_in(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    if session is None or SESSION_KEY not in session:
        return False
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated


def _is_admin(request: HttpRequest) -> bool:
    try:
        return request.path_info.startswith(reverse("admin:index"))
    except NoReverseMatch:
        return False


def _keep_within_lifetime(request: HttpRequest, now: int) -> None:
    """Stamp a session seen signed in for the first time, and never let it outlive its end.

    A session without a stamp was signed in by this request or has just been met (one created
    before these rules, or by a test's ``force_login``): its lifetime starts now. The stamp is
    only ever removed with the whole session (sign-out, or a sign-in as someone else), so
    signing in again inside a live session does not extend it. The stored expiry is capped,
    never raised, so a shorter expiry set elsewhere stays.
    """
    session = request.session
    if SIGNED_IN_AT not in session:
        session[SIGNED_IN_AT] = now
        session[LAST_SEEN_AT] = now
    end = datetime.fromtimestamp(
        session[SIGNED_IN_AT] + app_settings.SESSION_ABSOLUTE_SECONDS, tz=UTC
    )
    if session.get_expiry_date() > end:
        session.set_expiry(end)


class SessionLifetimeMiddleware:
    """End signed-in sessions that were idle too long or have reached their absolute lifetime.

    The person is signed out (``logout`` flushes the session), told why, and the request goes on
    signed out: ``LoginRequiredMiddleware`` then sends it to the sign-in page with ``next``, and
    a public page is shown as it is to anyone. Requests under the admin have the shorter admin
    idle limit. Every expiry is an audit event.

    Placed after ``MessageMiddleware`` (to leave the message) and before the middleware that
    acts on a signed-in person; ``LoginRequiredMiddleware`` decides in ``process_view``, which
    runs after this, so it sees the person signed out.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _signed_in(request):
            now = int(time.time())
            self._check(request, now)
        response = self.get_response(request)
        if _signed_in(request):
            # The response that signs someone in starts the lifetime.
            _keep_within_lifetime(request, int(time.time()))
        return response

    def _check(self, request: HttpRequest, now: int) -> None:
        session = request.session
        if SIGNED_IN_AT not in session:
            _keep_within_lifetime(request, now)
            return
        expired = session_expiry(
            signed_in_at=session[SIGNED_IN_AT],
            last_seen_at=session.get(LAST_SEEN_AT, session[SIGNED_IN_AT]),
            now=now,
            admin=_is_admin(request),
        )
        if expired is not None:
            reason, limit = expired
            audit_record(
                event="session.expired", subject=request.user, request=request, reason=reason.value
            )
            logout(request)
            messages.info(request, expiry_message(reason, limit), fail_silently=True)
            return
        if now - session.get(LAST_SEEN_AT, 0) >= ACTIVITY_RESOLUTION_SECONDS:
            session[LAST_SEEN_AT] = now
        _keep_within_lifetime(request, now)
