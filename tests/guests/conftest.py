"""Fixtures of the guest tests: an eligible sponsor, guest keys issued through the service, the
registration pages as a guest fills them, and a clock frozen on a known day in the portal's
time zone (America/New_York)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from guests.models import Sponsorship
from guests.services.sponsorship import GuestDetails, guest_request_create
from tests.factories import ChannelFactory, UserFactory

NEW_YORK = ZoneInfo("America/New_York")
# A Monday morning in New York (EST, UTC-5), far from a daylight-saving change.
NOW = datetime(2026, 1, 12, 9, 30, tzinfo=NEW_YORK)

REGISTER = reverse("accounts:register")
REGISTER_ACCOUNT = reverse("accounts:register_account")
GUEST_PASSWORD = "quiet lantern over the river"
GUEST_FIRST = "Ada"
GUEST_LAST = "Núñez-García"
GUEST_EMAIL = "ada.nunez@partner.example"


def guest_details(**overrides) -> GuestDetails:
    """What a sponsor types in the Invited User Request Form, access starting today."""
    today = timezone.localdate()
    fields = {
        "first_name": GUEST_FIRST,
        "last_name": GUEST_LAST,
        "email": GUEST_EMAIL,
        "organisation": "Partner Imaging Lab",
        "purpose": "Analysis of the shared microscopy data set.",
        "start_date": today,
        "end_date": today + timedelta(days=30),
    }
    fields.update(overrides)
    return GuestDetails(**fields)


@pytest.fixture
def clock(time_machine):
    """The clock frozen at ``NOW``; move it with ``clock.move_to(...)`` or ``clock.shift(...)``."""
    time_machine.move_to(NOW, tick=False)
    return time_machine


def make_sponsor(**person):
    """A signed-in-able account of a directory person (full-time staff unless told), with a
    verified SafeCode phone so that signing in lands on the portal and not the SafeCode
    prompt."""
    from tests.factories import PersonFactory

    user = UserFactory(person=PersonFactory(**person))
    ChannelFactory(user=user)
    return user


@pytest.fixture
def sponsor(db):
    """An eligible sponsor: full-time staff, active in the directory."""
    return make_sponsor()


@pytest.fixture
def issue(sponsor):
    """``issue(**details)`` -> ``(sponsorship, key)``: a request recorded by ``sponsor`` (or
    ``issue(sponsor=other, ...)``) through the service, with the key as it was shown once."""

    def issue(*, by=None, **overrides) -> tuple[Sponsorship, str]:
        issued = guest_request_create(
            sponsor=by or sponsor, details=guest_details(**overrides), attested=True
        )
        return issued.sponsorship, issued.key

    return issue


def register_details(client, *, last_name: str, key: str, **extra):
    """STEP 1 and 2 of /register/ as a guest fills them: the last name and the guest key."""
    data = {"last_name": last_name, "huid": "", "guest_key": key, "date_of_birth": "", "ssn": ""}
    data.update(extra)
    return client.post(REGISTER, data)


def register_account(client, username: str, password: str = GUEST_PASSWORD):
    """The "Create my account" page: a username and the password twice."""
    return client.post(
        REGISTER_ACCOUNT, {"username": username, "password1": password, "password2": password}
    )


def register_as_guest(client, *, key: str, username: str, last_name: str = GUEST_LAST):
    """The whole guest registration; returns the answer to "Create my account"."""
    details = register_details(client, last_name=last_name, key=key)
    assert details.status_code == 302 and details.url == REGISTER_ACCOUNT, "key refused"
    return register_account(client, username)


def shown_key(response) -> str:
    """The guest key on the page that shows it once."""
    match = re.search(rb'<code class="guest-key" id="guest-key">([^<]+)</code>', response.content)
    assert match, "no guest key on the page"
    return match.group(1).decode()


def day(d: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A moment of day ``d`` in New York."""
    return datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=NEW_YORK)


def guest_request(ip: str = "192.0.2.10"):
    """A request from the guest's browser, for the redemption services."""
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    request = RequestFactory().post(REGISTER, REMOTE_ADDR=ip)
    request.user = AnonymousUser()
    return request


def redeem(key: str, username: str, *, last_name: str = GUEST_LAST, ip: str = "192.0.2.10"):
    """Registration through the services: the key checked with the last name, then redeemed."""
    from guests.services.redemption import guest_key_check, guest_key_redeem

    request = guest_request(ip)
    key_id = guest_key_check(last_name=last_name, key=key, request=request)
    return guest_key_redeem(
        key_id=key_id, username=username, password=GUEST_PASSWORD, request=request
    )
