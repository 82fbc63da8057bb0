"""Password expiry: the warning at sign-in, the forced change of an expired password before the
session starts, and the daily reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from accounts.models import User
from accounts.services.expiry import (
    password_expires_at,
    password_expiry_reminders_send,
    password_is_expired,
)
from audit.models import AuditEvent
from safecode.models import Channel
from tests.accounts.pages import EXPIRED, LOGIN
from tests.factories import DEFAULT_PASSWORD, SAFECODE_EMAIL, ChannelFactory, UserFactory
from tests.helpers import captcha_answer, code_sent_to

# Messages leave when the request's transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

HOME = reverse("home")
EXPIRING = reverse("accounts:password_expiring")
EXPIRED_SEND = reverse("accounts:password_expired_send")
EXPIRED_CODE = reverse("accounts:password_expired_code")
EXPIRED_NEW = reverse("accounts:password_expired_new")
DONE = reverse("accounts:password_changed")
CHANGED = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)
EXPIRES = CHANGED + timedelta(days=365)
SECOND = timedelta(seconds=1)
NEW_PASSWORD = "amber kettle under snow"


@pytest.fixture
def user():
    user = UserFactory(password_changed_at=CHANGED)
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    return user


@pytest.fixture
def at(time_machine):
    """Freeze the clock at a moment: ``at(EXPIRES - SECOND)``."""

    def move(moment):
        time_machine.move_to(moment, tick=False)

    return move


def sign_in(client, user, password=DEFAULT_PASSWORD, **extra):
    return client.post(LOGIN, {"username": user.username, "password": password, **extra})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# The rule -----------------------------------------------------------------------------------


def test_a_password_expires_365_days_after_it_was_set(user):
    assert password_expires_at(user) == EXPIRES
    assert not password_is_expired(user, now=EXPIRES - SECOND)
    assert password_is_expired(user, now=EXPIRES)


def test_never_changed_counts_from_account_creation(user):
    User.objects.filter(pk=user.pk).update(password_changed_at=None, date_joined=CHANGED)
    user.refresh_from_db()
    assert password_expires_at(user) == EXPIRES


def test_expiry_can_be_set_and_turned_off(user, settings):
    settings.ACCOUNTS_PASSWORD_EXPIRY_DAYS = 90
    assert password_expires_at(user) == CHANGED + timedelta(days=90)
    settings.ACCOUNTS_PASSWORD_EXPIRY_DAYS = 0
    assert password_expires_at(user) is None
    assert not password_is_expired(user, now=CHANGED + timedelta(days=3650))


def test_default_is_365_days_from_the_environment():
    assert django_settings.ACCOUNTS_PASSWORD_EXPIRY_DAYS == 365


# The warning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before_expiry", "warned"),
    [
        (timedelta(days=14) + SECOND, False),
        (timedelta(days=14), True),
        (timedelta(days=14) - SECOND, True),
        (SECOND, True),
    ],
)
def test_sign_in_warns_within_14_days(client, user, at, before_expiry, warned):
    at(EXPIRES - before_expiry)
    response = sign_in(client, user)
    assert signed_in(client)
    assert response.url == (EXPIRING if warned else HOME)


def test_warning_offers_to_change_now_or_continue(client, user, at):
    at(EXPIRES - timedelta(days=3))
    response = sign_in(client, user, next="/whitepages/")
    assert response.url == f"{EXPIRING}?next=%2Fwhitepages%2F"
    page = client.get(response.url)
    assert page.status_code == HTTPStatus.OK
    assert b"Password expiring soon" in page.content
    assert b"Your password is due to expire on January 10, 2027" in page.content
    assert b"in 3 days" in page.content
    assert f'href="{reverse("accounts:password_change")}"'.encode() in page.content
    assert b'href="/whitepages/">Continue' in page.content


def test_warning_page_outside_the_window_goes_on(client, user, at):
    at(EXPIRES - timedelta(days=30))
    client.force_login(user)
    assert client.get(EXPIRING, {"next": "/whitepages/"}).url == "/whitepages/"
    assert client.get(EXPIRING, {"next": "//evil.example/"}).url == HOME


# Expired: a pending sign-in until the password is replaced -------------------------------


@pytest.mark.parametrize(("offset", "expired"), [(-SECOND, False), (0, True), (SECOND, True)])
def test_expiry_second(client, user, at, offset, expired):
    at(EXPIRES + (offset or timedelta(0)))
    response = sign_in(client, user)
    assert signed_in(client) is not expired
    assert (response.url == EXPIRED) is expired


def test_a_wrong_password_does_not_reveal_expiry(client, user, at):
    at(EXPIRES + SECOND)
    response = sign_in(client, user, password="not the password at all")
    assert response.status_code == HTTPStatus.OK
    assert b"username or password is not right" in response.content
    assert b"expired" not in response.content


def test_expired_password_must_be_changed_before_anything_else(client, user, at, outbox):
    at(EXPIRES + SECOND)
    client.get(LOGIN)
    first_key = client.session.session_key
    response = sign_in(client, user, next="/whitepages/")
    assert response.url == EXPIRED
    assert client.session.session_key != first_key, "the password step rotates the key"
    assert not signed_in(client)
    assert AuditEvent.objects.filter(event="signin.password_expired", subject=user).exists()

    for private in [reverse("accounts:preferences"), "/whitepages/", EXPIRING, DONE]:
        reached = client.get(private)
        assert reached.status_code == HTTPStatus.FOUND, private
        assert reached.url.startswith(LOGIN), private
    assert user.username.encode() not in client.get(HOME).content

    page = client.get(EXPIRED)
    assert b"Your password has expired" in page.content
    client.post(EXPIRED, captcha_answer(page))
    assert b"Email to m***@example.org" in client.get(EXPIRED_SEND).content
    client.post(EXPIRED_SEND, {"channel": Channel.objects.get(user=user).pk})
    assert client.get(reverse("accounts:preferences")).url.startswith(LOGIN)
    key_before_code = client.session.session_key
    proven = client.post(EXPIRED_CODE, {"code": code_sent_to(outbox, SAFECODE_EMAIL)})
    assert proven.url == EXPIRED_NEW
    assert client.session.session_key != key_before_code
    assert not signed_in(client)

    for value in client.session.values():
        assert DEFAULT_PASSWORD not in str(value), "the session holds no password"

    refused = client.post(
        EXPIRED_NEW, {"password1": DEFAULT_PASSWORD, "password2": DEFAULT_PASSWORD}
    )
    assert b"You used this password recently." in refused.content
    assert not signed_in(client)

    response = client.post(EXPIRED_NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.url == f"{DONE}?next=%2Fwhitepages%2F"
    assert signed_in(client) and int(client.session["_auth_user_id"]) == user.pk
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not password_is_expired(user)
    assert AuditEvent.objects.get(event="password.changed", subject=user).detail["how"] == "expired"
    done = client.get(response.url)
    assert b"VPN clients" in done.content
    assert b'href="/whitepages/"' in done.content


def test_pending_sign_in_has_a_deadline(client, user, at, time_machine):
    at(EXPIRES + SECOND)
    sign_in(client, user)
    assert client.get(EXPIRED).status_code == HTTPStatus.OK
    time_machine.shift(timedelta(minutes=15) + SECOND)
    response = client.get(EXPIRED)
    assert response.url == LOGIN
    assert "flow:password_expired" not in client.session


def test_pending_steps_cannot_be_skipped(client, user, at):
    at(EXPIRES + SECOND)
    sign_in(client, user)
    assert client.get(EXPIRED_NEW).url == EXPIRED
    assert client.get(EXPIRED_CODE).url == EXPIRED
    posted = client.post(EXPIRED_NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert posted.url == EXPIRED
    assert not signed_in(client)


def test_no_pending_sign_in_no_expired_pages(client):
    assert client.get(EXPIRED).url == LOGIN
    assert client.get(EXPIRED_NEW).url == LOGIN


def test_expired_without_safecode_is_offered_to_register_one_first(client, at):
    user = UserFactory(password_changed_at=CHANGED)
    at(EXPIRES + SECOND)
    sign_in(client, user)
    page = client.get(EXPIRED, follow=True)
    assert b"Register a SafeCode contact" in page.content
    assert django_settings.SERVICE_DESK_PHONE.encode() in page.content
    assert not signed_in(client)


def test_signing_in_with_an_expired_password_signs_out_an_earlier_session(client, user, at):
    at(EXPIRES + SECOND)
    other = UserFactory()
    ChannelFactory(user=other)
    client.force_login(other)
    sign_in(client, user)
    assert not signed_in(client)


# Reminders ----------------------------------------------------------------------------------


def reminders(outbox, user):
    return [m for m in outbox if m.recipient == user.email and "expires in" in m.subject]


@pytest.mark.parametrize("days", [14, 7, 1])
def test_reminder_is_sent_once_at_each_threshold(user, outbox, days):
    now = EXPIRES - timedelta(days=days)
    assert password_expiry_reminders_send(now=now) == 1
    assert password_expiry_reminders_send(now=now) == 0
    assert password_expiry_reminders_send(now=now + timedelta(hours=20)) == 0
    sent = reminders(outbox, user)
    assert len(sent) == 1
    assert f"expires in {days} day" in sent[0].subject
    event = AuditEvent.objects.get(event="password.expiry_reminder", subject=user)
    assert event.detail == {"days": days, "expires_at": EXPIRES.isoformat()}


def test_a_year_of_daily_runs_sends_three_reminders(user, outbox):
    day = CHANGED + timedelta(hours=7)
    while day < EXPIRES + timedelta(days=3):
        password_expiry_reminders_send(now=day)
        day += timedelta(days=1)
    subjects = [m.subject for m in reminders(outbox, user)]
    assert [s.split("expires in ")[1] for s in subjects] == ["14 days", "7 days", "1 day"]


def test_no_reminder_before_the_window_or_after_expiry(user, outbox):
    assert password_expiry_reminders_send(now=EXPIRES - timedelta(days=14) - SECOND) == 0
    assert password_expiry_reminders_send(now=EXPIRES) == 0
    assert not reminders(outbox, user)


def test_a_missed_day_sends_only_the_reminder_now_due(user, outbox):
    assert password_expiry_reminders_send(now=EXPIRES - timedelta(days=6)) == 1
    assert "expires in 7 days" in reminders(outbox, user)[0].subject


def test_a_new_password_starts_the_reminders_again(user, outbox):
    password_expiry_reminders_send(now=EXPIRES - timedelta(days=14))
    User.objects.filter(pk=user.pk).update(password_changed_at=CHANGED + timedelta(days=300))
    later = CHANGED + timedelta(days=300 + 365 - 14)
    assert password_expiry_reminders_send(now=later) == 1


def test_inactive_accounts_and_disabled_expiry_get_no_reminder(user, outbox, settings):
    settings.ACCOUNTS_PASSWORD_EXPIRY_DAYS = 0
    assert password_expiry_reminders_send(now=EXPIRES - timedelta(days=7)) == 0
    settings.ACCOUNTS_PASSWORD_EXPIRY_DAYS = 365
    User.objects.filter(pk=user.pk).update(status=User.Status.DEACTIVATED)
    assert password_expiry_reminders_send(now=EXPIRES - timedelta(days=7)) == 0


def test_daily_task_is_scheduled_and_calls_the_service(user, outbox, at):
    from accounts.tasks import send_password_expiry_reminders

    entry = django_settings.CELERY_BEAT_SCHEDULE["accounts-password-expiry-reminders"]
    assert entry["task"] == send_password_expiry_reminders.name
    at(EXPIRES - timedelta(days=1))
    assert send_password_expiry_reminders.apply().get() == 1
    assert send_password_expiry_reminders.apply().get() == 0
