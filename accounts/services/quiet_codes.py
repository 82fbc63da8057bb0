"""The "send a code quietly" step that unlock and forgotten password share."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from safecode.errors import SafeCodeError
from safecode.models import Channel
from safecode.selectors import channel_list_verified
from safecode.services import safecode_issue, safecode_issue_to_all

# The choice that sends one code to every verified SafeCode contact of the account: the
# default of the anonymous flows, where the person may not know which contact the account
# holds, so that a wrong guess does not cost them the minute between codes.
ALL_CONTACTS = "all"

SEND_CHOICES = (ALL_CONTACTS, *Channel.Kind.values)


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
    """Send a ``purpose`` code to ``user``'s verified SafeCode channel of ``kind``, or to every
    verified channel for ``ALL_CONTACTS``, if any, bound to the asking flow (``binding``):
    only that flow can use it.

    Answers nothing, whatever happened, so the page reads the same for every account; the
    audit (``event`` when no code went out, SafeCode's own events otherwise) says why. The
    only difference in work is the messages enqueued, which leave after the commit.
    """
    channel = None
    if user is not None and kind in SEND_CHOICES:
        verified = channel_list_verified(user)
        if kind != ALL_CONTACTS:
            verified = verified.filter(kind=kind)
        channel = verified.first()
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
        if kind == ALL_CONTACTS:
            safecode_issue_to_all(user=user, purpose=purpose, request=request, binding=binding)
        else:
            safecode_issue(
                user=user, purpose=purpose, channel=channel, request=request, binding=binding
            )
    except SafeCodeError:
        return  # SafeCode audited the refusal; the page answers the same.
