"""SafeCode services: issue and check single-use codes, register the channels they go to.

Public API, for the unlock, password-change, forgotten- and expired-password flows
----------------------------------------------------------------------------------

Every function is keyword-only; ``request`` is optional and only feeds the audit trail.

``safecode_issue(*, user, purpose, channel, request=None) -> SafeCode``
    Send a new 6-digit code for ``purpose`` (a ``safecode.models.Purpose``) to ``channel``
    (one of ``channel_list_verified(user)``; for ``Purpose.CHANNEL_VERIFY`` a pending one).
    The previous code of that purpose stops working. Raises ``SafeCodeLockedOut(until)``
    after too many wrong entries, ``SafeCodeThrottled(retry_after, reason)`` when a limit
    applies (a minute between codes to one channel, five codes an hour per purpose and ten
    per channel, ten texts a day per phone number), ``SafeCodeChannelUnusable`` for
    someone else's or an unverified channel. The code is handed to the delivery service
    with ``secrets=[code]`` and the code's expiry; it is never returned, logged or audited.

``safecode_issue_to_all(*, user, purpose, request=None, binding="") -> SafeCode``
    The same for every verified channel of ``user`` at once: one code, sent to each channel
    the limits allow, each destination counted by the throttles as a code sent there.

``safecode_verify(*, user, purpose, code, channel=None, request=None) -> bool``
    True exactly once for the right, unexpired code (the code is consumed). False for a
    wrong, expired, used or replaced code. Raises ``SafeCodeInvalidFormat`` ("Enter the
    6-digit code") when ``code`` is not six digits after normalisation (spaces, dashes and
    full-width digits are fine), and ``SafeCodeLockedOut(until)`` while locked -- including
    when this very entry was the one that locked. ``safecode_check`` is the same with a
    ``CheckResult`` saying why a code was refused, for pages that want to tell.

    Do not call either inside a transaction that you roll back on refusal: the wrong-entry
    count must survive.

``channel_list_verified(user)``, ``user_has_verified_channel(user)``,
``safecode_send_throttle(*, user, purpose, channel)``, ``safecode_locked_until(*, user,
purpose)`` are in ``safecode.selectors``. Forms to reuse: ``safecode.forms.SendCodeForm``
(choose where the code goes) and ``safecode.forms.CodeForm`` (enter the 6-digit code), with
the templates ``safecode/components/send_code.html`` and ``safecode/components/enter_code.html``.

Rules (tunables in ``safecode.app_settings``): a code lives 10 minutes and works once; five
wrong entries kill it; ten wrong entries within an hour for one account and purpose stop
codes of that purpose for an hour, however many new codes were sent. All of it is kept in the
database, so no cache failure can open it.

Channel registration (the /safecode/ pages): ``channel_register``, ``channel_verify``,
``channel_remove`` and ``safecode_skip``.
"""

from __future__ import annotations

import enum

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.formats import date_format

from accounts.app_settings import app_settings as accounts_settings
from accounts.services.notices import Reach, notice_send
from accounts.services.recent_proof import recent_proof_require
from audit.models import AuditEvent
from audit.services import audit_record
from delivery.services import email_enqueue, sms_enqueue
from portal.single_use import single_use_consume
from safecode.addresses import (
    check_phone_country,
    email_domain,
    is_institution_domain,
    normalize_email,
    normalize_phone,
    personal_email_error,
)
from safecode.app_settings import app_settings
from safecode.codes import code_matches, generate_code, hash_code, normalize_code
from safecode.errors import (
    SafeCodeChannelUnusable,
    SafeCodeError,
    SafeCodeInvalidFormat,
    SafeCodeLastChannel,
    SafeCodeLockedOut,
    SafeCodeSkipsExhausted,
    SafeCodeThrottled,
)
from safecode.models import Channel, Purpose, SafeCode, WrongEntry
from safecode.selectors import (
    channel_list_pending,
    channel_list_verified,
    safecode_locked_until,
    safecode_open_code,
    safecode_send_throttle,
    user_has_verified_channel,
)

Outcome = AuditEvent.Outcome


class CheckResult(enum.StrEnum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    EXHAUSTED = "exhausted"  # this wrong entry was the code's last try
    EXPIRED = "expired"
    NO_CODE = "no_code"  # none open for the purpose (used, replaced, never sent)

    @property
    def message(self) -> str:
        return {
            CheckResult.ACCEPTED: "Code accepted.",
            CheckResult.WRONG: "That code is not right. Check the latest message and try again.",
            CheckResult.EXHAUSTED: "That code is not right, and it has been tried too many "
            "times. Send a new code.",
            CheckResult.EXPIRED: "That code has expired. Send a new code.",
            CheckResult.NO_CODE: "That code no longer works. Send a new code.",
        }[self]


# Issue and check ------------------------------------------------------------------------------


def safecode_issue(
    *,
    user,
    purpose: str,
    channel: Channel,
    request: HttpRequest | None = None,
    binding: str = "",
) -> SafeCode:
    """Issue a new code for ``purpose`` and hand it to the delivery service for ``channel``.

    ``binding`` names the flow that asks for the code (``portal.flows.FlowRun.binding``):
    the code is then accepted only with the same binding, so a code asked for in one browser
    session cannot finish another session's flow.

    Issues for one account are serialised on the account row, so that throttles count
    exactly however many requests arrive together.
    """
    purpose = Purpose(purpose)
    refusal: SafeCodeError | None = None
    with transaction.atomic():
        _lock_account(user)
        channel = _usable_channel(user=user, purpose=purpose, channel=channel)
        now = timezone.now()
        locked = safecode_locked_until(user=user, purpose=purpose, now=now)
        if locked is not None:
            refusal = SafeCodeLockedOut(locked)
        else:
            refusal = safecode_send_throttle(user=user, purpose=purpose, channel=channel, now=now)
        if refusal is None:
            return _issue(
                user=user,
                purpose=purpose,
                channel=channel,
                now=now,
                request=request,
                binding=binding,
            )
    # Outside the transaction, so that the audit survives the refusal.
    _audit_refusal(refusal, user=user, request=request, purpose=purpose, channel=channel)
    raise refusal


def _new_row(*, user, purpose: Purpose, channel: Channel, now, binding: str) -> SafeCode:
    """An unsaved code row for ``channel``, with the copies of the destination the throttles
    count."""
    return SafeCode(
        user=user,
        purpose=purpose,
        channel=channel,
        channel_kind=channel.kind,
        destination=channel.address,
        destination_region=channel.region,
        created_at=now,
        expires_at=now + app_settings.CODE_TTL,
        binding_hash=_binding_hash(binding),
    )


def _replace_open_codes(*, user, purpose: Purpose, now) -> int:
    return SafeCode.objects.filter(
        user=user, purpose=purpose, used_at__isnull=True, invalidated_at__isnull=True
    ).update(invalidated_at=now)


def _issue(*, user, purpose: Purpose, channel: Channel, now, request, binding: str) -> SafeCode:
    replaced = _replace_open_codes(user=user, purpose=purpose, now=now)
    code = generate_code()
    row = _new_row(user=user, purpose=purpose, channel=channel, now=now, binding=binding)
    row.code_hash = hash_code(code, salt=_salt(row))
    row.save()
    _audit(
        "safecode.issued",
        Outcome.SUCCESS,
        user=user,
        request=request,
        channel=channel,
        purpose=purpose,
        replaced=replaced,
        expires_at=row.expires_at.isoformat(),
    )
    _deliver_code(user=user, row=row, code=code)
    _audit(
        "safecode.sent", Outcome.INFO, user=user, request=request, channel=channel, purpose=purpose
    )
    return row


def safecode_issue_to_all(
    *,
    user,
    purpose: str,
    request: HttpRequest | None = None,
    binding: str = "",
) -> SafeCode:
    """Issue one new code for ``purpose`` and send it to every verified channel of ``user``.

    For the anonymous recovery flows, where the person may not remember which contact the
    account holds: the same code goes to each, and works once, from any of them. Returns the
    code's row.

    One code is open per purpose, as ever: it is the row of the first channel that may be
    sent a code (phone first), and ``safecode_check`` verifies it as any other. Every other
    destination gets a delivery record, a row of the same purpose, channel and destination
    that is never open (invalidated at issue, no hash, so it can never be entered). The
    throttles count rows per channel, per number and country, and per purpose, so each
    destination counts as one code sent there, exactly as if it had been asked for alone;
    each channel is checked in turn, after the ones before it were counted, and a channel a
    limit holds is skipped (and audited) while the others are sent the code.

    Raises ``SafeCodeChannelUnusable`` when the account has no verified channel,
    ``SafeCodeLockedOut(until)`` after too many wrong entries, and ``SafeCodeThrottled`` (the
    limit that lifts first) when no channel may be sent a code; the previous code then keeps
    working. A confirmation code goes only to the channel it confirms: ``CHANNEL_VERIFY`` is
    refused with ``ValueError``.
    """
    purpose = Purpose(purpose)
    if purpose == Purpose.CHANNEL_VERIFY:
        raise ValueError("A confirmation code goes only to the channel it confirms.")
    held: list[tuple[Channel, SafeCodeThrottled]] = []
    locked = None
    with transaction.atomic():
        _lock_account(user)
        channels = list(channel_list_verified(user))
        if not channels:
            raise SafeCodeChannelUnusable()
        now = timezone.now()
        locked = safecode_locked_until(user=user, purpose=purpose, now=now)
        rows: list[SafeCode] = []
        code, replaced = "", 0
        if locked is None:
            for channel in channels:
                throttle = safecode_send_throttle(
                    user=user, purpose=purpose, channel=channel, now=now
                )
                if throttle is not None:
                    held.append((channel, throttle))
                    continue
                row = _new_row(
                    user=user, purpose=purpose, channel=channel, now=now, binding=binding
                )
                if not rows:
                    replaced = _replace_open_codes(user=user, purpose=purpose, now=now)
                    code = generate_code()
                    row.code_hash = hash_code(code, salt=_salt(row))
                else:
                    row.invalidated_at = now  # a delivery record: never open, never entered
                row.save()
                rows.append(row)
        if rows:
            primary = rows[0]
            _audit(
                "safecode.issued",
                Outcome.SUCCESS,
                user=user,
                request=request,
                channel=primary.channel,
                purpose=purpose,
                replaced=replaced,
                destinations=len(rows),
                expires_at=primary.expires_at.isoformat(),
            )
            for row in rows:
                _deliver_code(user=user, row=row, code=code)
                _audit(
                    "safecode.sent",
                    Outcome.INFO,
                    user=user,
                    request=request,
                    channel=row.channel,
                    purpose=purpose,
                )
    # Outside the transaction, so that the audit survives a refusal.
    if locked is not None:
        refusal = SafeCodeLockedOut(locked)
        _audit_refusal(refusal, user=user, request=request, purpose=purpose)
        raise refusal
    for channel, throttle in held:
        _audit_refusal(throttle, user=user, request=request, purpose=purpose, channel=channel)
    if not rows:
        raise min((throttle for _, throttle in held), key=lambda t: t.retry_after)
    return rows[0]


def safecode_check(
    *,
    user,
    purpose: str,
    code: str,
    channel: Channel | None = None,
    request: HttpRequest | None = None,
    binding: str = "",
) -> CheckResult:
    """Check ``code`` against the open code for ``purpose``, consuming it when right.

    With ``channel``, only a code sent to that channel counts; only a code issued with the
    same ``binding`` counts at all (another flow's code is ``NO_CODE``, and costs that flow no
    try). See the module docstring.
    """
    purpose = Purpose(purpose)
    typed = normalize_code(code if isinstance(code, str) else "")
    if typed is None:
        raise SafeCodeInvalidFormat()
    now = timezone.now()
    locked = safecode_locked_until(user=user, purpose=purpose, now=now)
    if locked is not None:
        _audit(
            "safecode.failed",
            Outcome.FAILURE,
            user=user,
            request=request,
            purpose=purpose,
            reason="locked_out",
        )
        raise SafeCodeLockedOut(locked)

    row = safecode_open_code(user=user, purpose=purpose)
    if (
        row is None
        or (channel is not None and row.channel_id != channel.pk)
        or not constant_time_compare(row.binding_hash, _binding_hash(binding))
    ):
        _audit(
            "safecode.failed",
            Outcome.FAILURE,
            user=user,
            request=request,
            purpose=purpose,
            reason="no_code",
        )
        return CheckResult.NO_CODE
    if now >= row.expires_at:
        _audit(
            "safecode.expired",
            Outcome.FAILURE,
            user=user,
            request=request,
            channel=row.channel,
            purpose=purpose,
        )
        return CheckResult.EXPIRED

    if code_matches(typed, row.code_hash, salt=_salt(row)):
        consumed = single_use_consume(
            SafeCode.objects.filter(invalidated_at__isnull=True),
            pk=row.pk,
            now=now,
            attempt_limit=app_settings.MAX_ATTEMPTS_PER_CODE,
        )
        if consumed:
            WrongEntry.objects.filter(user=user, purpose=purpose).delete()
            _audit(
                "safecode.verified",
                Outcome.SUCCESS,
                user=user,
                request=request,
                channel=row.channel,
                purpose=purpose,
            )
            return CheckResult.ACCEPTED
        _audit(
            "safecode.failed",
            Outcome.FAILURE,
            user=user,
            request=request,
            channel=row.channel,
            purpose=purpose,
            reason="already_used",
        )
        return CheckResult.NO_CODE

    return _record_wrong_entry(user=user, row=row, now=now, request=request)


def _record_wrong_entry(*, user, row: SafeCode, now, request) -> CheckResult:
    limit = app_settings.MAX_ATTEMPTS_PER_CODE
    with transaction.atomic():
        SafeCode.objects.filter(
            pk=row.pk, used_at__isnull=True, invalidated_at__isnull=True
        ).update(failed_attempts=F("failed_attempts") + 1)
        exhausted = SafeCode.objects.filter(
            pk=row.pk, used_at__isnull=True, invalidated_at__isnull=True, failed_attempts__gte=limit
        ).update(invalidated_at=now)
        WrongEntry.objects.create(user=user, purpose=row.purpose, created_at=now)
    _audit(
        "safecode.failed",
        Outcome.FAILURE,
        user=user,
        request=request,
        channel=row.channel,
        purpose=row.purpose,
        reason="wrong_code",
    )
    if exhausted:
        _audit(
            "safecode.invalidated",
            Outcome.FAILURE,
            user=user,
            request=request,
            channel=row.channel,
            purpose=row.purpose,
            reason="too_many_wrong_entries",
        )
    locked = safecode_locked_until(user=user, purpose=row.purpose, now=now)
    if locked is not None:
        _audit(
            "safecode.locked_out",
            Outcome.FAILURE,
            user=user,
            request=request,
            purpose=row.purpose,
            until=locked.isoformat(),
        )
        raise SafeCodeLockedOut(locked)
    return CheckResult.EXHAUSTED if exhausted else CheckResult.WRONG


def safecode_verify(
    *,
    user,
    purpose: str,
    code: str,
    channel: Channel | None = None,
    request: HttpRequest | None = None,
    binding: str = "",
) -> bool:
    """True exactly once for the right code; see the module docstring for what it raises."""
    result = safecode_check(
        user=user, purpose=purpose, code=code, channel=channel, request=request, binding=binding
    )
    return result is CheckResult.ACCEPTED


# Channels -------------------------------------------------------------------------------------


def channel_register(
    *,
    user,
    phone: str = "",
    carrier: str = "",
    email: str = "",
    request: HttpRequest | None = None,
) -> list[Channel]:
    """Start registering a new phone and/or personal email; returns the channels waiting.

    Nothing changes for the channels already verified until the new one is confirmed. A
    code goes to the first waiting channel when the throttles allow; otherwise the
    verification page says when one can be sent. Raises ``ValidationError`` for an address
    that may not be registered, such as a phone outside ``SAFECODE_PHONE_COUNTRIES`` (the form
    says so first).
    """
    wanted: list[tuple[str, str, str]] = []
    if phone:
        parsed = normalize_phone(phone)
        check_phone_country(parsed)
        wanted.append((Channel.Kind.PHONE, parsed.e164, parsed.region))
    if email:
        address = normalize_email(email)
        if is_institution_domain(email_domain(address)):
            raise ValidationError(personal_email_error(), code="institution")
        wanted.append((Channel.Kind.EMAIL, address, ""))
    if not wanted:
        raise ValidationError("Enter a mobile phone number or a personal email address.")
    if carrier and carrier not in Channel.Carrier.values:
        raise ValidationError("Choose a carrier from the list.")

    if user_has_verified_channel(user):
        # Adding or replacing a contact of an account that has one needs a fresh proof.
        recent_proof_require(request=request, user=user, change="safecode_channel")
    now = timezone.now()
    with transaction.atomic():
        _lock_account(user)
        for kind, address, region in wanted:
            current = Channel.objects.filter(user=user, kind=kind).exclude(
                status=Channel.Status.RETIRED
            )
            if current.filter(status=Channel.Status.VERIFIED, address__iexact=address).exists():
                continue
            pending = current.filter(status=Channel.Status.PENDING).first()
            if pending is not None and pending.address == address:
                if kind == Channel.Kind.PHONE and pending.carrier != carrier:
                    pending.carrier = carrier
                    pending.save(update_fields=["carrier"])
                continue
            if pending is not None:
                _retire(pending, now=now)
            channel = Channel.objects.create(
                user=user,
                kind=kind,
                address=address,
                region=region,
                carrier=carrier if kind == Channel.Kind.PHONE else "",
                created_at=now,
            )
            _audit(
                "safecode.channel_pending",
                Outcome.INFO,
                user=user,
                request=request,
                channel=channel,
            )
    waiting = list(channel_list_pending(user))
    if waiting:
        _send_verification_quietly(user=user, channel=waiting[0], request=request)
    return waiting


def channel_verify(
    *, user, channel: Channel, code: str, request: HttpRequest | None = None
) -> CheckResult:
    """Confirm a waiting channel with the code sent to it; returns a ``CheckResult``.

    On success the channel counts from now on, the one of the same kind it replaces is
    retired and notified (with the account email), and a code goes to the next waiting
    channel. Raises like ``safecode_check``, and ``RecentProofRequired`` for a channel that
    waited longer than a fresh proof lasts while the account has a verified one: a contact
    added in the first minutes of an account, before any was confirmed, cannot be confirmed
    much later on the strength of a session alone.
    """
    if channel.user_id != user.pk or channel.status != Channel.Status.PENDING:
        return CheckResult.NO_CODE
    if user_has_verified_channel(user) and channel.created_at <= timezone.now() - (
        accounts_settings.RECENT_PROOF_TTL
    ):
        recent_proof_require(request=request, user=user, change="safecode_channel_confirmed")
    result = safecode_check(
        user=user, purpose=Purpose.CHANNEL_VERIFY, code=code, channel=channel, request=request
    )
    if result is not CheckResult.ACCEPTED:
        return result
    now = timezone.now()
    with transaction.atomic():
        _lock_account(user)
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        if channel.status != Channel.Status.PENDING:
            return CheckResult.NO_CODE
        old = (
            Channel.objects.select_for_update()
            .filter(user=user, kind=channel.kind, status=Channel.Status.VERIFIED)
            .first()
        )
        if old is not None:
            _retire(old, now=now)
        channel.status = Channel.Status.VERIFIED
        channel.verified_at = now
        channel.save(update_fields=["status", "verified_at"])
        _audit(
            "safecode.channel_replaced" if old else "safecode.channel_added",
            Outcome.SUCCESS,
            user=user,
            request=request,
            channel=channel,
            **({"previous": old.masked} if old else {}),
        )
        _notify_change(
            user=user, action="replaced" if old else "added", old=old, new=channel, now=now
        )
    waiting = list(channel_list_pending(user))
    if waiting:
        _send_verification_quietly(user=user, channel=waiting[0], request=request)
    return CheckResult.ACCEPTED


def channel_remove(*, user, channel: Channel, request: HttpRequest | None = None) -> None:
    """Remove a verified channel (never the last) or cancel a waiting one.

    Raises ``SafeCodeLastChannel``: SafeCode cannot be turned off, only moved; and
    ``RecentProofRequired`` for a verified channel without a fresh proof in the session.
    """
    if channel.status == Channel.Status.VERIFIED and channel_list_verified(user).count() > 1:
        recent_proof_require(request=request, user=user, change="safecode_channel_removed")
    now = timezone.now()
    refusal = None
    with transaction.atomic():
        _lock_account(user)
        channel = Channel.objects.select_for_update().filter(pk=channel.pk, user=user).first()
        if channel is None:
            raise SafeCodeChannelUnusable()
        if channel.status == Channel.Status.RETIRED:
            return
        if channel.status == Channel.Status.PENDING:
            _retire(channel, now=now)
            _audit(
                "safecode.channel_cancelled",
                Outcome.INFO,
                user=user,
                request=request,
                channel=channel,
            )
            return
        others = Channel.objects.filter(user=user, status=Channel.Status.VERIFIED).exclude(
            pk=channel.pk
        )
        if not others.exists():
            refusal = SafeCodeLastChannel()
        else:
            _retire(channel, now=now)
            _audit(
                "safecode.channel_removed",
                Outcome.SUCCESS,
                user=user,
                request=request,
                channel=channel,
            )
            _notify_change(user=user, action="removed", old=channel, new=None, now=now)
    if refusal is not None:
        _audit(
            "safecode.channel_removed",
            Outcome.FAILURE,
            user=user,
            request=request,
            channel=channel,
            reason="last_channel",
        )
        raise refusal


def safecode_skip(*, user, request: HttpRequest | None = None) -> int:
    """Count one skip of the registration prompt; returns the skips left.

    The increment is a single conditional UPDATE, so two tabs cannot skip a sixth time.
    Raises ``SafeCodeSkipsExhausted`` once every skip is used.
    """
    limit = app_settings.MAX_SKIPS
    User = get_user_model()
    skipped = User.objects.filter(pk=user.pk, safecode_skips__lt=limit).update(
        safecode_skips=F("safecode_skips") + 1
    )
    user.refresh_from_db(fields=["safecode_skips"])
    if not skipped:
        _audit(
            "safecode.skipped", Outcome.FAILURE, user=user, request=request, reason="no_skips_left"
        )
        raise SafeCodeSkipsExhausted()
    left = max(limit - user.safecode_skips, 0)
    _audit("safecode.skipped", Outcome.INFO, user=user, request=request, skips_left=left)
    return left


# Internals ------------------------------------------------------------------------------------


def _binding_hash(binding: str) -> str:
    return hash_code(binding, salt="safecode:binding") if binding else ""


def _salt(row: SafeCode) -> str:
    """Binds the hash to the account, purpose and channel, so a hash copied to another row
    cannot be used there."""
    return f"safecode:{row.user_id}:{row.purpose}:{row.channel_id}"


def _lock_account(user) -> None:
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))


def _usable_channel(*, user, purpose: Purpose, channel: Channel) -> Channel:
    wanted = (
        Channel.Status.PENDING if purpose == Purpose.CHANNEL_VERIFY else Channel.Status.VERIFIED
    )
    fresh = Channel.objects.filter(pk=channel.pk, user=user, status=wanted).first()
    if fresh is None:
        raise SafeCodeChannelUnusable()
    return fresh


def _retire(channel: Channel, *, now) -> None:
    channel.status = Channel.Status.RETIRED
    channel.retired_at = now
    channel.save(update_fields=["status", "retired_at"])
    SafeCode.objects.filter(
        channel=channel, used_at__isnull=True, invalidated_at__isnull=True
    ).update(invalidated_at=now)


def _send_verification_quietly(*, user, channel: Channel, request) -> SafeCode | None:
    """Send a confirmation code if the limits allow; the page shows the limit otherwise."""
    try:
        return safecode_issue(
            user=user, purpose=Purpose.CHANNEL_VERIFY, channel=channel, request=request
        )
    except (SafeCodeThrottled, SafeCodeLockedOut):
        return None


def _deliver_code(*, user, row: SafeCode, code: str) -> None:
    minutes = max(int(app_settings.CODE_TTL.total_seconds() // 60), 1)
    enqueue = sms_enqueue if row.channel_kind == Channel.Kind.PHONE else email_enqueue
    folder = "sms" if row.channel_kind == Channel.Kind.PHONE else "email"
    enqueue(
        recipient=row.destination,
        template=f"safecode/{folder}/code",
        context={
            "code": code,
            "minutes": minutes,
            "purpose": Purpose(row.purpose).label,
            # The one code a person reads out, to the agent on a call they are on.
            "read_to_desk": row.purpose == Purpose.CALLER_VERIFY,
        },
        purpose=f"safecode.{row.purpose}",
        user=user,
        secrets=[code],
        expires_at=row.expires_at,
    )


def _notify_change(*, user, action: str, old: Channel | None, new: Channel | None, now) -> None:
    """Tell the replaced or removed channel, every other channel in force and the account's
    notice address, with a "this was not me" link (emails) or the service desk's phone
    (texts)."""
    kind = (new or old).get_kind_display().lower()
    notice_send(
        user=user,
        name="safecode/channel_changed",
        purpose="safecode.channel_notice",
        reach=Reach(
            first=((old.kind, old.address),) if old is not None else (),
            safecode=frozenset(Channel.Kind.values),
            skip_channel=new.pk if new is not None else None,
        ),
        context={
            "action": action,
            "kind": kind,
            "old": old.masked if old else "",
            "new": new.masked if new else "",
            "when": date_format(timezone.localtime(now), "DATETIME_FORMAT"),
            "username": user.get_username(),
        },
        report_change=f"SafeCode {kind} {action}",
    )


def _audit_refusal(
    refusal: SafeCodeError, *, user, request, purpose, channel: Channel | None = None
) -> None:
    """Audit a code that was not sent: locked out by wrong codes, or held by a limit."""
    locked_out = isinstance(refusal, SafeCodeLockedOut)
    _audit(
        "safecode.throttled",
        Outcome.FAILURE,
        user=user,
        request=request,
        channel=channel,
        purpose=purpose,
        reason="locked_out" if locked_out else refusal.reason,
        retry_after=(refusal.until if locked_out else refusal.retry_after).isoformat(),
    )


def _audit(
    event: str, outcome: str, *, user, request, channel: Channel | None = None, **detail
) -> None:
    """Audit one SafeCode event; the channel is always masked, and no code is ever passed."""
    if channel is not None:
        detail["channel"] = channel.masked
        detail.setdefault("channel_kind", channel.kind)
    if "purpose" in detail:
        detail["purpose"] = str(detail["purpose"])
    audit_record(event=event, outcome=outcome, subject=user, request=request, **detail)


__all__ = [
    "CheckResult",
    "channel_register",
    "channel_remove",
    "channel_verify",
    "safecode_check",
    "safecode_issue",
    "safecode_issue_to_all",
    "safecode_skip",
    "safecode_verify",
]


# The service desk ------------------------------------------------------------------------------


def safecode_registration_reset(
    *, user, actor, request: HttpRequest | None = None
) -> list[Channel]:
    """The service desk resets ``user``'s SafeCode registration: every channel in force or
    waiting is retired (their open codes stop working) and the person must register again.

    Registering is then mandatory, with no skip left (``safecode_skips`` set to ``MAX_SKIPS``):
    the desk resets a registration because its contacts are lost, wrong or someone else's, and
    an account without a verified contact has no self-service unlock or reset and no contact
    an attacker may not hold. ``SafeCodeRegistration`` is unmet from the next request of any
    session that has not skipped the prompt and at the next sign-in of every other one, and
    the prompt no longer offers Skip; a first contact needs no fresh proof
    (``channel_register``), so the person registers right after signing in.

    Returns the retired channels, so that the caller can tell their addresses (nothing of
    SafeCode reaches them any more). Audited as ``safecode.registration_reset`` with the
    agent and the masked channels.
    """
    now = timezone.now()
    User = get_user_model()
    with transaction.atomic():
        _lock_account(user)
        channels = list(
            Channel.objects.select_for_update()
            .filter(user=user)
            .exclude(status=Channel.Status.RETIRED)
            .order_by("-kind", "created_at", "id")
        )
        for channel in channels:
            _retire(channel, now=now)
        User.objects.filter(pk=user.pk).update(safecode_skips=app_settings.MAX_SKIPS)
        user.safecode_skips = app_settings.MAX_SKIPS
        audit_record(
            event="safecode.registration_reset",
            outcome=Outcome.SUCCESS,
            subject=user,
            actor=actor,
            request=request,
            channels=[f"{channel.get_kind_display()} {channel.masked}" for channel in channels],
            skips_left=0,
        )
    return channels


__all__ += ["safecode_registration_reset"]


def safecode_limits_lift(*, user, agent, request: HttpRequest | None = None) -> dict:
    """The service desk lifts the limits that stop codes for ``user`` now.

    The limits are counts of rows within a window (``safecode.selectors``): wrong entries for
    the lockout, codes sent for the send limits. Lifting forgets this account's rows inside
    the windows: its wrong entries, and its codes that can no longer be entered (used,
    replaced or expired). The open code, if any, is kept, so a code the person is holding
    still works. Nothing of another account is touched, so a limit across accounts (texts to
    one number or one country in a day) may still hold; what still holds is returned, and all
    of it is in the audit trail. Returns ``{"lifted": [...], "still": [...], "wrong_entries":
    n, "codes": n}`` with the purposes' labels.
    """
    from datetime import timedelta

    from django.db.models import Q

    from safecode.selectors import safecode_pauses

    with transaction.atomic():
        _lock_account(user)
        now = timezone.now()
        before = {label for label, _until, _why in safecode_pauses(user, now=now)}
        wrong_window = now - app_settings.LOCKOUT_DURATION - app_settings.LOCKOUT_WINDOW
        wrong, _ = WrongEntry.objects.filter(user=user, created_at__gt=wrong_window).delete()
        still_open = Q(used_at__isnull=True, invalidated_at__isnull=True, expires_at__gt=now)
        codes, _ = (
            SafeCode.objects.filter(user=user, created_at__gt=now - timedelta(days=1))
            .exclude(still_open)
            .delete()
        )
        after = [label for label, _until, _why in safecode_pauses(user, now=now)]
        result = {
            "lifted": sorted(before - set(after)),
            "still": after,
            "wrong_entries": wrong,
            "codes": codes,
        }
        audit_record(
            event="safecode.limits_lifted",
            outcome=Outcome.SUCCESS,
            subject=user,
            actor=agent,
            request=request,
            **result,
        )
    return result


__all__ += ["safecode_limits_lift"]
