"""The sponsor's pages at /guests/, through the client as a sponsor uses them."""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Affiliation, User
from guests.keys import hash_key, normalize_key
from guests.models import GuestKey, Sponsorship
from guests.services.redemption import GuestKeyRefused, guest_key_check
from guests.services.sponsorship import guest_revoke
from tests.factories import ChannelFactory, UserFactory
from tests.guests.conftest import (
    GUEST_LAST,
    NOW,
    guest_request,
    make_sponsor,
    redeem,
    shown_key,
)
from tests.guests.test_keys import KEY_SHAPE
from tests.guests.test_sponsorship import NOT_ELIGIBLE

pytestmark = pytest.mark.django_db

HOME = reverse("guests:home")
REQUEST = reverse("guests:request")
NOT_ELIGIBLE_PAGE = b"<h1>Who can sponsor guests</h1>"
REQUIRED = b"This field is required."


def signed_in_as(client, user):
    client.force_login(user)
    return client


def fresh_form(client, **overrides) -> dict[str, str]:
    """The request form as a sponsor fills it in, with the page's own submission token."""
    page = client.get(REQUEST)
    assert page.status_code == HTTPStatus.OK
    token = re.search(rb'name="submission" value="([^"]+)"', page.content).group(1).decode()
    today = timezone.localdate()
    data = {
        "first_name": "Ada",
        "last_name": "Núñez-García",
        "email": "ada.nunez@partner.example",
        "organisation": "Partner Imaging Lab",
        "purpose": "Analysis of the shared microscopy data set.",
        "start_date": today.isoformat(),
        "end_date": (today + timedelta(days=30)).isoformat(),
        "attest": "on",
        "submission": token,
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def row(page, sponsorship) -> str:
    """The My guests table row of one guest, as text."""
    html = page.content.decode()
    start = html.index(f'id="guest-{sponsorship.pk}"')
    return html[start : html.index("</tr>", start)]


# Who sees the pages ---------------------------------------------------------------------------


def test_an_eligible_sponsor_sees_my_guests_and_the_form(client, sponsor):
    signed_in_as(client, sponsor)
    home = client.get(HOME)
    assert home.status_code == HTTPStatus.OK
    assert b"<h1>My guests</h1>" in home.content
    assert b"You sponsor no guests yet." in home.content
    assert f'href="{REQUEST}"'.encode() in home.content
    form = client.get(REQUEST)
    assert form.status_code == HTTPStatus.OK
    assert b"<h1>Invited User Request Form</h1>" in form.content
    for name in ("first_name", "last_name", "email", "organisation", "purpose", "attest"):
        assert f'name="{name}"'.encode() in form.content
    assert form.content.count(b'type="date"') == 2


# A person whose directory record is inactive cannot be signed in at all (below).
SIGNED_IN_NOT_ELIGIBLE = [p for p in NOT_ELIGIBLE if p.id != "inactive directory record"]


@pytest.mark.parametrize("person", SIGNED_IN_NOT_ELIGIBLE)
def test_others_get_who_can_sponsor_guests(client, person):
    signed_in_as(client, make_sponsor(**person))
    for response in (client.get(HOME), client.get(REQUEST), client.post(REQUEST, {})):
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert NOT_ELIGIBLE_PAGE in response.content


@pytest.mark.parametrize("kind", [User.Kind.DEPARTMENTAL, User.Kind.AFFILIATE], ids=str)
def test_accounts_outside_the_directory_get_who_can_sponsor_guests(client, kind):
    account = UserFactory(person=None, kind=kind)
    ChannelFactory(user=account)
    signed_in_as(client, account)
    assert client.get(HOME).status_code == HTTPStatus.FORBIDDEN
    assert NOT_ELIGIBLE_PAGE in client.get(REQUEST).content


def test_a_person_who_left_the_directory_is_not_let_in(client):
    signed_in_as(client, make_sponsor(affiliation=Affiliation.FACULTY, is_active=False))
    for response in (client.get(HOME), client.get(REQUEST)):
        assert response.status_code == HTTPStatus.FOUND
        assert response.url.startswith(reverse("accounts:login"))


def test_a_forbidden_post_records_nothing(client):
    part_time = make_sponsor(affiliation=Affiliation.STAFF, full_time=False)
    signed_in_as(client, part_time)
    sponsor = make_sponsor()
    data = fresh_form(signed_in_as(client, sponsor))
    signed_in_as(client, part_time)
    assert client.post(REQUEST, data).status_code == HTTPStatus.FORBIDDEN
    assert not Sponsorship.objects.exists()


def test_part_time_staff_get_the_form_when_full_time_is_not_required(client, settings):
    signed_in_as(client, make_sponsor(affiliation=Affiliation.STAFF, full_time=False))
    settings.GUESTS_SPONSOR_FULL_TIME_ONLY = False
    assert client.get(HOME).status_code == HTTPStatus.OK
    response = client.post(REQUEST, fresh_form(client))
    assert response.status_code == HTTPStatus.OK
    assert KEY_SHAPE.match(shown_key(response))


def test_a_former_sponsor_still_sees_and_may_revoke_their_guests(client, sponsor, issue):
    sponsorship, _ = issue()
    User.objects.filter(pk=sponsor.pk).update(kind=User.Kind.DEPARTMENTAL)
    signed_in_as(client, sponsor)
    home = client.get(HOME)
    assert home.status_code == HTTPStatus.OK
    assert b"You can no longer sponsor new guests" in home.content
    assert reverse("guests:revoke", args=[sponsorship.pk]) in row(home, sponsorship)
    assert reverse("guests:extend", args=[sponsorship.pk]) not in row(home, sponsorship)
    assert client.get(REQUEST).status_code == HTTPStatus.FORBIDDEN
    extend = reverse("guests:extend", args=[sponsorship.pk])
    assert client.get(extend).status_code == HTTPStatus.FORBIDDEN
    client.post(reverse("guests:revoke", args=[sponsorship.pk]), {"reason": ""})
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.REVOKED


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for url in (HOME, REQUEST, reverse("guests:extend", args=[1])):
        response = client.get(url)
        assert response.status_code == HTTPStatus.FOUND
        assert response.url.startswith(reverse("accounts:login"))


# The request form -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["first_name", "last_name", "email", "organisation", "purpose", "start_date", "end_date"],
)
def test_each_detail_is_required(client, sponsor, field):
    signed_in_as(client, sponsor)
    response = client.post(REQUEST, fresh_form(client, **{field: ""}))
    assert response.status_code == HTTPStatus.OK
    assert REQUIRED in response.content
    assert b'id="guest-key"' not in response.content
    assert not Sponsorship.objects.exists()


def test_the_attestation_is_required(client, sponsor):
    signed_in_as(client, sponsor)
    response = client.post(REQUEST, fresh_form(client, attest=None))
    assert response.status_code == HTTPStatus.OK
    assert b"Tick the box to attest to this request." in response.content
    assert not Sponsorship.objects.exists()


def _days(n: int) -> str:
    return (timezone.localdate() + timedelta(days=n)).isoformat()


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-1, 10, b"The start date cannot be in the past."),
        (5, 4, b"The end date cannot be before the start date."),
        (0, 365, b"Guest access lasts at most 365 days from the start date."),
        (10, 375, b"Guest access lasts at most 365 days from the start date."),
        (91, 100, b"The start date can be at most 90 days from today."),
    ],
    ids=["start in the past", "end before start", "366 days", "366 days later", "start too far"],
)
def test_dates_the_rules_refuse(client, sponsor, clock, start, end, message):
    signed_in_as(client, sponsor)
    response = client.post(
        REQUEST, fresh_form(client, start_date=_days(start), end_date=_days(end))
    )
    assert response.status_code == HTTPStatus.OK
    assert message in response.content
    assert not Sponsorship.objects.exists()


@pytest.mark.parametrize(
    ("start", "end"), [(0, 0), (0, 364), (90, 90 + 364)], ids=["one day", "365 days", "90 ahead"]
)
def test_dates_at_the_limits_are_accepted(client, sponsor, clock, start, end):
    signed_in_as(client, sponsor)
    response = client.post(
        REQUEST, fresh_form(client, start_date=_days(start), end_date=_days(end))
    )
    assert response.status_code == HTTPStatus.OK
    assert KEY_SHAPE.match(shown_key(response))
    sponsorship = Sponsorship.objects.get()
    assert sponsorship.end_date - sponsorship.start_date == timedelta(days=end - start)


def test_the_longest_stay_follows_the_setting(client, sponsor, clock, settings):
    settings.GUESTS_MAX_DURATION_DAYS = 30
    signed_in_as(client, sponsor)
    refused = client.post(REQUEST, fresh_form(client, start_date=_days(0), end_date=_days(30)))
    assert b"Guest access lasts at most 30 days from the start date." in refused.content
    assert not Sponsorship.objects.exists()
    accepted = client.post(REQUEST, fresh_form(client, start_date=_days(0), end_date=_days(29)))
    assert KEY_SHAPE.match(shown_key(accepted))


def test_the_form_states_the_longest_stay_in_force(client, sponsor, settings):
    settings.GUESTS_MAX_DURATION_DAYS = 30
    signed_in_as(client, sponsor)
    page = client.get(REQUEST)
    assert b"At most 30 days from the start date, both included." in page.content


@pytest.mark.parametrize(
    "overrides",
    [
        {"start_date": "2026-02-30"},
        {"end_date": "next week"},
        {"start_date": "99999-01-01"},
        {"email": "not an email"},
        {"first_name": "x" * 101},
        {"purpose": "p" * 1001},
        {"submission": ""},
        {"submission": "t" * 65},
        {"attest": "maybe"},
        {"first_name": "\x00"},
    ],
    ids=lambda o: next(iter(o)),
)
def test_bad_input_changes_nothing(client, sponsor, overrides):
    signed_in_as(client, sponsor)
    data = fresh_form(client, **overrides)
    response = client.post(REQUEST, data)
    if overrides.get("attest") == "maybe":
        # Any value of a ticked box is a tick: that request is valid.
        assert response.status_code == HTTPStatus.OK
        return
    assert response.status_code == HTTPStatus.OK
    assert b'id="guest-key"' not in response.content
    assert not Sponsorship.objects.exists() and not GuestKey.objects.exists()


# The key, shown once ---------------------------------------------------------------------------


def test_the_key_is_shown_once_and_emailed_to_the_sponsor(
    client, sponsor, clock, outbox, django_capture_on_commit_callbacks
):
    signed_in_as(client, sponsor)
    data = fresh_form(client)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(REQUEST, data)
    assert response.status_code == HTTPStatus.OK
    assert "no-store" in response.headers["Cache-Control"]
    key = shown_key(response)
    assert KEY_SHAPE.match(key)
    assert GuestKey.objects.get().key_hash == hash_key(normalize_key(key))
    assert b"Copy the key" in response.content and b"Print" in response.content
    assert b"<strong>N\xc3\xba\xc3\xb1ez-Garc\xc3\xada</strong>" in response.content

    mails = [m for m in outbox if m.recipient == sponsor.notice_email]
    assert [m.subject for m in mails] == ["Guest key for Ada Núñez-García"]
    assert f"Guest key: {key}" in mails[0].body
    assert key not in mails[0].subject
    assert not [m for m in outbox if m.recipient == "ada.nunez@partner.example"]

    # The key is on no later page.
    assert key.encode() not in client.get(HOME).content

    # Reloading the page that showed it sends the same form again: nothing more is issued.
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(REQUEST, data)
    assert again.status_code == HTTPStatus.FOUND and again.url == HOME
    assert b"That form was already sent, so nothing more was issued." in client.get(HOME).content
    assert Sponsorship.objects.count() == 1 and GuestKey.objects.count() == 1
    assert len([m for m in outbox if m.recipient == sponsor.notice_email]) == 1
    assert guest_key_check(last_name=GUEST_LAST, key=key, request=guest_request())


def test_a_fresh_form_issues_another_key(client, sponsor):
    signed_in_as(client, sponsor)
    first = shown_key(client.post(REQUEST, fresh_form(client)))
    second = shown_key(client.post(REQUEST, fresh_form(client, first_name="Grace")))
    assert first != second
    assert Sponsorship.objects.count() == 2


# My guests ------------------------------------------------------------------------------------


def test_my_guests_shows_each_status_with_its_dates(client, sponsor, issue, clock):
    today = NOW.date()
    clock.move_to(NOW - timedelta(days=40), tick=False)
    earlier = today - timedelta(days=40)
    key_expired, _ = issue(
        first_name="Keyexpired", start_date=earlier, end_date=today + timedelta(days=30)
    )
    ended, ended_key = issue(
        first_name="Ended", start_date=earlier, end_date=today - timedelta(days=1)
    )
    redeem(ended_key, "ended.guest")
    clock.move_to(NOW, tick=False)
    issued, _ = issue(first_name="Issued")
    waiting, waiting_key = issue(
        first_name="Waiting", start_date=today + timedelta(5), end_date=today + timedelta(20)
    )
    redeem(waiting_key, "waiting.guest")
    active, active_key = issue(first_name="Active")
    redeem(active_key, "active.guest")
    revoked, _ = issue(first_name="Revoked")
    guest_revoke(sponsorship=revoked, actor=sponsor)

    signed_in_as(client, sponsor)
    page = client.get(HOME)
    assert page.status_code == HTTPStatus.OK
    expected = {
        issued: "Key issued",
        waiting: "Registered",
        active: "Active",
        key_expired: "Expired",
        ended: "Expired",
        revoked: "Revoked",
    }
    for sponsorship, label in expected.items():
        text = row(page, sponsorship)
        assert f"<td>{label}</td>" in text, (sponsorship.first_name, text)
    assert "Jan. 17, 2026 to Feb. 1, 2026" in row(page, waiting)
    assert "Jan. 12, 2026 to Feb. 11, 2026" in row(page, issued)
    assert "waiting.guest" in row(page, waiting)
    # What the sponsor may still do.
    assert reverse("guests:new_key", args=[issued.pk]) in row(page, issued)
    assert reverse("guests:new_key", args=[key_expired.pk]) in row(page, key_expired)
    assert reverse("guests:new_key", args=[active.pk]) not in row(page, active)
    assert reverse("guests:extend", args=[active.pk]) in row(page, active)
    assert reverse("guests:revoke", args=[active.pk]) in row(page, active)
    assert "href" not in row(page, revoked) and "href" not in row(page, ended)


def test_my_guests_lists_only_my_own(client, sponsor, issue):
    mine, _ = issue(first_name="Mine")
    theirs, _ = issue(by=make_sponsor(), first_name="Theirs")
    page = signed_in_as(client, sponsor).get(HOME)
    assert f'id="guest-{mine.pk}"'.encode() in page.content
    assert f'id="guest-{theirs.pk}"'.encode() not in page.content
    assert b"Theirs" not in page.content


@pytest.mark.parametrize("action", ["extend", "revoke", "new_key"])
def test_another_sponsors_guest_is_not_found(client, sponsor, issue, action):
    theirs, key = issue(by=make_sponsor())
    url = reverse(f"guests:{action}", args=[theirs.pk])
    signed_in_as(client, sponsor)
    assert client.get(url).status_code == HTTPStatus.NOT_FOUND
    data = {"end_date": (theirs.end_date + timedelta(days=5)).isoformat(), "reason": "x"}
    assert client.post(url, {**data, "submission": "stolen-token"}).status_code == (
        HTTPStatus.NOT_FOUND
    )
    assert client.get(reverse(f"guests:{action}", args=[theirs.pk + 1000])).status_code == (
        HTTPStatus.NOT_FOUND
    )
    theirs.refresh_from_db()
    assert theirs.status == Sponsorship.Status.KEY_ISSUED
    assert theirs.end_date == timezone.localdate() + timedelta(days=30)
    assert GuestKey.objects.filter(sponsorship=theirs).count() == 1
    assert guest_key_check(last_name=GUEST_LAST, key=key, request=guest_request())


# Extend ---------------------------------------------------------------------------------------


def test_extending_moves_the_guests_end(client, sponsor, issue, clock, outbox):
    sponsorship, key = issue()
    account = redeem(key, "ada.guest")
    url = reverse("guests:extend", args=[sponsorship.pk])
    signed_in_as(client, sponsor)
    page = client.get(url)
    assert page.status_code == HTTPStatus.OK
    assert b'max="2027-01-11"' in page.content  # start + 364 days
    new_end = sponsorship.end_date + timedelta(days=45)
    response = client.post(url, {"end_date": new_end.isoformat()})
    assert response.status_code == HTTPStatus.FOUND and response.url == HOME
    assert b"access now ends at the end of March 28, 2026." in client.get(HOME).content
    account.refresh_from_db()
    assert timezone.localtime(account.access_ends_at).date() == new_end + timedelta(days=1)
    sponsorship.refresh_from_db()
    assert sponsorship.end_date == new_end


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (0, b"Choose an end date later than the current one."),
        (-3, b"Choose an end date later than the current one."),
        (365 - 30, b"Guest access lasts at most 365 days from the start date."),
    ],
    ids=["same", "earlier", "past the longest stay"],
)
def test_extensions_the_rules_refuse(client, sponsor, issue, clock, days, message):
    sponsorship, _ = issue()
    signed_in_as(client, sponsor)
    url = reverse("guests:extend", args=[sponsorship.pk])
    new_end = sponsorship.end_date + timedelta(days=days)
    response = client.post(url, {"end_date": new_end.isoformat()})
    assert response.status_code == HTTPStatus.OK
    assert message in response.content
    sponsorship.refresh_from_db()
    assert sponsorship.end_date == NOW.date() + timedelta(days=30)


def test_extending_to_the_last_allowed_day(client, sponsor, issue, clock):
    sponsorship, _ = issue()
    signed_in_as(client, sponsor)
    url = reverse("guests:extend", args=[sponsorship.pk])
    last = sponsorship.start_date + timedelta(days=364)
    assert client.post(url, {"end_date": last.isoformat()}).status_code == HTTPStatus.FOUND
    sponsorship.refresh_from_db()
    assert sponsorship.end_date == last


@pytest.mark.parametrize("typed", ["", "soon", "2026-13-01"])
def test_an_extension_needs_a_date(client, sponsor, issue, typed):
    sponsorship, _ = issue()
    signed_in_as(client, sponsor)
    url = reverse("guests:extend", args=[sponsorship.pk])
    response = client.post(url, {"end_date": typed})
    assert response.status_code == HTTPStatus.OK
    sponsorship.refresh_from_db()
    assert sponsorship.end_date == timezone.localdate() + timedelta(days=30)


def test_a_revoked_guest_cannot_be_extended(client, sponsor, issue):
    sponsorship, _ = issue()
    guest_revoke(sponsorship=sponsorship, actor=sponsor)
    signed_in_as(client, sponsor)
    url = reverse("guests:extend", args=[sponsorship.pk])
    response = client.post(url, {"end_date": (sponsorship.end_date + timedelta(5)).isoformat()})
    assert response.status_code == HTTPStatus.FOUND and response.url == HOME
    assert b"guest access has already ended, so nothing was changed." in client.get(HOME).content
    sponsorship.refresh_from_db()
    assert sponsorship.end_date == timezone.localdate() + timedelta(days=30)


# New key --------------------------------------------------------------------------------------


def test_a_new_key_replaces_the_old_one(
    client, sponsor, issue, outbox, django_capture_on_commit_callbacks
):
    sponsorship, old = issue()
    url = reverse("guests:new_key", args=[sponsorship.pk])
    signed_in_as(client, sponsor)
    confirm = client.get(url)
    assert confirm.status_code == HTTPStatus.OK
    assert b'id="guest-key"' not in confirm.content
    token = re.search(rb'name="submission" value="([^"]+)"', confirm.content).group(1).decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"submission": token})
    assert response.status_code == HTTPStatus.OK
    assert b"the previous one no longer works" in response.content
    new = shown_key(response)
    assert new != old

    with pytest.raises(GuestKeyRefused):
        guest_key_check(last_name=GUEST_LAST, key=old, request=guest_request())
    assert guest_key_check(last_name=GUEST_LAST, key=new, request=guest_request())
    mails = [m for m in outbox if m.recipient == sponsor.notice_email]
    assert [m.subject for m in mails] == ["New guest key for Ada Núñez-García"]
    assert new in mails[0].body and old not in mails[0].body

    # The page reloaded: nothing more.
    again = client.post(url, {"submission": token})
    assert again.status_code == HTTPStatus.FOUND and again.url == HOME
    assert guest_key_check(last_name=GUEST_LAST, key=new, request=guest_request())
    assert GuestKey.objects.filter(sponsorship=sponsorship).count() == 2


def test_no_new_key_once_the_guest_registered(client, sponsor, issue):
    sponsorship, key = issue()
    redeem(key, "ada.guest")
    signed_in_as(client, sponsor)
    response = client.post(
        reverse("guests:new_key", args=[sponsorship.pk]), {"submission": "after-registration"}
    )
    assert response.status_code == HTTPStatus.FOUND and response.url == HOME
    assert b"guest access has already ended, so nothing was changed." in client.get(HOME).content
    assert GuestKey.objects.filter(sponsorship=sponsorship).count() == 1


# Revoke ---------------------------------------------------------------------------------------


def test_revoking_from_my_guests(client, sponsor, issue):
    sponsorship, key = issue()
    url = reverse("guests:revoke", args=[sponsorship.pk])
    signed_in_as(client, sponsor)
    assert client.get(url).status_code == HTTPStatus.OK
    response = client.post(url, {"reason": "No longer needed"})
    assert response.status_code == HTTPStatus.FOUND and response.url == HOME
    home = client.get(HOME)
    assert b"guest access is revoked: the key no longer works" in home.content
    assert "<td>Revoked</td>" in row(home, sponsorship)
    with pytest.raises(GuestKeyRefused):
        guest_key_check(last_name=GUEST_LAST, key=key, request=guest_request())
    # Revoked twice: said so, nothing changes.
    client.post(url, {"reason": ""})
    assert b"guest access has already ended, so nothing was changed." in client.get(HOME).content


def test_a_revocation_reason_is_at_most_500_characters(client, sponsor, issue):
    sponsorship, _ = issue()
    signed_in_as(client, sponsor)
    url = reverse("guests:revoke", args=[sponsorship.pk])
    response = client.post(url, {"reason": "r" * 501})
    assert response.status_code == HTTPStatus.OK
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.KEY_ISSUED
