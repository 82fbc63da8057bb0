"""Reads of guest sponsorship: who may sponsor, and a sponsor's guests."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import User
from guests.app_settings import app_settings
from guests.models import GuestKey, Sponsorship


def sponsor_eligible(user: User) -> bool:
    """Whether ``user`` may sponsor guests: a personal account whose directory record is
    active, of a sponsoring affiliation (faculty or staff) and, by default, full time."""
    if not user.is_authenticated or user.kind != User.Kind.PERSONAL or not user.person_id:
        return False
    person = user.person
    if not person.is_active or person.affiliation not in app_settings.SPONSOR_AFFILIATIONS:
        return False
    return person.full_time or not app_settings.SPONSOR_FULL_TIME_ONLY


def sponsor_guests(sponsor: User) -> QuerySet[Sponsorship]:
    """The sponsor's guests, newest first, each with ``has_live_key`` for its status."""
    live = GuestKey.objects.filter(
        sponsorship=OuterRef("pk"),
        used_at__isnull=True,
        ended_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    return (
        Sponsorship.objects.filter(sponsor=sponsor)
        .annotate(has_live_key=Exists(live))
        .select_related("account")
    )


def sponsorship_of(sponsor: User, pk: int) -> Sponsorship | None:
    """One of the sponsor's own guests; None for anyone else's, so no one learns it exists."""
    return sponsor_guests(sponsor).filter(pk=pk).first()


def guest_for_key(key_id: int | None) -> Sponsorship | None:
    """The guest a checked key (from the registration flow) is for, while the key works, or
    for a moment after it was used, so that "Create my account" pressed twice finds the
    account the first press made (``guests.services.redemption.guest_key_redeem``)."""
    from accounts.services.registration import REPEAT_WINDOW

    if key_id is None:
        return None
    now = timezone.now()
    key = (
        GuestKey.objects.filter(pk=key_id, ended_at__isnull=True)
        .select_related("sponsorship")
        .first()
    )
    if key is None:
        return None
    if key.used_at is None:
        usable = (
            key.expires_at > now
            and key.sponsorship.status == Sponsorship.Status.KEY_ISSUED
            and now < key.sponsorship.access_ends_at
        )
    else:
        usable = key.used_at > now - REPEAT_WINDOW
    return key.sponsorship if usable else None
