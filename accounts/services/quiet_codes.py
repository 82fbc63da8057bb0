"""The "send a code quietly" step that unlock and forgotten password share."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from safecode.errors import SafeCodeError
from safecode.models import Channel
from safecode.selectors import channel_list_verified
from safecode.services import safecode_issue


def send_code_quietly(
    *,
    user: User | None,
    reason: str,
    kind: str,
    purpose: str,
    event: str,
    binding: str,
    request: HttpRequest | None = None,
) -> None:
    """Send a ``purpose`` code to ``user``'s verified SafeCode channel of ``kind``, if any,
    bound to the asking flow (``binding``): only that flow can use it.

    Answers nothing, whatever happened, so the page reads the same for every account; the
    audit (``event`` when no code went out, SafeCode's own events otherwise) says why.
    """
    channel = None
    if user is not None and kind in Channel.Kind.values:
        channel = channel_list_verified(user).filter(kind=kind).first()
        reason = "" if channel is not None else "no_channel"
    if channel is None:
        audit_record(
            event=event,
            outcome=AuditEvent.Outcome.FAILURE,
            subject=user,
            request=request,
            reason=reason or "no_channel",
            channel_kind=kind,
        )
        return
    try:
        safecode_issue(
            user=user, purpose=purpose, channel=channel, request=request, binding=binding
        )
    except SafeCodeError:
        return  # SafeCode audited the refusal; the page answers the same.
