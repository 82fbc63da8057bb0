"""Writes of the delivery app: enqueue a message, deliver it at most once, sweep up stragglers."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.template import Context, engines
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from delivery.app_settings import app_settings
from delivery.backends.base import (
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
    backend_for,
)
from delivery.masking import MASK, secret_spans
from delivery.models import Message
from portal.context_processors import institution as institution_context

logger = logging.getLogger(__name__)


def message_enqueue(
    *,
    channel: str,
    recipient: str,
    body: str,
    purpose: str,
    subject: str = "",
    secrets: Sequence[str] = (),
    user=None,
    expires_at: datetime | None = None,
) -> Message:
    """Write a message in the caller's transaction and hand it to Celery once that commits.

    Enqueuing on commit means a worker never looks for a row that does not exist yet and a
    rolled-back request sends nothing. ``secrets`` are the parts of ``body`` that must not be
    readable once sent (a code, a link token): only their positions are stored, so the body
    can be masked everywhere staff or logs can see it.
    """
    if channel not in Message.Channel.values:
        raise ValueError(f"Unknown channel {channel!r}.")
    if not recipient:
        raise ValueError("A message needs a recipient.")
    if isinstance(secrets, str):
        raise TypeError("secrets is a sequence of strings; wrap a single secret in a list.")
    secrets = [secret for secret in secrets if secret]
    if any(secret in subject for secret in secrets):
        raise ValueError("A secret must not appear in the subject, which is never masked.")
    message = Message.objects.create(
        channel=channel,
        recipient=recipient,
        purpose=purpose,
        subject=subject,
        body=body,
        secret_spans=secret_spans(body, secrets),
        user=user,
        expires_at=expires_at,
    )
    transaction.on_commit(partial(message_dispatch, message_id=message.pk))
    return message


def email_enqueue(
    *,
    recipient: str,
    template: str,
    context: dict[str, Any],
    purpose: str,
    user=None,
    secrets: Sequence[str] = (),
    expires_at: datetime | None = None,
) -> Message:
    """Render ``<template>_subject.txt`` and ``<template>_body.txt`` and enqueue the email.

    Plain text is rendered without HTML autoescaping, so ``&`` and quotes reach the reader
    as typed. The institution's names and service-desk contacts are in the context, as on
    every page.
    """
    full_context = _text_context(context)
    subject = _render_text(f"{template}_subject.txt", full_context)
    subject = " ".join(subject.split())
    body = _render_text(f"{template}_body.txt", full_context)
    return message_enqueue(
        channel=Message.Channel.EMAIL,
        recipient=recipient,
        body=body,
        purpose=purpose,
        subject=subject,
        secrets=secrets,
        user=user,
        expires_at=expires_at,
    )


def sms_enqueue(
    *,
    recipient: str,
    template: str,
    context: dict[str, Any],
    purpose: str,
    user=None,
    secrets: Sequence[str] = (),
    expires_at: datetime | None = None,
) -> Message:
    """Render ``<template>.txt`` and enqueue it as a text message.

    The text message's counterpart of ``email_enqueue``: the wording lives in a template
    beside the email's, rendered with the same context and without autoescaping, and the
    surrounding whitespace (a template's final newline) is trimmed, since a text message
    is billed by the character.
    """
    full_context = _text_context(context)
    body = _render_text(f"{template}.txt", full_context).strip()
    return message_enqueue(
        channel=Message.Channel.SMS,
        recipient=recipient,
        body=body,
        purpose=purpose,
        secrets=secrets,
        user=user,
        expires_at=expires_at,
    )


def _text_context(context: dict[str, Any]) -> dict[str, Any]:
    """What every email and text message may say: the institution's names and service-desk
    contacts, and the portal's address, as on every page."""
    return {**institution_context(None), "site_url": settings.PORTAL_URL, **context}


def _render_text(name: str, context: dict[str, Any]) -> str:
    template = engines["django"].engine.get_template(name)
    return template.render(Context(context, autoescape=False))


def message_dispatch(*, message_id: int) -> bool:
    """Hand a message to whatever sends it in the background; never send it here.

    This runs after the caller's transaction committed, inside their request, so it must not
    wait for a provider: a hanging one would hold the page, and a page that sends would be
    slower than one that does not, telling an observer whether an account exists.

    With a broker, the message goes to Celery. A broker outage must not turn a saved password
    reset into an error page, nor hold it while kombu reconnects, so the connection is tried
    once (kombu's default would loop for the whole connect timeout), the publish is not retried
    (``retry=False``) and the message stays queued for the sweep. Without a broker (the
    embedded default), the portal's own background thread sends it (``delivery.inprocess``).
    Returns whether the message was handed over.
    """
    from delivery.tasks import deliver_message
    from portal.publish import task_publish_once

    app = deliver_message.app
    if app.conf.task_always_eager and app_settings.WITHOUT_BROKER == "thread":
        from delivery.inprocess import worker

        worker.submit(message_id)
        return True
    try:
        task_publish_once(deliver_message, args=(message_id,))
    except Exception as exc:
        logger.warning(
            "Broker unavailable (%s); message %s stays queued for the sweep.",
            type(exc).__name__,
            message_id,
        )
        return False
    return True


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt did. ``retry_in`` (seconds) is set when it should be retried."""

    outcome: str
    retry_in: float | None = None

    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"
    SKIPPED = "skipped"


def message_deliver(*, message_id: int) -> DeliveryResult:
    """Send one message to its provider, at most once however often this is called.

    The row is claimed (queued, or sending with its lease run out -> sending) by a single
    conditional UPDATE (``_claim``): of two workers or a redelivered task only one sees it
    match, and the other skips. No transaction or row lock is held, and the provider call
    that follows holds nothing, so a slow provider blocks no one. A row left in ``sending``
    by a killed worker is claimable again once its lease has run out.
    """
    now = timezone.now()
    message = _claim(message_id, now)
    if message is None:
        return _unclaimed(message_id, now)

    outgoing = Outgoing(
        message_id=message.pk,
        channel=message.channel,
        recipient=message.recipient,
        subject=message.subject,
        body=message.body,
        purpose=message.purpose,
    )
    try:
        provider_id = backend_for(message.channel).send(outgoing)
    except TransientDeliveryError as exc:
        return _after_transient_failure(message, error=_scrub(str(exc), message))
    except PermanentDeliveryError as exc:
        return _fail(message, reason="permanent", error=_scrub(str(exc), message))
    except Exception as exc:
        # Logged without a traceback: chained exceptions could quote the body unscrubbed.
        error = _scrub(f"{type(exc).__name__}: {exc}", message)
        logger.error("Delivery backend crashed on message %s: %s", message.pk, error)
        return _after_transient_failure(message, error=error)

    sent_at = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENT,
        provider_id=provider_id[:200],
        sent_at=sent_at,
        body=message.masked_body,
        last_error="",
        updated_at=sent_at,
    )
    logger.info(
        "Sent %s message %s (%s) to %s.",
        message.channel,
        message.pk,
        message.purpose,
        message.masked_recipient,
    )
    return DeliveryResult(DeliveryResult.SENT)


def _claim(message_id: int, now: datetime) -> Message | None:
    """Claim the message for sending, if it may be sent now, and return it as claimed.

    One statement, UPDATE ... RETURNING, which the ORM cannot write: the conditions of
    ``_claimable``, unexpired and with an attempt left, and the claim itself, in one round
    trip. It is the whole cost of a delivery before the provider call, and the ORM's read then
    compare-and-swap UPDATE cost three times as much (bench/RESULTS.md, figure 4). PostgreSQL
    and SQLite (3.35 and later) both run it.
    """
    ops = connection.ops
    table = ops.quote_name(Message._meta.db_table)
    columns = ", ".join(ops.quote_name(field.column) for field in Message._meta.concrete_fields)
    stamp = ops.adapt_datetimefield_value(now)
    lease_ran_out = ops.adapt_datetimefield_value(now - app_settings.LEASE)
    # Only the model's own table and column names are interpolated; every value is a parameter.
    sql = (
        f"UPDATE {table} SET status = %s, claimed_at = %s, attempts = attempts + 1, "  # noqa: S608
        "updated_at = %s "
        "WHERE id = %s AND attempts < %s AND (expires_at IS NULL OR expires_at > %s) "
        "AND (status = %s OR (status = %s AND (claimed_at IS NULL OR claimed_at <= %s))) "
        f"RETURNING {columns}"
    )
    params = [
        Message.Status.SENDING, stamp, stamp,
        message_id, app_settings.MAX_ATTEMPTS, stamp,
        Message.Status.QUEUED, Message.Status.SENDING, lease_ran_out,
    ]  # fmt: skip
    return next(iter(Message.objects.raw(sql, params)), None)


def _unclaimed(message_id: int, now: datetime) -> DeliveryResult:
    """Why a message could not be claimed: gone, not claimable (sent, being sent, cancelled),
    or claimable but expired or out of attempts, which fails it (once, see ``_fail``)."""
    message = Message.objects.filter(pk=message_id).first()
    if message is None or not _claimable(message, now):
        return DeliveryResult(DeliveryResult.SKIPPED)
    if message.is_expired(now):
        return _fail(message, reason="expired", error="Expired before it could be sent.")
    if message.attempts >= app_settings.MAX_ATTEMPTS:
        error = message.last_error or "No attempt left."
        return _fail(message, reason="attempts_exhausted", error=error)
    return DeliveryResult(DeliveryResult.SKIPPED)  # claimed by another worker meanwhile


def _claimable(message: Message, now: datetime) -> bool:
    if message.status == Message.Status.QUEUED:
        return True
    if message.status == Message.Status.SENDING:
        return message.claimed_at is None or message.claimed_at <= now - app_settings.LEASE
    return False


def _after_transient_failure(message: Message, *, error: str) -> DeliveryResult:
    if message.attempts >= app_settings.MAX_ATTEMPTS:
        return _fail(message, reason="attempts_exhausted", error=error)
    delay = backoff_delay(message.attempts)
    now = timezone.now()
    requeued = Message.objects.filter(
        pk=message.pk, status=Message.Status.SENDING, attempts=message.attempts
    ).update(
        status=Message.Status.QUEUED,
        last_error=error[:500],
        next_attempt_at=now + timedelta(seconds=delay),
        updated_at=now,
    )
    if not requeued:
        return DeliveryResult(DeliveryResult.SKIPPED)
    logger.warning(
        "Message %s (%s) failed attempt %s, retrying in %.0f s: %s",
        message.pk,
        message.purpose,
        message.attempts,
        delay,
        error,
    )
    return DeliveryResult(DeliveryResult.RETRY, retry_in=delay)


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter, so a provider outage is not met by a synchronised
    wave of retries when it ends."""
    ceiling = min(app_settings.BACKOFF_CAP, app_settings.BACKOFF_BASE * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _fail(message: Message, *, reason: str, error: str) -> DeliveryResult:
    """Give a message up for good, mask its secrets and tell the audit trail.

    The row is failed only from the status and attempt count it was read with (queued or a
    stale sending before a claim, this worker's sending after one), so a message that two
    workers find expired is failed and audited once, and one that the service desk
    cancelled meanwhile stays cancelled: that call reports SKIPPED. The audit detail names
    the channel, purpose and a masked recipient, never the body.
    """
    now = timezone.now()
    with transaction.atomic():
        failed = Message.objects.filter(
            pk=message.pk, status=message.status, attempts=message.attempts
        ).update(
            status=Message.Status.FAILED,
            last_error=error[:500],
            body=message.masked_body,
            updated_at=now,
        )
        if not failed:
            return DeliveryResult(DeliveryResult.SKIPPED)
        audit_record(
            event="delivery.failed",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=message.user,
            message_id=message.pk,
            channel=message.channel,
            purpose=message.purpose,
            recipient=message.masked_recipient,
            reason=reason,
        )
    logger.warning(
        "Gave up on %s message %s (%s) to %s: %s",
        message.channel,
        message.pk,
        message.purpose,
        message.masked_recipient,
        error,
    )
    return DeliveryResult(DeliveryResult.FAILED)


def _scrub(text: str, message: Message) -> str:
    """Provider errors are stored and logged; make sure none of them echoes a secret."""
    for start, end in message.secret_spans:
        secret = message.body[start:end]
        if secret:
            text = text.replace(secret, MASK * len(secret))
    return text


def message_sweep() -> int:
    """Dispatch again what was lost: queued messages left waiting past the sweep age (the
    broker was down at enqueue time, a retry was dropped, the process ended first) and messages
    whose sending worker died (lease expired). Returns how many were re-enqueued.

    Each row is revived with a conditional UPDATE, so two overlapping sweeps do not both
    enqueue it; a duplicate task would be harmless anyway, since delivery claims the row.
    """
    now = timezone.now()
    waiting = Q(status=Message.Status.QUEUED, next_attempt_at__lte=now - app_settings.SWEEP_AGE)
    abandoned = Q(status=Message.Status.SENDING, claimed_at__lte=now - app_settings.LEASE)
    stale = waiting | abandoned
    ids = list(
        Message.objects.filter(stale)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[: app_settings.SWEEP_BATCH]
    )
    dispatched = 0
    for message_id in ids:
        revived = Message.objects.filter(stale, pk=message_id).update(
            status=Message.Status.QUEUED, next_attempt_at=now, updated_at=now
        )
        if revived and message_dispatch(message_id=message_id):
            dispatched += 1
    if ids:
        logger.info("Sweep re-enqueued %s of %s waiting messages.", dispatched, len(ids))
    return dispatched


# The service desk ------------------------------------------------------------------------------


class MessageRefused(Exception):
    """The desk cannot resend or cancel this message; the text says why, in the desk's words."""


def _desk_audit(*, event: str, message: Message, agent, request, **detail: Any) -> None:
    audit_record(
        event=event,
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=message.user,
        actor=agent,
        request=request,
        message_id=message.pk,
        channel=message.channel,
        purpose=message.purpose,
        recipient=message.masked_recipient,
        **detail,
    )


@transaction.atomic
def message_resend(*, message_id: int, agent, reason: str, request=None) -> Message:
    """Queue a failed or cancelled message again, for the service desk; it is sent once.

    The row goes back to ``queued`` with a fresh count of attempts through one conditional
    UPDATE on the status it had, so two agents (or a double click) requeue it once and the
    second is refused. A message that has expired is not sent: its code or link would no
    longer work. Nor is one that carried a secret: the secret was masked in the body when the
    message failed or was cancelled (the body keeps no secret once given up), so sending it
    again would send the mask; the person asks for a new code instead.
    """
    from django.utils.formats import date_format

    now = timezone.now()
    message = Message.objects.select_for_update().filter(pk=message_id).first()
    if message is None:
        raise MessageRefused("That message does not exist.")
    if message.status not in (Message.Status.FAILED, Message.Status.CANCELLED):
        raise MessageRefused(
            f"Only a failed or cancelled message can be sent again; this one is "
            f"{message.get_status_display().lower()}."
        )
    if message.is_expired(now):
        when = date_format(timezone.localtime(message.expires_at), "DATETIME_FORMAT")
        raise MessageRefused(
            f"It expired at {when}: what it carried no longer works. The person can ask for a "
            "new one."
        )
    if message.secret_spans:
        raise MessageRefused(
            "Its code or link was removed when it was given up, so it cannot be sent again. "
            "The person can ask for a new one."
        )
    requeued = Message.objects.filter(pk=message.pk, status=message.status).update(
        status=Message.Status.QUEUED,
        attempts=0,
        next_attempt_at=now,
        claimed_at=None,
        updated_at=now,
    )
    if not requeued:
        raise MessageRefused("Someone else changed this message just now.")
    _desk_audit(
        event="delivery.resent",
        message=message,
        agent=agent,
        request=request,
        reason=reason,
        was=message.status,
    )
    transaction.on_commit(partial(message_dispatch, message_id=message.pk))
    message.refresh_from_db()
    return message


@transaction.atomic
def message_cancel(*, message_id: int, agent, reason: str, request=None) -> Message:
    """Stop a queued message from being sent, for the service desk.

    One conditional UPDATE from ``queued``: a worker that claimed the row first (it is
    ``sending``) wins and the cancel is refused; a cancel that came first leaves a row that
    ``message_deliver`` and ``message_sweep`` never claim. Its secrets are masked at once, as
    for a message given up.
    """
    now = timezone.now()
    message = Message.objects.select_for_update().filter(pk=message_id).first()
    if message is None:
        raise MessageRefused("That message does not exist.")
    if message.status == Message.Status.SENDING:
        raise MessageRefused("It is being handed to the provider now and cannot be stopped.")
    if message.status != Message.Status.QUEUED:
        raise MessageRefused(
            f"Only a queued message can be cancelled; this one is "
            f"{message.get_status_display().lower()}."
        )
    cancelled = Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(
        status=Message.Status.CANCELLED, body=message.masked_body, updated_at=now
    )
    if not cancelled:
        raise MessageRefused("It was handed to the provider just now and cannot be stopped.")
    _desk_audit(
        event="delivery.cancelled", message=message, agent=agent, request=request, reason=reason
    )
    message.refresh_from_db()
    return message
