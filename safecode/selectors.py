"""Reads of SafeCode state: registered channels, lockouts and send throttles."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from safecode.app_settings import app_settings
from safecode.errors import SafeCodeThrottled
from safecode.models import Channel, SafeCode, WrongEntry


def channel_list_verified(user) -> QuerySet[Channel]:
    """The account's verified channels (at most one phone and one email), phone first."""
    return Channel.objects.filter(user=user, status=Channel.Status.VERIFIED).order_by("-kind")


def channel_list_pending(user) -> QuerySet[Channel]:
    """Channels waiting for their code, oldest first (the order in which they are confirmed)."""
    return Channel.objects.filter(user=user, status=Channel.Status.PENDING).order_by(
        "created_at", "id"
    )


def user_has_verified_channel(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return channel_list_verified(user).exists()


def safecode_locked_until(*, user, purpose: str, now: datetime | None = None) -> datetime | None:
    """When the lockout for ``purpose`` ends, or None when there is none.

    Lockout: ``LOCKOUT_FAILURES`` wrong entries within ``LOCKOUT_WINDOW``, counted from the
    newest one. It lasts ``LOCKOUT_DURATION`` from the entry that completed the count; entries
    are not recorded while locked, so that entry is always the newest.
    """
    now = now or timezone.now()
    limit = app_settings.LOCKOUT_FAILURES
    recent = list(
        WrongEntry.objects.filter(
            user=user,
            purpose=purpose,
            created_at__gt=now - app_settings.LOCKOUT_DURATION - app_settings.LOCKOUT_WINDOW,
        )
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return None
    newest, oldest = recent[0], recent[-1]
    if newest - oldest >= app_settings.LOCKOUT_WINDOW:
        return None
    until = newest + app_settings.LOCKOUT_DURATION
    return until if until > now else None


def safecode_open_code(*, user, purpose: str) -> SafeCode | None:
    """The one code of ``purpose`` that is neither used nor invalidated (it may have expired)."""
    return (
        SafeCode.objects.filter(
            user=user, purpose=purpose, used_at__isnull=True, invalidated_at__isnull=True
        )
        .select_related("channel")
        .order_by("-created_at", "-id")
        .first()
    )


def safecode_send_throttle(
    *, user, purpose: str, channel: Channel, now: datetime | None = None
) -> SafeCodeThrottled | None:
    """Why no code for ``purpose`` can go to ``channel`` now, or None when one can.

    Returns (not raises) the error so that pages can say when the next code can be sent.
    The latest of the blocking limits wins, so that waiting until ``retry_after`` suffices.
    """
    now = now or timezone.now()
    blocks: list[SafeCodeThrottled] = []

    last = (
        SafeCode.objects.filter(user=user, purpose=purpose, channel=channel)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None and now < last + app_settings.RESEND_INTERVAL:
        blocks.append(SafeCodeThrottled(last + app_settings.RESEND_INTERVAL, "resend"))

    blocks += _window_block(
        # Codes, not copies: one code sent to every contact counts once here.
        SafeCode.objects.filter(user=user, purpose=purpose).exclude(code_hash=""),
        limit=app_settings.CODES_PER_PURPOSE_PER_HOUR,
        window=_HOUR,
        now=now,
        reason="purpose_hourly",
    )
    blocks += _window_block(
        SafeCode.objects.filter(user=user, channel=channel),
        limit=app_settings.CODES_PER_CHANNEL_PER_HOUR,
        window=_HOUR,
        now=now,
        reason="channel_hourly",
    )
    if channel.kind == Channel.Kind.PHONE:
        texts = SafeCode.objects.filter(channel_kind=Channel.Kind.PHONE)
        blocks += _window_block(
            texts.filter(destination=channel.address),
            limit=app_settings.SMS_PER_NUMBER_PER_DAY,
            window=_DAY,
            now=now,
            reason="number_daily",
        )
        if channel.region and channel.region != app_settings.PHONE_REGION:
            blocks += _window_block(
                texts.filter(destination_region=channel.region),
                limit=app_settings.SMS_PER_FOREIGN_COUNTRY_PER_DAY,
                window=_DAY,
                now=now,
                reason="country_daily",
            )
    return max(blocks, key=lambda b: b.retry_after) if blocks else None


_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def _window_block(qs, *, limit: int, window, now: datetime, reason: str) -> list[SafeCodeThrottled]:
    """A block when ``limit`` codes of ``qs`` were created within ``window`` before ``now``.

    The block lasts until the oldest of the newest ``limit`` codes leaves the window.
    """
    recent = list(
        qs.filter(created_at__gt=now - window)
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return []
    return [SafeCodeThrottled(recent[-1] + window, reason)]


def safecode_pauses(user, *, now: datetime | None = None) -> list[tuple[str, datetime, str]]:
    """What stops codes for ``user`` now, for the service desk: ``(purpose label, until,
    why)`` for each purpose locked by wrong codes or held by a send limit on a verified
    channel. Empty when every code can go out."""
    from safecode.models import Purpose

    now = now or timezone.now()
    channels = list(channel_list_verified(user))
    pauses: list[tuple[str, datetime, str]] = []
    for purpose in Purpose:
        locked = safecode_locked_until(user=user, purpose=purpose, now=now)
        if locked is not None:
            pauses.append((purpose.label, locked, "too many wrong codes"))
            continue
        held = [
            throttle
            for channel in channels
            if (throttle := safecode_send_throttle(user=user, purpose=purpose, channel=channel))
            and throttle.reason != "resend"
        ]
        if channels and len(held) == len(channels):
            first = min(held, key=lambda t: t.retry_after)
            pauses.append((purpose.label, first.retry_after, first.message))
    return pauses
