"""The guest's side: register at /register/ with the last name and the guest key.

``guest_key_check`` answers the details step: the key is looked up by its keyed hash and the
last name compared with the request's, in constant time. Every refusal (a wrong, used,
replaced, expired or revoked key, or a last name that does not match) is one answer, and each
counts as a failed match from the IP in the registration throttle the directory path uses
(``accounts.services.registration.registration_attempt_open``), so a guest key brings no
separate budget of guesses. Nothing is consumed there: a guest who stops before choosing a
password keeps a working key.

``guest_key_redeem`` creates the account and consumes the key in one transaction, the key by
a conditional UPDATE: of two people redeeming the same key at once, the database lets exactly
one through and the other is refused. A username already taken rolls the whole transaction
back, so the key still works for the next try.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import User
from accounts.normalize import name_key
from accounts.services.notices import notice_send
from accounts.services.passwords import password_set
from accounts.services.registration import (
    UsernameTaken,
    account_created_by_same_request,
    registration_attempt_matched,
    registration_attempt_open,
)
from audit.models import AuditEvent
from audit.services import audit_record
from guests.app_settings import app_settings
from guests.keys import hash_key, normalize_key
from guests.models import GuestKey, Sponsorship
from portal.http import client_ip
from portal.single_use import single_use_consume

REFUSED = (
    "That guest key and last name do not match a guest key that can be used. Check both, "
    "or ask your sponsor for a new key."
)


class GuestKeyRefused(Exception):
    """The key cannot be redeemed (any reason: the message is the same for all)."""

    message = REFUSED


def _usable(now):
    return GuestKey.objects.filter(
        used_at__isnull=True,
        ended_at__isnull=True,
        expires_at__gt=now,
        sponsorship__status=Sponsorship.Status.KEY_ISSUED,
    )


def guest_key_check(*, last_name: str, key: str, request: HttpRequest) -> int:
    """The id of the usable key that ``key`` and ``last_name`` name together.

    Raises ``RegistrationThrottled`` past the per-IP limits and ``GuestKeyRefused`` otherwise.
    A key typed with a wrong last name counts against the key itself as well: after
    ``GUESTS_KEY_NAME_ATTEMPTS`` of those it stops working and the sponsor is told, so a key
    that leaked (a forwarded email, a photographed printout) cannot be paired with last names
    from many addresses without bound.
    """
    attempt = registration_attempt_open(ip=client_ip(request), request=request)
    now = timezone.now()
    symbols = normalize_key(key)
    record = None
    if symbols is not None:
        live = _usable(now).filter(key_hash=hash_key(symbols))
        record = live.select_related("sponsorship__sponsor").first()
    if record is not None and now >= record.sponsorship.access_ends_at:
        record = None
    if record is None or not constant_time_compare(
        name_key(last_name), record.sponsorship.last_name_key
    ):
        # The same statements whether or not the key was real, so that the work done does not
        # tell a real key from a guess (as ``burn_hash`` does for passwords).
        _count_wrong_name(record, request=request)
        raise GuestKeyRefused
    registration_attempt_matched(attempt)
    audit_record(
        event="guest.key_accepted",
        subject=record.sponsorship.sponsor,
        request=request,
        sponsorship=record.sponsorship_id,
    )
    return record.pk


def _count_wrong_name(record: GuestKey | None, *, request: HttpRequest) -> None:
    """One more wrong last name for a real key (``record``; None for no key, which updates
    nothing); the one that reaches the limit ends the key.

    Two single UPDATEs, as for wrong passwords: concurrent failures all count, and exactly
    one of them ends the key and tells the sponsor.
    """
    limit = app_settings.KEY_NAME_ATTEMPTS
    pk = record.pk if record is not None else None
    GuestKey.objects.filter(pk=pk).update(failed_attempts=F("failed_attempts") + 1)
    ended = GuestKey.objects.filter(
        pk=pk, ended_at__isnull=True, used_at__isnull=True, failed_attempts__gte=limit
    ).update(ended_at=timezone.now())
    audit_record(
        event="guest.key_refused",
        outcome=AuditEvent.Outcome.FAILURE,
        request=request,
        **({"sponsorship": record.sponsorship_id, "reason": "last_name"} if record else {}),
    )
    if ended:
        notice_send(
            user=record.sponsorship.sponsor,
            name="guests/key_stopped",
            context={"guest": record.sponsorship, "attempts": limit},
        )


def guest_key_redeem(*, key_id: int, username: str, password: str, request: HttpRequest) -> User:
    """Create the guest's account from the checked key, consuming the key.

    Raises ``GuestKeyRefused`` when the key is no longer usable (used by someone else a moment
    ago, replaced, revoked, expired) and ``UsernameTaken``. The same form sent twice at once
    gets the account the first press created (``account_created_by_same_request``).
    """
    now = timezone.now()
    key = GuestKey.objects.filter(pk=key_id).first()
    if key is None:
        raise GuestKeyRefused
    try:
        return _redeem(key=key, username=username, password=password, request=request, now=now)
    except GuestKeyRefused:
        account = User.objects.filter(sponsorship__pk=key.sponsorship_id).first()
        if account is not None and account_created_by_same_request(
            account, username=username, password=password
        ):
            return account
        audit_record(
            event="guest.redeem_refused",
            outcome=AuditEvent.Outcome.FAILURE,
            request=request,
            sponsorship=key.sponsorship_id,
        )
        raise


@transaction.atomic
def _redeem(*, key: GuestKey, username: str, password: str, request: HttpRequest, now) -> User:
    # Locks in the order every writer of a sponsorship takes them (revocation, the end job, a
    # new key): the sponsorship's row, then its keys. The other order deadlocks against them.
    sponsorship = (
        Sponsorship.objects.select_for_update(of=("self",))
        .select_related("sponsor")
        .get(pk=key.sponsorship_id)
    )
    if sponsorship.status != Sponsorship.Status.KEY_ISSUED or now >= sponsorship.access_ends_at:
        raise GuestKeyRefused
    # The conditional UPDATE names the key's own columns only: a condition through a join
    # would be evaluated on a snapshot taken before a concurrent redemption committed.
    if not single_use_consume(GuestKey.objects.filter(ended_at__isnull=True), pk=key.pk, now=now):
        raise GuestKeyRefused
    try:
        with transaction.atomic():
            user = User.objects.create(
                username=username,
                first_name=sponsorship.first_name,
                last_name=sponsorship.last_name,
                kind=User.Kind.GUEST,
                access_starts_at=sponsorship.access_starts_at,
                access_ends_at=sponsorship.access_ends_at,
            )
    except IntegrityError as exc:
        raise UsernameTaken("That username is taken.") from exc
    password_set(user=user, raw_password=password)
    sponsorship.status = Sponsorship.Status.REGISTERED
    sponsorship.account = user
    sponsorship.registered_at = now
    sponsorship.save(update_fields=["status", "account", "registered_at", "updated_at"])
    audit_record(
        event="registration.completed",
        outcome=AuditEvent.Outcome.SUCCESS,
        subject=user,
        request=request,
        sponsorship=sponsorship.pk,
        sponsor=sponsorship.sponsor.username,
    )
    notice_send(
        user=sponsorship.sponsor,
        name="guests/registered",
        context={"guest": sponsorship, "account": user},
    )
    return user
