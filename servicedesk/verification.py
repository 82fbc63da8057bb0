"""Verify the caller: compare what the caller says with the directory, or a SafeCode.

The agent types what the caller says (Harvard ID, date of birth, last 4 of the SSN) and/or
sends a SafeCode (``Purpose.CALLER_VERIFY``) to one of the account's verified channels and types
the code the caller reads back. The agent learns, per kind, only "matches" or "does not match":
no stored value is ever returned, and every comparison is constant-time (the SSN's last four
against their keyed hash, ``accounts.models.ssn_last4_digest``).

When is a call verified? (SECURITY.md, Recovery: identity details are look-up keys, not proof.)

- a SafeCode sent to a contact the account already holds, read back right; or
- all three identity details (Harvard ID, date of birth and last 4 of the SSN) matching,
  which needs the directory to hold all three for the person;

and, in either case, nothing typed in the same check failed to match: a caller who has the code
but gives a wrong date of birth is not verified. Harvard ID and date of birth alone never verify
a call: both are printed on cards and forms that others see.

Each check is a ``CallerCheck`` row (kinds and outcomes only, never what was typed) and a
``desk.caller_checked`` audit event. An agent may check one account's caller
``CHECKS_PER_HOUR`` times an hour; the slot is taken under a lock on the account before anything
is compared, so concurrent checks cannot exceed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import User, ssn_last4_digest
from accounts.normalize import digits
from audit.models import AuditEvent
from audit.services import audit_record
from safecode.errors import SafeCodeChannelUnusable, SafeCodeInvalidFormat, SafeCodeLockedOut
from safecode.models import Channel, Purpose
from safecode.selectors import channel_list_verified
from safecode.services import CheckResult, safecode_check, safecode_issue
from servicedesk.models import CallerCheck

CHECKS_PER_HOUR = 5
CHECK_WINDOW = timedelta(hours=1)

HUID = "huid"
DATE_OF_BIRTH = "date_of_birth"
SSN_LAST4 = "ssn_last4"
CODE = "code"
# In the order the agent reads them.
KIND_LABELS = {
    HUID: "Harvard ID",
    DATE_OF_BIRTH: "Date of birth",
    SSN_LAST4: "Last 4 of SSN",
    CODE: "SafeCode",
}
IDENTITY_KINDS = (HUID, DATE_OF_BIRTH, SSN_LAST4)


class CallerCheckThrottled(Exception):
    """The agent checked this account's caller as often as an hour allows."""

    def __init__(self, retry_after: datetime) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class CallerAnswers:
    """What the caller said, as the agent typed it; empty for what was not asked."""

    huid: str = ""
    date_of_birth: date | None = None
    ssn_last4: str = ""
    code: str = ""

    def given(self) -> list[str]:
        return [kind for kind in KIND_LABELS if getattr(self, kind)]


@dataclass(frozen=True)
class CallerCheckOutcome:
    check: CallerCheck
    results: dict[str, bool]
    # Kinds typed that could not be compared: the directory has nothing for them.
    not_on_file: tuple[str, ...] = ()
    code_locked_until: datetime | None = None

    @property
    def verified(self) -> bool:
        return self.check.verified

    def summary(self) -> str:
        """``Harvard ID: matches · Date of birth: does not match``."""
        parts = [
            f"{KIND_LABELS[kind]}: {'matches' if matched else 'does not match'}"
            for kind, matched in self.results.items()
        ]
        parts += [f"{KIND_LABELS[kind]}: none on file, not checked" for kind in self.not_on_file]
        return " · ".join(parts)


def _binding(agent: User) -> str:
    """A caller code works only for the agent who sent it."""
    return f"servicedesk.caller:{agent.pk}"


def caller_channels(account: User) -> list[Channel]:
    """The channels a caller code may go to: the account's verified SafeCode contacts."""
    return list(channel_list_verified(account))


def on_file(account: User) -> dict[str, bool]:
    """Which identity details the directory holds for the account (never their values)."""
    person = account.person if account.person_id else None
    return {
        HUID: bool(person and person.huid),
        DATE_OF_BIRTH: bool(person and person.date_of_birth),
        SSN_LAST4: bool(person and person.ssn_last4_hash),
    }


def caller_checks_left(*, agent: User, account: User, now: datetime | None = None) -> int:
    now = now or timezone.now()
    used = CallerCheck.objects.filter(
        agent=agent, account=account, created_at__gt=now - CHECK_WINDOW
    ).count()
    return max(CHECKS_PER_HOUR - used, 0)


def caller_code_send(
    *, agent: User, account: User, channel_id: int, request: HttpRequest | None = None
) -> Channel:
    """Send a caller-verification SafeCode to one of the account's verified channels.

    SafeCode's own limits apply (a minute between codes, five an hour, the daily caps on a
    number); it raises ``SafeCodeThrottled``, ``SafeCodeLockedOut`` or
    ``SafeCodeChannelUnusable`` like any ``safecode_issue``. Returns the channel (show it
    masked).
    """
    channel = channel_list_verified(account).filter(pk=channel_id).first()
    if channel is None:
        raise SafeCodeChannelUnusable()
    safecode_issue(
        user=account,
        purpose=Purpose.CALLER_VERIFY,
        channel=channel,
        request=request,
        binding=_binding(agent),
    )
    audit_record(
        event="desk.caller_code_sent",
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=account,
        actor=agent,
        request=request,
        channel=channel.masked,
        channel_kind=channel.kind,
    )
    return channel


def _reserve(*, agent: User, account: User) -> CallerCheck:
    """Take one of the hour's checks, under a lock on the account row, or raise."""
    now = timezone.now()
    with transaction.atomic():
        list(User.objects.select_for_update().filter(pk=account.pk).values_list("pk"))
        recent = list(
            CallerCheck.objects.filter(
                agent=agent, account=account, created_at__gt=now - CHECK_WINDOW
            )
            .order_by("-created_at", "-id")
            .values_list("created_at", flat=True)[:CHECKS_PER_HOUR]
        )
        if len(recent) >= CHECKS_PER_HOUR:
            raise CallerCheckThrottled(recent[-1] + CHECK_WINDOW)
        return CallerCheck.objects.create(agent=agent, account=account, results={})


def _same(typed: str, stored: str) -> bool:
    return bool(typed) and bool(stored) and constant_time_compare(typed, stored)


def caller_check(
    *,
    agent: User,
    account: User,
    answers: CallerAnswers,
    request: HttpRequest | None = None,
) -> CallerCheckOutcome:
    """Compare ``answers`` with the account; record and audit the outcome (see the module
    docstring for the rule). Raises ``CallerCheckThrottled`` past the hour's checks and
    ``ValueError`` when nothing was typed. A typed code is consumed when right; a wrong one
    counts as a wrong SafeCode entry for caller verification."""
    given = answers.given()
    if not given:
        raise ValueError("Nothing to check.")
    check = _reserve(agent=agent, account=account)
    person = account.person if account.person_id else None
    held = on_file(account)
    results: dict[str, bool] = {}
    not_on_file: list[str] = []
    locked_until = None

    for kind in given:
        if kind == CODE:
            continue
        if not held[kind]:
            not_on_file.append(kind)
            continue
        if kind == HUID:
            results[kind] = _same(digits(answers.huid), person.huid)
        elif kind == DATE_OF_BIRTH:
            results[kind] = _same(
                answers.date_of_birth.isoformat(), person.date_of_birth.isoformat()
            )
        elif kind == SSN_LAST4:
            typed = digits(answers.ssn_last4)
            typed_hash = ssn_last4_digest(typed, huid=person.huid) if len(typed) == 4 else ""
            results[kind] = _same(typed_hash, person.ssn_last4_hash)

    if answers.code:
        # Outside any transaction: a wrong entry must be counted whatever happens next.
        try:
            result = safecode_check(
                user=account,
                purpose=Purpose.CALLER_VERIFY,
                code=answers.code,
                request=request,
                binding=_binding(agent),
            )
            results[CODE] = result is CheckResult.ACCEPTED
        except SafeCodeInvalidFormat:
            results[CODE] = False
        except SafeCodeLockedOut as locked:
            results[CODE] = False
            locked_until = locked.until

    identity_proven = all(results.get(kind) for kind in IDENTITY_KINDS)
    verified = all(results.values()) and (results.get(CODE, False) or identity_proven)
    CallerCheck.objects.filter(pk=check.pk).update(results=results, verified=verified)
    check.results, check.verified = results, verified
    audit_record(
        event="desk.caller_checked",
        outcome=AuditEvent.Outcome.SUCCESS if verified else AuditEvent.Outcome.FAILURE,
        subject=account,
        actor=agent,
        request=request,
        kinds=list(results),
        results=results,
        not_on_file=not_on_file,
        verified=verified,
        check=check.pk,
    )
    return CallerCheckOutcome(
        check=check,
        results=results,
        not_on_file=tuple(not_on_file),
        code_locked_until=locked_until,
    )
