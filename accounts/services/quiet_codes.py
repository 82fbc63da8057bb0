"""The quiet send and verify that unlock and forgotten password share: each answers the same
whatever the account, and the audit trail says what happened."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from safecode.errors import SafeCodeError
from safecode.models import Channel
from safecode.selectors import channel_list_verified
from safecode.services import safecode_issue, safecode_issue_to_all, safecode_verify

# The choice that sends one code to every verified SafeCode contact of the account: the
# default of the anonymous flows, where the person may not know which contact the account
# holds, so that a wrong guess does not cost them the minute between codes.
ALL_CONTACTS = "all"

SEND_CHOICES = (ALL_CONTACTS, *Channel.Kind.values)


@dataclass(frozen=True)
class QuietCodes:
    """The quiet send and verify of one anonymous journey (unlock, forgotten password), for
    codes of ``purpose``. When no code goes out, or none can be checked, the audit trail
    records ``<purpose>.code_not_sent`` or ``<purpose>.failed`` with the reason."""

    purpose: str

    def send(
        self,
        *,
        user: User | None,
        reason: str,
        kind: str,
        binding: str,
        request: HttpRequest | None = None,
    ) -> None:
        """Send a code to ``user``'s verified SafeCode channel of ``kind``, or to every
        verified channel for ``ALL_CONTACTS``, if any, bound to the asking flow
        (``binding``): only that flow can use it.

        Answers nothing, whatever happened, so the page reads the same for every account;
        the audit (SafeCode's own events when a code went out) says why. The only difference
        in work is the messages enqueued, which leave after the commit.
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
                event=f"{self.purpose}.code_not_sent",
                outcome=AuditEvent.Outcome.FAILURE,
                subject=user,
                request=request,
                reason=reason or "no_channel",
                channel_kind=kind,
            )
            return
        try:
            if kind == ALL_CONTACTS:
                safecode_issue_to_all(
                    user=user, purpose=self.purpose, request=request, binding=binding
                )
            else:
                safecode_issue(
                    user=user,
                    purpose=self.purpose,
                    channel=channel,
                    request=request,
                    binding=binding,
                )
        except SafeCodeError:
            return  # SafeCode audited the refusal; the page answers the same.

    def verify(
        self,
        *,
        user: User | None,
        reason: str,
        code: str,
        binding: str,
        request: HttpRequest | None = None,
    ) -> bool:
        """Whether ``code`` is ``user``'s newest code of this purpose, asked for by the same
        flow (``binding``). False for every failure alike: no account (audited with
        ``reason``), a wrong, used or expired code, or a SafeCode lockout (SafeCode audits
        those)."""
        if user is None:
            audit_record(
                event=f"{self.purpose}.failed",
                outcome=AuditEvent.Outcome.FAILURE,
                request=request,
                reason=reason,
            )
            return False
        try:
            return safecode_verify(
                user=user, purpose=self.purpose, code=code, request=request, binding=binding
            )
        except SafeCodeError:
            return False
