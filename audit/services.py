from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from audit.models import AuditEvent
from portal.http import client_ip, user_agent


def audit_record(
    *,
    event: str,
    outcome: str = AuditEvent.Outcome.INFO,
    subject=None,
    actor=None,
    request: HttpRequest | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append one event to the audit trail.

    ``detail`` must never hold a secret (password, code, token); channels are passed masked.
    When a request is given and no actor, the signed-in user (if any) is the actor.
    """
    ip = ua = None
    if request is not None:
        ip = client_ip(request)
        ua = user_agent(request)
        user = getattr(request, "user", None)
        if actor is None and user is not None and user.is_authenticated:
            actor = user
    return AuditEvent.objects.create(
        event=event,
        outcome=outcome,
        subject=subject,
        actor=actor,
        ip=ip,
        user_agent=ua or "",
        detail=detail,
    )
