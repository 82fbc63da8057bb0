"""Ending every session of an account at once.

Django checks, on each request, that the session's auth hash still matches the account's
(``User.get_session_auth_hash``). The portal's hash covers the password and a session
generation, so raising the generation makes every existing session of the account fail that
check on its next request, whatever the door it was opened through (portal, admin), and with
no list of sessions to keep. Django then flushes the session it met.
"""

from __future__ import annotations

from django.db.models import F
from django.http import HttpRequest

from accounts.models import User
from audit.services import audit_record


def account_sessions_end(
    *, user: User, reason: str, actor: User | None = None, request: HttpRequest | None = None
) -> None:
    """End every session of ``user``; audited with ``reason``."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    audit_record(
        event="account.sessions_ended", subject=user, actor=actor, request=request, reason=reason
    )
