"""Notices: what a person is told about security events on their account, and where.

Every notice goes through ``notice_send``, from accounts and SafeCode alike, so that each one is
worded in templates (``templates/<app>/email/<notice>_{subject,body}.txt`` for emails,
``templates/<app>/sms/<notice>.txt`` for text messages), goes to the account's notice address
(``User.notice_email``) and, where a change could be an attacker's, also to the SafeCode
contacts an attacker may not hold, each address once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import User
from accounts.services.not_me import not_me_url
from audit.models import AuditEvent
from delivery.services import email_enqueue, sms_enqueue

# The kinds of a destination, spelled as SafeCode spells its channels (``Channel.Kind``).
EMAIL = "email"
PHONE = "phone"


@dataclass(frozen=True)
class Reach:
    """Where a notice goes, in this order, each address once (compared without case).

    ``first`` are ``(kind, address)`` pairs told before anyone else (the contact a change
    replaced, a given mailbox); ``account`` adds the account's notice address; ``safecode``
    adds the account's verified SafeCode channels of those kinds, except ``skip_channel``
    (the channel the notice is about, which already knows).
    """

    first: tuple[tuple[str, str], ...] = ()
    account: bool = True
    safecode: frozenset[str] = frozenset()
    skip_channel: int | None = None

    ACCOUNT: ClassVar[Reach]
    ACCOUNT_AND_SAFECODE_EMAILS: ClassVar[Reach]
    ACCOUNT_AND_SAFECODE: ClassVar[Reach]

    @classmethod
    def address(cls, email: str) -> Reach:
        """Only the mailbox ``email``, for a notice about the account sent elsewhere."""
        return cls(first=((EMAIL, email),), account=False)

    def destinations(self, user: User) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []

        def add(kind: str, address: str) -> None:
            if address and not any(address.lower() == known.lower() for _, known in found):
                found.append((kind, address))

        for kind, address in self.first:
            add(kind, address)
        if self.account:
            add(EMAIL, user.notice_email)
        if self.safecode:
            from safecode.selectors import channel_list_verified

            channels = channel_list_verified(user).filter(kind__in=self.safecode)
            if self.skip_channel is not None:
                channels = channels.exclude(pk=self.skip_channel)
            for channel in channels:
                add(channel.kind, channel.address)
        return found


Reach.ACCOUNT = Reach()
# Every mailbox: the institutional one may be out of reach while the account is locked.
Reach.ACCOUNT_AND_SAFECODE_EMAILS = Reach(safecode=frozenset({EMAIL}))
Reach.ACCOUNT_AND_SAFECODE = Reach(safecode=frozenset({EMAIL, PHONE}))


def notice_send(
    *,
    user: User,
    name: str,
    context: dict[str, Any] | None = None,
    reach: Reach = Reach.ACCOUNT,
    purpose: str = "",
    report_change: str = "",
) -> int:
    """Tell ``user`` about ``name`` wherever ``reach`` says; returns how many were enqueued.

    ``name`` is ``<app>/<notice>``: emails are rendered from that app's ``email/<notice>``
    templates and text messages from ``sms/<notice>.txt`` (a reach with phones needs one).
    The context always holds ``user`` and ``when`` (now, in the portal's time zone);
    ``report_change`` adds ``report_url``, the "This was not me" link for that change, the
    same for every recipient. ``purpose`` (the notice's name by default) labels the messages.

    The messages are written in the caller's transaction and leave once it commits, so a
    change that is rolled back tells no one.
    """
    app, _, notice = name.partition("/")
    context = {
        "user": user,
        "when": date_format(timezone.localtime(), "DATETIME_FORMAT"),
        **(context or {}),
    }
    if report_change:
        context["report_url"] = not_me_url(user=user, change=report_change)
    purpose = purpose or notice
    destinations = reach.destinations(user)
    for kind, address in destinations:
        enqueue = sms_enqueue if kind == PHONE else email_enqueue
        folder = "sms" if kind == PHONE else "email"
        enqueue(
            recipient=address,
            template=f"{app}/{folder}/{notice}",
            context=context,
            purpose=purpose,
            user=user,
        )
    return len(destinations)


def notify_old_password_used(*, user: User) -> None:
    """Tell the person a device still uses an old password, at most once an hour."""
    since = timezone.now() - timedelta(hours=1)
    already = AuditEvent.objects.filter(
        subject=user, event="notice.old_password", created_at__gte=since
    ).exists()
    if already:
        return
    AuditEvent.objects.create(event="notice.old_password", subject=user)
    notice_send(user=user, name="accounts/old_password_used")
