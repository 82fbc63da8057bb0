"""The guest's side: registering at /register/ with the last name and the guest key."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import RegistrationAttempt, User
from accounts.services.registration import UsernameTaken
from audit.models import AuditEvent
from guests.keys import generate_key
from guests.models import GuestKey, Sponsorship
from guests.services.redemption import REFUSED, GuestKeyRefused, guest_key_check
from guests.services.sponsorship import guest_key_reissue, guest_revoke
from tests.factories import PersonFactory, UserFactory
from tests.guests.conftest import (
    GUEST_FIRST,
    GUEST_LAST,
    GUEST_PASSWORD,
    NOW,
    REGISTER,
    REGISTER_ACCOUNT,
    guest_request,
    redeem,
    register_account,
    register_as_guest,
    register_details,
)
from tests.helpers import in_threads, on_postgresql, page_text

pytestmark = pytest.mark.django_db


def test_last_name_and_key_make_a_guest_account(
    client, sponsor, issue, clock, outbox, django_capture_on_commit_callbacks
):
    sponsorship, key = issue()
    with django_capture_on_commit_callbacks(execute=True):
        details = register_details(client, last_name="  NUNEZ - garcía ", key=key.lower())
        assert details.status_code == HTTPStatus.FOUND and details.url == REGISTER_ACCOUNT
        page = client.get(REGISTER_ACCOUNT)
        assert page.status_code == HTTPStatus.OK
        created = register_account(client, "ada.guest")
    assert created.status_code == HTTPStatus.FOUND

    account = User.objects.get(username="ada.guest")
    assert account.kind == User.Kind.GUEST
    assert (account.first_name, account.last_name) == (GUEST_FIRST, GUEST_LAST)
    assert account.person is None
    assert account.check_password(GUEST_PASSWORD)
    assert account.access_starts_at == sponsorship.access_starts_at
    assert account.access_ends_at == sponsorship.access_ends_at
    assert int(client.session["_auth_user_id"]) == account.pk

    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.REGISTERED
    assert sponsorship.account == account and sponsorship.registered_at == NOW
    assert GuestKey.objects.get().used_at == NOW

    told = [m for m in outbox if m.recipient == sponsor.notice_email]
    assert [m.subject for m in told] == ["Ada Núñez-García registered as your guest"]
    assert '"ada.guest"' in told[0].body
    assert key not in told[0].body


def test_the_details_step_consumes_nothing(client, issue):
    _, key = issue()
    register_details(client, last_name=GUEST_LAST, key=key)
    # The guest closed the tab: the key still works from another browser.
    assert register_as_guest(Client(), key=key, username="ada.guest").status_code == 302
    assert User.objects.filter(username="ada.guest", kind=User.Kind.GUEST).exists()


def test_harvard_id_and_guest_key_together_are_refused(client, issue):
    _, key = issue()
    person = PersonFactory(last_name=GUEST_LAST)
    page = register_details(client, last_name=GUEST_LAST, key=key, huid=person.huid)
    assert page.status_code == HTTPStatus.OK
    assert b"Enter either your Harvard ID or a guest key, not both." in page.content
    assert GuestKey.objects.get().used_at is None


# One answer for every refusal ----------------------------------------------------------------


def _wrong_key(issue, clock):
    issue()
    return GUEST_LAST, generate_key()


def _not_a_key(issue, clock):
    issue()
    return GUEST_LAST, "K7QM-3XTP-9WHC"


def _wrong_last_name(issue, clock):
    _, key = issue()
    return "Nunes-Garcia", key


def _used(issue, clock):
    _, key = issue()
    redeem(key, "first.taker")
    return GUEST_LAST, key


def _replaced(issue, clock):
    sponsorship, key = issue()
    guest_key_reissue(sponsor=sponsorship.sponsor, sponsorship=sponsorship)
    return GUEST_LAST, key


def _expired(issue, clock):
    _, key = issue(end_date=NOW.date() + timedelta(days=90))
    clock.move_to(GuestKey.objects.get().expires_at + timedelta(seconds=1), tick=False)
    return GUEST_LAST, key


def _revoked(issue, clock):
    sponsorship, key = issue()
    guest_revoke(sponsorship=sponsorship, actor=sponsorship.sponsor)
    return GUEST_LAST, key


def _access_over(issue, clock):
    # The key itself is still within its 30 days, but the guest's end date has passed.
    sponsorship, key = issue(end_date=NOW.date() + timedelta(days=2))
    clock.move_to(sponsorship.access_ends_at, tick=False)
    return GUEST_LAST, key


REFUSALS = [_wrong_key, _not_a_key, _wrong_last_name, _used, _replaced, _expired, _revoked]


@pytest.mark.parametrize("scenario", [*REFUSALS, _access_over], ids=lambda f: f.__name__[1:])
def test_every_refusal_reads_the_same(client, issue, clock, scenario):
    last_name, key = scenario(issue, clock)
    stranger_key = generate_key()
    baseline = register_details(Client(), last_name="Someone", key=stranger_key)
    page = register_details(client, last_name=last_name, key=key)

    assert page.status_code == HTTPStatus.OK
    assert REFUSED.encode() in page.content
    assert page_text(page, last_name, key) == page_text(baseline, "Someone", stranger_key)
    assert client.get(REGISTER_ACCOUNT).url == REGISTER
    assert not User.objects.filter(kind=User.Kind.GUEST).exclude(username="first.taker").exists()
    assert AuditEvent.objects.filter(event="guest.key_refused").count() == 2


def test_a_key_works_until_the_last_second_of_its_life(issue, clock):
    _, key = issue(end_date=NOW.date() + timedelta(days=90))
    expires_at = GuestKey.objects.get().expires_at
    assert expires_at == NOW + timedelta(days=30)
    clock.move_to(expires_at - timedelta(seconds=1), tick=False)
    assert guest_key_check(last_name=GUEST_LAST, key=key, request=guest_request())
    clock.move_to(expires_at, tick=False)
    with pytest.raises(GuestKeyRefused):
        guest_key_check(last_name=GUEST_LAST, key=key, request=guest_request())


def test_a_key_checked_in_time_cannot_be_redeemed_once_it_expired(client, issue, clock):
    _, key = issue(end_date=NOW.date() + timedelta(days=90))
    expires_at = GuestKey.objects.get().expires_at
    clock.move_to(expires_at - timedelta(seconds=1), tick=False)
    assert register_details(client, last_name=GUEST_LAST, key=key).url == REGISTER_ACCOUNT
    clock.move_to(expires_at + timedelta(seconds=1), tick=False)
    response = register_account(client, "ada.guest")
    assert response.status_code == HTTPStatus.FOUND and response.url == REGISTER
    assert REFUSED.encode() in client.get(REGISTER).content
    assert not User.objects.filter(username="ada.guest").exists()


def test_revoked_between_the_key_and_the_password(client, sponsor, issue):
    sponsorship, key = issue()
    assert register_details(client, last_name=GUEST_LAST, key=key).url == REGISTER_ACCOUNT
    guest_revoke(sponsorship=sponsorship, actor=sponsor)
    response = register_account(client, "ada.guest")
    assert response.url == REGISTER
    assert REFUSED.encode() in client.get(REGISTER).content
    assert not User.objects.filter(username="ada.guest").exists()


def test_failures_count_against_the_ip_until_429(client, issue, settings):
    settings.ACCOUNTS_REGISTRATION_IP_LIMIT = 3
    _, key = issue()
    for _ in range(3):
        assert register_details(client, last_name="Wrong", key=key).status_code == HTTPStatus.OK
    assert RegistrationAttempt.objects.filter(matched=False).count() == 3
    # Past the limit even the right key is not looked at from that address ...
    throttled = register_details(client, last_name=GUEST_LAST, key=key)
    assert throttled.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert AuditEvent.objects.filter(event="registration.throttled").count() == 1
    # ... while the guest at another address is not held back.
    elsewhere = register_details(Client(REMOTE_ADDR="198.51.100.7"), last_name=GUEST_LAST, key=key)
    assert elsewhere.url == REGISTER_ACCOUNT


def test_guest_and_directory_failures_share_one_budget(client, issue, settings):
    settings.ACCOUNTS_REGISTRATION_IP_LIMIT = 2
    _, key = issue()
    directory = client.post(
        REGISTER,
        {"last_name": "Wrong", "huid": "99999999", "guest_key": "", "date_of_birth": "", "ssn": ""},
    )
    assert directory.status_code == HTTPStatus.FOUND  # on to the code, as for any details
    assert register_details(client, last_name="Wrong", key=key).status_code == HTTPStatus.OK
    throttled = register_details(client, last_name=GUEST_LAST, key=key)
    assert throttled.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_a_key_works_once(issue):
    _, key = issue()
    redeem(key, "ada.guest")
    with pytest.raises(GuestKeyRefused):
        redeem(key, "someone.else")
    assert User.objects.filter(kind=User.Kind.GUEST).count() == 1


def test_a_key_works_once_through_the_pages(issue):
    _, key = issue()
    assert register_as_guest(Client(), key=key, username="ada.guest").status_code == 302
    again = register_details(Client(), last_name=GUEST_LAST, key=key)
    assert REFUSED.encode() in again.content
    assert User.objects.filter(kind=User.Kind.GUEST).count() == 1


def test_create_my_account_pressed_twice_makes_one_account(issue):
    from guests.services.redemption import guest_key_redeem

    _, key = issue()
    request = guest_request()
    key_id = guest_key_check(last_name=GUEST_LAST, key=key, request=request)
    first = guest_key_redeem(
        key_id=key_id, username="ada.guest", password=GUEST_PASSWORD, request=request
    )
    second = guest_key_redeem(
        key_id=key_id, username="ada.guest", password=GUEST_PASSWORD, request=request
    )
    assert first == second and User.objects.filter(kind=User.Kind.GUEST).count() == 1


def test_a_taken_username_leaves_the_key_usable(client, issue):
    UserFactory(username="taken.name")
    sponsorship, key = issue()
    assert register_details(client, last_name=GUEST_LAST, key=key).url == REGISTER_ACCOUNT
    page = register_account(client, "taken.name")
    assert page.status_code == HTTPStatus.OK
    assert b"That username is taken" in page.content
    assert GuestKey.objects.get().used_at is None
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.KEY_ISSUED and sponsorship.account is None
    # The same page, another username.
    assert register_account(client, "ada.guest").status_code == HTTPStatus.FOUND
    assert User.objects.get(username="ada.guest").kind == User.Kind.GUEST


def test_a_taken_username_leaves_the_key_usable_in_the_service(issue):
    UserFactory(username="taken.name")
    _, key = issue()
    with pytest.raises(UsernameTaken):
        redeem(key, "taken.name")
    assert GuestKey.objects.get().used_at is None
    assert redeem(key, "ada.guest").kind == User.Kind.GUEST


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_people_redeeming_one_key_at_once_make_one_account(issue):
    _, key = issue()

    def attempt(i: int) -> str:
        try:
            redeem(key, f"racer.{i}", ip=f"192.0.2.{i + 20}")
        except GuestKeyRefused:
            return "refused"
        return "created"

    outcomes = in_threads(attempt, 2)
    assert sorted(outcomes) == ["created", "refused"]
    assert User.objects.filter(kind=User.Kind.GUEST).count() == 1
    sponsorship = Sponsorship.objects.get()
    assert sponsorship.status == Sponsorship.Status.REGISTERED
    assert sponsorship.account == User.objects.get(kind=User.Kind.GUEST)
    assert AuditEvent.objects.filter(event="guest.redeem_refused").count() == 1
    assert timezone.now() > GuestKey.objects.get().used_at


def test_wrong_last_names_with_a_real_key_stop_it_and_tell_the_sponsor(
    sponsor, issue, settings, outbox, django_capture_on_commit_callbacks
):
    settings.GUESTS_KEY_NAME_ATTEMPTS = 3
    _, key = issue()
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(3):  # each from its own address: the per-IP limit is not what stops it
            client = Client(REMOTE_ADDR=f"198.51.100.{i + 1}")
            refused = register_details(client, last_name=f"Wrong{i}", key=key)
            assert REFUSED in refused.content.decode()
    right = register_details(Client(REMOTE_ADDR="198.51.100.50"), last_name=GUEST_LAST, key=key)
    assert REFUSED in right.content.decode()
    assert GuestKey.objects.get().ended_at is not None
    [told] = [m for m in outbox if m.recipient == sponsor.notice_email]
    assert "was stopped" in told.subject and key not in told.body


def test_two_wrong_last_names_leave_a_key_working(issue, settings):
    settings.GUESTS_KEY_NAME_ATTEMPTS = 3
    _, key = issue()
    for i in range(2):
        register_details(Client(REMOTE_ADDR=f"198.51.100.{i + 1}"), last_name="Wrong", key=key)
    right = register_details(Client(REMOTE_ADDR="198.51.100.50"), last_name=GUEST_LAST, key=key)
    assert right.status_code == HTTPStatus.FOUND and right.url == REGISTER_ACCOUNT
