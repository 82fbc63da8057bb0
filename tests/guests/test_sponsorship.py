"""The sponsor's side, through the services: who may sponsor, which dates a request may have,
a new key, an extension, and a form sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Affiliation, Person, User
from audit.models import AuditEvent
from guests.models import GuestKey, Sponsorship
from guests.selectors import sponsor_eligible
from guests.services.redemption import GuestKeyRefused, guest_key_check
from guests.services.sponsorship import (
    AlreadySubmitted,
    DatesNotAllowed,
    NotEligible,
    SponsorshipClosed,
    dates_check,
    guest_extend,
    guest_key_reissue,
    guest_request_create,
    guest_revoke,
    latest_end_date,
)
from tests.factories import PersonFactory, UserFactory
from tests.guests.conftest import (
    GUEST_EMAIL,
    GUEST_LAST,
    NOW,
    guest_details,
    guest_request,
    make_sponsor,
    redeem,
)

pytestmark = pytest.mark.django_db


# Who may sponsor ------------------------------------------------------------------------------

ELIGIBLE = [
    pytest.param({"affiliation": Affiliation.FACULTY, "full_time": True}, id="full-time faculty"),
    pytest.param({"affiliation": Affiliation.STAFF, "full_time": True}, id="full-time staff"),
]
NOT_ELIGIBLE = [
    pytest.param({"affiliation": Affiliation.STAFF, "full_time": False}, id="part-time staff"),
    pytest.param({"affiliation": Affiliation.FACULTY, "full_time": False}, id="part-time faculty"),
    pytest.param({"affiliation": Affiliation.STUDENT, "full_time": True}, id="student"),
    pytest.param({"affiliation": Affiliation.AFFILIATE, "full_time": True}, id="affiliate"),
    pytest.param({"affiliation": Affiliation.GUEST, "full_time": True}, id="directory guest"),
    pytest.param(
        {"affiliation": Affiliation.FACULTY, "full_time": True, "is_active": False},
        id="inactive directory record",
    ),
]


@pytest.mark.parametrize("person", ELIGIBLE)
def test_full_time_faculty_and_staff_may_sponsor(person):
    sponsor = make_sponsor(**person)
    assert sponsor_eligible(sponsor)
    issued = guest_request_create(sponsor=sponsor, details=guest_details(), attested=True)
    assert issued.sponsorship.sponsor == sponsor
    assert Sponsorship.objects.filter(sponsor=sponsor).count() == 1


@pytest.mark.parametrize("person", NOT_ELIGIBLE)
def test_others_in_the_directory_may_not(person):
    sponsor = make_sponsor(**person)
    assert not sponsor_eligible(sponsor)
    with pytest.raises(NotEligible):
        guest_request_create(sponsor=sponsor, details=guest_details(), attested=True)
    assert not Sponsorship.objects.exists() and not GuestKey.objects.exists()


@pytest.mark.parametrize(
    "kind", [User.Kind.DEPARTMENTAL, User.Kind.AFFILIATE, User.Kind.GUEST], ids=str
)
def test_accounts_outside_the_directory_may_not(kind):
    account = UserFactory(person=None, kind=kind)
    with pytest.raises(NotEligible):
        guest_request_create(sponsor=account, details=guest_details(), attested=True)
    assert not Sponsorship.objects.exists()


def test_a_departmental_account_of_a_full_time_person_may_not():
    account = UserFactory(kind=User.Kind.DEPARTMENTAL, person=PersonFactory(full_time=True))
    with pytest.raises(NotEligible):
        guest_request_create(sponsor=account, details=guest_details(), attested=True)


def test_part_time_staff_may_sponsor_when_full_time_is_not_required(settings):
    part_time = make_sponsor(affiliation=Affiliation.STAFF, full_time=False)
    student = make_sponsor(affiliation=Affiliation.STUDENT, full_time=False)
    settings.GUESTS_SPONSOR_FULL_TIME_ONLY = False
    issued = guest_request_create(sponsor=part_time, details=guest_details(), attested=True)
    assert issued.sponsorship.sponsor == part_time
    # The affiliation still counts.
    with pytest.raises(NotEligible):
        guest_request_create(sponsor=student, details=guest_details(), attested=True)


def test_a_sponsor_who_leaves_the_directory_can_no_longer_act(sponsor, issue):
    sponsorship, _ = issue()
    Person.objects.filter(pk=sponsor.person_id).update(is_active=False)
    sponsor = User.objects.get(pk=sponsor.pk)
    with pytest.raises(NotEligible):
        guest_key_reissue(sponsor=sponsor, sponsorship=sponsorship)
    with pytest.raises(NotEligible):
        guest_extend(
            sponsor=sponsor,
            sponsorship=sponsorship,
            end_date=sponsorship.end_date + timedelta(days=1),
        )
    # ... but may still revoke.
    assert guest_revoke(sponsorship=sponsorship, actor=sponsor)


def test_only_the_sponsor_may_revoke(issue):
    sponsorship, _ = issue()
    other = make_sponsor()
    with pytest.raises(NotEligible):
        guest_revoke(sponsorship=sponsorship, actor=other)
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.KEY_ISSUED


def test_the_request_must_be_attested(sponsor):
    with pytest.raises(ValueError, match="attest"):
        guest_request_create(sponsor=sponsor, details=guest_details(), attested=False)
    assert not Sponsorship.objects.exists()


def test_a_request_records_what_the_sponsor_typed(sponsor, clock):
    issued = guest_request_create(sponsor=sponsor, details=guest_details(), attested=True)
    sponsorship = Sponsorship.objects.get()
    assert sponsorship.full_name == "Ada Núñez-García"
    assert sponsorship.last_name_key == "nunez-garcia"
    assert sponsorship.email == GUEST_EMAIL
    assert sponsorship.attested_at == NOW
    assert sponsorship.status == Sponsorship.Status.KEY_ISSUED
    assert issued.expires_at == NOW + timedelta(days=30)
    assert GuestKey.objects.get().expires_at == NOW + timedelta(days=30)
    event = AuditEvent.objects.get(event="guest.requested")
    assert event.actor == sponsor and event.detail["sponsorship"] == sponsorship.pk
    assert issued.key not in str(event.detail)


# Dates ----------------------------------------------------------------------------------------


def test_dates_rules_at_their_boundaries(clock):
    today = timezone.localdate()
    assert today == NOW.date()
    ok = [
        (today, today),
        (today, today + timedelta(days=364)),
        (today + timedelta(days=90), today + timedelta(days=90 + 364)),
    ]
    for start, end in ok:
        dates_check(start_date=start, end_date=end)
    refused = [
        (today - timedelta(days=1), today, "start_date", "past"),
        (today + timedelta(days=91), today + timedelta(days=92), "start_date", "90 days"),
        (today + timedelta(days=5), today + timedelta(days=4), "end_date", "before the start"),
        (today, today + timedelta(days=365), "end_date", "at most 365 days"),
    ]
    for start, end, field, words in refused:
        with pytest.raises(DatesNotAllowed, match=words) as refusal:
            dates_check(start_date=start, end_date=end)
        assert refusal.value.field == field


def test_the_longest_stay_follows_the_setting(settings, clock):
    settings.GUESTS_MAX_DURATION_DAYS = 30
    today = timezone.localdate()
    assert latest_end_date(today) == today + timedelta(days=29)
    dates_check(start_date=today, end_date=today + timedelta(days=29))
    with pytest.raises(DatesNotAllowed, match="at most 30 days"):
        dates_check(start_date=today, end_date=today + timedelta(days=30))


def test_the_service_refuses_dates_the_form_would(sponsor, clock):
    today = timezone.localdate()
    with pytest.raises(DatesNotAllowed):
        guest_request_create(
            sponsor=sponsor,
            details=guest_details(start_date=today - timedelta(days=1)),
            attested=True,
        )
    assert not Sponsorship.objects.exists()


# A form sent twice ---------------------------------------------------------------------------


def test_the_same_submission_issues_one_key(sponsor):
    guest_request_create(
        sponsor=sponsor, details=guest_details(), attested=True, submission="token-1"
    )
    with pytest.raises(AlreadySubmitted) as again:
        guest_request_create(
            sponsor=sponsor, details=guest_details(), attested=True, submission="token-1"
        )
    assert again.value.sponsorship_id == Sponsorship.objects.get().pk
    assert GuestKey.objects.count() == 1


# A new key ------------------------------------------------------------------------------------


def test_a_new_key_replaces_the_old_one(sponsor, issue):
    sponsorship, old = issue()
    new = guest_key_reissue(sponsor=sponsor, sponsorship=sponsorship).key
    assert new != old
    with pytest.raises(GuestKeyRefused):
        guest_key_check(last_name=GUEST_LAST, key=old, request=guest_request())
    assert guest_key_check(last_name=GUEST_LAST, key=new, request=guest_request())
    assert GuestKey.objects.filter(sponsorship=sponsorship).count() == 2


def test_a_new_key_only_while_the_guest_has_not_registered(sponsor, issue):
    sponsorship, key = issue()
    redeem(key, "ada.guest")
    with pytest.raises(SponsorshipClosed):
        guest_key_reissue(sponsor=sponsor, sponsorship=sponsorship)
    assert GuestKey.objects.filter(sponsorship=sponsorship).count() == 1


def test_no_new_key_after_revocation(sponsor, issue):
    sponsorship, _ = issue()
    guest_revoke(sponsorship=sponsorship, actor=sponsor)
    with pytest.raises(SponsorshipClosed):
        guest_key_reissue(sponsor=sponsor, sponsorship=sponsorship)


def test_a_new_key_form_sent_twice_issues_one(sponsor, issue):
    sponsorship, _ = issue()
    first = guest_key_reissue(sponsor=sponsor, sponsorship=sponsorship, submission="again-1")
    with pytest.raises(AlreadySubmitted):
        guest_key_reissue(sponsor=sponsor, sponsorship=sponsorship, submission="again-1")
    # The key shown after the first press still works.
    assert guest_key_check(last_name=GUEST_LAST, key=first.key, request=guest_request())


# Extension ------------------------------------------------------------------------------------


def test_extension_moves_the_end_of_the_account(sponsor, issue, clock, outbox):
    sponsorship, key = issue()
    account = redeem(key, "ada.guest")
    later = sponsorship.end_date + timedelta(days=60)
    updated = guest_extend(sponsor=sponsor, sponsorship=sponsorship, end_date=later)
    assert updated.end_date == later
    account.refresh_from_db()
    assert account.access_ends_at == updated.access_ends_at
    assert timezone.localtime(account.access_ends_at).date() == later + timedelta(days=1)
    event = AuditEvent.objects.get(event="guest.extended")
    assert event.detail["end_date"] == later.isoformat()


def test_extension_up_to_the_longest_stay(sponsor, issue):
    sponsorship, _ = issue()
    latest = latest_end_date(sponsorship.start_date)
    with pytest.raises(DatesNotAllowed, match="at most 365 days"):
        guest_extend(sponsor=sponsor, sponsorship=sponsorship, end_date=latest + timedelta(days=1))
    assert guest_extend(sponsor=sponsor, sponsorship=sponsorship, end_date=latest).end_date == (
        latest
    )


@pytest.mark.parametrize("days", [0, -1], ids=["same date", "earlier"])
def test_extension_must_be_later(sponsor, issue, days):
    sponsorship, _ = issue()
    with pytest.raises(DatesNotAllowed, match="later than the current one"):
        guest_extend(
            sponsor=sponsor,
            sponsorship=sponsorship,
            end_date=sponsorship.end_date + timedelta(days=days),
        )
    sponsorship.refresh_from_db()
    assert sponsorship.end_date == timezone.localdate() + timedelta(days=30)


def test_no_extension_once_revoked(sponsor, issue):
    sponsorship, _ = issue()
    guest_revoke(sponsorship=sponsorship, actor=sponsor)
    with pytest.raises(SponsorshipClosed):
        guest_extend(
            sponsor=sponsor,
            sponsorship=sponsorship,
            end_date=sponsorship.end_date + timedelta(days=1),
        )


def test_no_extension_once_the_end_date_is_over(sponsor, issue, clock):
    sponsorship, key = issue(end_date=NOW.date() + timedelta(days=2))
    redeem(key, "ada.guest")
    clock.move_to(sponsorship.access_ends_at, tick=False)
    with pytest.raises(SponsorshipClosed):
        guest_extend(
            sponsor=sponsor,
            sponsorship=sponsorship,
            end_date=sponsorship.end_date + timedelta(days=5),
        )
