"""The guest's side: register at /register/ with the last name and the guest key.

``guest_key_check`` answers the details step: the key is looked up by its keyed hash and the
last name compared with the request's, in constant time. Every refusal (a wrong, used,
replaced, expired or revoked key, or a last name that does not match) is one answer, and each
counts as a failed match from the IP in the registration throttle the directory path uses
(``accounts.services.registration.ip_is_throttled``), so a guest key brings no separate budget
of guesses. Nothing is consumed there: a guest who stops before choosing a password keeps a
working key.

``guest_key_redeem`` creates the account and consumes the key in one transaction, the key by
a conditional UPDATE: of two people redeeming the same key at once, the database lets exactly
one through and the other is refused. A username already taken rolls the whole transaction
back, so the key still works for the next try.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import RegistrationAttempt, User
from accounts.normalize import name_key
from accounts.services.notices import notice_send
from accounts.services.passwords import password_set
from accounts.services.registration import (
    RegistrationThrottled,
    UsernameTaken,
    account_created_by_same_request,
    ip_is_throttled,
)
from audit.models import AuditEvent
from audit.services import audit_record
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
    """
    ip = client_ip(request)
    if ip_is_throttled(ip):
        audit_record(
            event="registration.throttled", outcome=AuditEvent.Outcome.FAILURE, request=request
        )
        raise RegistrationThrottled
    now = timezone.now()
    symbols = normalize_key(key)
    digest = hash_key(symbols or "")
    record = _usable(now).filter(key_hash=digest).select_related("sponsorship").first()
    matched = (
        record is not None
        and symbols is not None
        and now < record.sponsorship.access_ends_at
        and constant_time_compare(name_key(last_name), record.sponsorship.last_name_key)
    )
    RegistrationAttempt.objects.create(ip=ip, matched=matched)
    if not matched:
        audit_record(event="guest.key_refused", outcome=AuditEvent.Outcome.FAILURE, request=request)
        raise GuestKeyRefused
    audit_record(
        event="guest.key_accepted",
        subject=record.sponsorship.sponsor,
        request=request,
        sponsorship=record.sponsorship_id,
    )
    return record.pk


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
    # The conditional UPDATE names the key's own columns only: a condition through a join
    # would be evaluated on a snapshot taken before a concurrent redemption committed. The
    # sponsorship's state is checked under its row lock just after.
    if not single_use_consume(GuestKey.objects.filter(ended_at__isnull=True), pk=key.pk, now=now):
        raise GuestKeyRefused
    sponsorship = (
        Sponsorship.objects.select_for_update(of=("self",))
        .select_related("sponsor")
        .get(pk=key.sponsorship_id)
    )
    if sponsorship.status != Sponsorship.Status.KEY_ISSUED or now >= sponsorship.access_ends_at:
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
