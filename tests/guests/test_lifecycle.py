"""How guest access starts and ends: the account's access window to the second, the periodic
jobs that close and announce it, and revocation by the sponsor."""

from __future__ import annotations

from datetime import date, timedelta
from http import HTTPStatus

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from guests.models import GuestKey, Sponsorship
from guests.services.lifecycle import guests_end_due, guests_remind_due
from guests.services.redemption import REFUSED, GuestKeyRefused, guest_key_check
from guests.services.sponsorship import guest_extend, guest_revoke
from tests.factories import ChannelFactory
from tests.guests.conftest import (
    GUEST_EMAIL,
    GUEST_LAST,
    GUEST_PASSWORD,
    NOW,
    day,
    guest_request,
    redeem,
    register_as_guest,
    register_details,
)
from tests.helpers import in_threads, on_postgresql, post_login

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")
PREFERENCES = reverse("accounts:preferences")
SECOND = timedelta(seconds=1)
REFUSED_SIGN_IN = b"The username or password is not right"


def registered_guest(issue, **dates) -> tuple[Sponsorship, User]:
    """A guest who registered (now, on the frozen clock) and has a SafeCode phone, so a sign-in
    lands on the portal."""
    sponsorship, key = issue(**dates)
    account = redeem(key, "ada.guest")
    ChannelFactory(user=account)
    sponsorship.refresh_from_db()
    return sponsorship, account


def signed_in(client) -> bool:
    """Whether the browser is signed in, as a page that needs it tells."""
    response = client.get(PREFERENCES)
    if response.status_code == HTTPStatus.OK:
        return True
    assert response.status_code == HTTPStatus.FOUND and response.url.startswith(LOGIN)
    return False


def signs_in(username: str) -> bool:
    """Whether a fresh browser gets in with the guest's password."""
    client = Client()
    response = post_login(client, username, GUEST_PASSWORD)
    if response.status_code == HTTPStatus.FOUND:
        assert signed_in(client)
        return True
    assert REFUSED_SIGN_IN in response.content
    return False


def sent(outbox, recipient: str) -> list[str]:
    return [m.subject for m in outbox if m.recipient == recipient]


# The access window ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "end",
    [
        NOW.date() + timedelta(days=30),
        date(2026, 3, 8),  # the day clocks go forward in New York
        date(2026, 11, 1),  # the day they go back
    ],
    ids=["winter", "spring-forward", "fall-back"],
)
def test_access_lasts_through_the_last_second_of_the_end_date(issue, clock, end):
    _, account = registered_guest(issue, end_date=end)
    midnight_after = day(end + timedelta(days=1))
    assert account.access_ends_at == midnight_after

    clock.move_to(midnight_after - SECOND, tick=False)
    account.refresh_from_db()
    assert account.may_sign_in
    assert signs_in("ada.guest")

    clock.move_to(midnight_after, tick=False)
    account.refresh_from_db()
    assert not account.may_sign_in
    assert not signs_in("ada.guest")


def test_a_session_ends_at_midnight_after_the_end_date_without_any_job(issue, clock):
    sponsorship, _ = registered_guest(issue)
    midnight_after = sponsorship.access_ends_at
    clock.move_to(midnight_after - timedelta(minutes=10), tick=False)
    client = Client()
    assert post_login(client, "ada.guest", GUEST_PASSWORD).status_code == HTTPStatus.FOUND
    clock.move_to(midnight_after - SECOND, tick=False)
    assert signed_in(client)
    clock.move_to(midnight_after, tick=False)
    assert not signed_in(client)


def test_sign_in_is_refused_before_the_start_date(issue, clock):
    start = NOW.date() + timedelta(days=3)
    _, account = registered_guest(issue, start_date=start, end_date=start + timedelta(days=30))
    clock.move_to(day(start) - SECOND, tick=False)
    account.refresh_from_db()
    assert not account.may_sign_in
    assert not signs_in("ada.guest")
    clock.move_to(day(start), tick=False)
    account.refresh_from_db()
    assert account.may_sign_in
    assert signs_in("ada.guest")


def test_registering_before_the_start_date_waits_for_it(client, issue, clock):
    start = NOW.date() + timedelta(days=3)
    _, key = issue(start_date=start, end_date=start + timedelta(days=30))
    page = register_as_guest(client, key=key, username="ada.guest")
    assert page.status_code == HTTPStatus.OK
    assert b"Your account is ready" in page.content
    assert b"ada.guest" in page.content
    assert b"starts on Jan. 15, 2026" in page.content
    assert "_auth_user_id" not in client.session
    assert not signed_in(client)
    account = User.objects.get(username="ada.guest")
    assert account.kind == User.Kind.GUEST and account.access_starts_at == day(start)


# The end of the end date ----------------------------------------------------------------------


def test_the_end_job_closes_a_due_guest_once(
    issue, sponsor, clock, outbox, django_capture_on_commit_callbacks
):
    sponsorship, account = registered_guest(issue)
    midnight_after = sponsorship.access_ends_at
    clock.move_to(midnight_after - timedelta(minutes=5), tick=False)
    guest_browser = Client()
    assert post_login(guest_browser, "ada.guest", GUEST_PASSWORD).status_code == HTTPStatus.FOUND

    clock.move_to(midnight_after - SECOND, tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert guests_end_due() == 0
    assert signed_in(guest_browser)

    clock.move_to(midnight_after + timedelta(minutes=10), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert guests_end_due() == 1
        assert guests_end_due() == 0

    sponsorship.refresh_from_db()
    account.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.EXPIRED
    assert sponsorship.ended_at == midnight_after + timedelta(minutes=10)
    assert account.status == User.Status.DEACTIVATED and not account.may_sign_in
    assert AuditEvent.objects.filter(event="guest.expired", subject=account).count() == 1
    assert sent(outbox, sponsor.notice_email) == ["Guest access for Ada Núñez-García has ended"]
    assert sent(outbox, GUEST_EMAIL) == ["Your HMS guest access has ended"]
    assert not signed_in(guest_browser)
    assert not signs_in("ada.guest")


def test_the_end_job_also_closes_a_key_never_used(issue, clock, outbox):
    sponsorship, key = issue(end_date=NOW.date() + timedelta(days=5))
    clock.move_to(sponsorship.access_ends_at, tick=False)
    assert guests_end_due() == 1
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.EXPIRED
    assert GuestKey.objects.get().ended_at == sponsorship.access_ends_at
    assert AuditEvent.objects.filter(event="guest.expired").count() == 1
    with pytest.raises(GuestKeyRefused):
        guest_key_check(last_name=GUEST_LAST, key=key, request=guest_request())


def test_the_end_job_leaves_guests_whose_end_date_is_today(issue, clock):
    issue(end_date=NOW.date())
    issue(end_date=NOW.date() + timedelta(days=1))
    clock.move_to(day(NOW.date(), 23, 59, 59), tick=False)
    assert guests_end_due() == 0
    assert not Sponsorship.objects.exclude(status=Sponsorship.Status.KEY_ISSUED).exists()


def test_the_end_job_does_not_touch_revoked_guests(issue, sponsor, clock):
    sponsorship, _ = registered_guest(issue)
    guest_revoke(sponsorship=sponsorship, actor=sponsor)
    clock.move_to(sponsorship.access_ends_at + timedelta(days=1), tick=False)
    assert guests_end_due() == 0
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.REVOKED
    assert not AuditEvent.objects.filter(event="guest.expired").exists()


# Reminders ------------------------------------------------------------------------------------


def test_the_reminder_goes_out_once_fourteen_days_before(
    issue, sponsor, clock, outbox, django_capture_on_commit_callbacks
):
    sponsorship, _ = registered_guest(issue, end_date=NOW.date() + timedelta(days=40))
    end = sponsorship.end_date
    clock.move_to(day(end - timedelta(days=15), 23, 59, 59), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert guests_remind_due() == 0
    clock.move_to(day(end - timedelta(days=14)), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert guests_remind_due() == 1
        assert guests_remind_due() == 0
    clock.move_to(day(end - timedelta(days=13), 7, 15), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert guests_remind_due() == 0

    assert sent(outbox, sponsor.notice_email) == [
        "Guest access for Ada Núñez-García ends in 14 days"
    ]
    assert sent(outbox, GUEST_EMAIL) == ["Your HMS guest access ends in 14 days"]
    body = next(m.body for m in outbox if m.recipient == GUEST_EMAIL)
    assert "ends at the end of Feb. 21, 2026" in body
    assert AuditEvent.objects.filter(event="guest.ending_soon").count() == 1


def test_an_extension_arms_the_reminder_again(issue, sponsor, clock, outbox):
    sponsorship, _ = registered_guest(issue, end_date=NOW.date() + timedelta(days=40))
    end = sponsorship.end_date
    clock.move_to(day(end - timedelta(days=14), 7, 15), tick=False)
    assert guests_remind_due() == 1
    new_end = end + timedelta(days=20)
    guest_extend(sponsor=sponsor, sponsorship=sponsorship, end_date=new_end)
    assert guests_remind_due() == 0
    clock.move_to(day(new_end - timedelta(days=14), 7, 15), tick=False)
    assert guests_remind_due() == 1
    assert guests_remind_due() == 0
    assert AuditEvent.objects.filter(event="guest.ending_soon").count() == 2


def test_no_reminder_for_a_key_never_used_or_a_revoked_guest(issue, sponsor, clock):
    issue(end_date=NOW.date() + timedelta(days=10))
    revoked, _ = registered_guest(issue, end_date=NOW.date() + timedelta(days=10))
    guest_revoke(sponsorship=revoked, actor=sponsor)
    assert guests_remind_due() == 0


# Revocation -----------------------------------------------------------------------------------


def test_revoking_ends_the_guests_session_and_account(
    issue, sponsor, clock, outbox, django_capture_on_commit_callbacks
):
    sponsorship, account = registered_guest(issue)
    guest_browser = Client()
    assert post_login(guest_browser, "ada.guest", GUEST_PASSWORD).status_code == HTTPStatus.FOUND
    assert signed_in(guest_browser)

    sponsor_browser = Client()
    sponsor_browser.force_login(sponsor)
    with django_capture_on_commit_callbacks(execute=True):
        response = sponsor_browser.post(
            reverse("guests:revoke", args=[sponsorship.pk]), {"reason": "Project ended early"}
        )
    assert response.status_code == HTTPStatus.FOUND and response.url == reverse("guests:home")

    assert not signed_in(guest_browser)
    assert not signs_in("ada.guest")
    account.refresh_from_db()
    assert account.status == User.Status.DEACTIVATED
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.REVOKED
    assert sponsorship.revoked_by == sponsor and sponsorship.ended_at == NOW
    event = AuditEvent.objects.get(event="guest.revoked")
    assert event.actor == sponsor and event.subject == account
    assert event.detail["reason"] == "Project ended early"
    assert sent(outbox, sponsor.notice_email) == [
        "Guest access for Ada Núñez-García has been revoked"
    ]
    assert sent(outbox, GUEST_EMAIL) == ["Your HMS guest access has ended"]
    # The sponsor stays signed in.
    assert signed_in(sponsor_browser)


def test_revoking_a_guest_who_has_not_registered_stops_the_key(client, issue, sponsor):
    sponsorship, key = issue()
    assert guest_revoke(sponsorship=sponsorship, actor=sponsor)
    page = register_details(client, last_name=GUEST_LAST, key=key)
    assert REFUSED.encode() in page.content
    assert AuditEvent.objects.get(event="guest.revoked").subject == sponsor


def test_revoking_twice_revokes_once(issue, sponsor):
    sponsorship, _ = registered_guest(issue)
    assert guest_revoke(sponsorship=sponsorship, actor=sponsor)
    assert not guest_revoke(sponsorship=sponsorship, actor=sponsor)
    assert AuditEvent.objects.filter(event="guest.revoked").count() == 1
    assert AuditEvent.objects.filter(event="guest.revoke_refused").count() == 1


# Celery -----------------------------------------------------------------------------------------


def test_the_jobs_are_scheduled():
    from guests.tasks import end_due_guests, send_guest_ending_reminders

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert end_due_guests.name == "guests.tasks.end_due_guests"
    assert send_guest_ending_reminders.name == "guests.tasks.send_guest_ending_reminders"
    assert {end_due_guests.name, send_guest_ending_reminders.name} <= scheduled


def test_the_end_task_runs_the_job(issue, clock):
    from guests.tasks import end_due_guests

    sponsorship, _ = issue(end_date=NOW.date())
    clock.move_to(sponsorship.access_ends_at, tick=False)
    assert end_due_guests.apply().get() == 1
    assert end_due_guests.apply().get() == 0
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.EXPIRED


def test_the_reminder_task_runs_the_job(issue, clock):
    from guests.tasks import send_guest_ending_reminders

    registered_guest(issue, end_date=NOW.date() + timedelta(days=14))
    assert send_guest_ending_reminders.apply().get() == 1
    assert send_guest_ending_reminders.apply().get() == 0


# Races ----------------------------------------------------------------------------------------


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_same_request_form_sent_twice_at_once_records_one(sponsor):
    from guests.services.sponsorship import AlreadySubmitted, guest_request_create
    from tests.guests.conftest import guest_details

    def submit(i: int) -> str:
        try:
            guest_request_create(
                sponsor=sponsor, details=guest_details(), attested=True, submission="same-form"
            )
        except AlreadySubmitted:
            return "already sent"
        return "issued"

    assert sorted(in_threads(submit, 2)) == ["already sent", "issued"]
    assert Sponsorship.objects.count() == 1 and GuestKey.objects.count() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_revocation_racing_a_redemption_ends_cleanly(issue, sponsor, monkeypatch):
    import threading
    import time

    from guests.services import redemption

    sponsorship, key = issue()
    request = guest_request()
    key_id = guest_key_check(last_name=GUEST_LAST, key=key, request=request)
    consumed = threading.Event()
    original = redemption.single_use_consume

    def consume_then_pause(*args, **kwargs):
        # The guest's "Create my account" has just claimed the key when the sponsor revokes.
        won = original(*args, **kwargs)
        consumed.set()
        time.sleep(0.5)
        return won

    monkeypatch.setattr(redemption, "single_use_consume", consume_then_pause)

    def act(i: int) -> str:
        if i == 0:
            try:
                redemption.guest_key_redeem(
                    key_id=key_id, username="ada.guest", password=GUEST_PASSWORD, request=request
                )
            except GuestKeyRefused:
                return "refused"
            return "registered"
        assert consumed.wait(timeout=10)
        return "revoked" if guest_revoke(sponsorship=sponsorship, actor=sponsor) else "too late"

    outcomes = in_threads(act, 2)
    sponsorship.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.REVOKED
    assert outcomes[0] in {"registered", "refused"} and "revoked" in outcomes
