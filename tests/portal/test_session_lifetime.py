"""Session lifetimes over HTTP: the idle timeout, the admin's shorter one, the absolute lifetime.

Defaults: 30 minutes idle, 10 minutes idle for the admin, 12 hours from sign-in. Each limit is
tried one second before and one second after, with a frozen clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.test import override_settings
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.safecode.conftest import make_channel

START = datetime(2025, 3, 4, 15, 0, 0, tzinfo=UTC)
IDLE = 30 * 60
ADMIN_IDLE = 10 * 60
ABSOLUTE = 12 * 60 * 60

LOGIN = reverse("accounts:login")
HOME = reverse("home")
ACCOUNT = reverse("accounts:preferences")
CHANGE_PASSWORD = reverse("accounts:password_change")
ADMIN = reverse("admin:index")

IDLE_MESSAGE = "You were signed out after 30 minutes without activity. Sign in again."


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def at(clock, seconds: int) -> None:
    """Move the frozen clock to ``seconds`` after START."""
    clock.move_to(START + timedelta(seconds=seconds), tick=False)


@pytest.fixture
def person(db, clock):
    user = UserFactory()
    make_channel(user)  # no SafeCode prompt in the way
    return user


@pytest.fixture
def staff(db, clock):
    user = UserFactory(is_staff=True, is_superuser=True)
    make_channel(user)
    return user


def sign_in(client, user) -> None:
    response = client.post(LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == HOME


def shows_account(response, user) -> bool:
    """The page is served to the signed-in person: the Sign out button is in its navigation."""
    body = response.content.decode()
    return (
        response.status_code == HTTPStatus.OK and '<button type="submit">Sign out</button>' in body
    )


def sent_to_sign_in(response, path: str) -> bool:
    """A redirect to the sign-in page that comes back to ``path`` afterwards."""
    if response.status_code != HTTPStatus.FOUND:
        return False
    target = urlsplit(response["Location"])
    return target.path == LOGIN and parse_qs(target.query).get("next") == [path]


def expiries(user) -> list[str]:
    return list(
        AuditEvent.objects.filter(event="session.expired", subject=user).values_list(
            "detail__reason", flat=True
        )
    )


def stored_session(client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


# Idle timeout -------------------------------------------------------------------------------


def test_a_session_idle_one_second_under_the_limit_is_kept(client, person, clock):
    sign_in(client, person)

    at(clock, IDLE - 1)

    assert shows_account(client.get(ACCOUNT), person)
    assert expiries(person) == []


def test_a_session_idle_one_second_over_the_limit_is_signed_out(client, person, clock):
    sign_in(client, person)
    old_key = client.cookies["sessionid"].value

    at(clock, IDLE + 1)
    response = client.get(ACCOUNT)

    assert sent_to_sign_in(response, ACCOUNT)
    sign_in_page = client.get(response["Location"])
    assert sign_in_page.status_code == HTTPStatus.OK
    assert IDLE_MESSAGE in sign_in_page.content.decode()
    assert sent_to_sign_in(client.get(ACCOUNT), ACCOUNT)  # still signed out
    assert not Session.objects.filter(session_key=old_key).exists()
    assert expiries(person) == ["idle"]


def test_a_public_page_after_the_idle_limit_is_shown_signed_out_with_the_reason(
    client, person, clock
):
    sign_in(client, person)

    at(clock, IDLE + 1)
    response = client.get(HOME)

    page = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert IDLE_MESSAGE in page
    assert ">Sign in</a>" in page
    assert f"Hello, {person.display_name}" not in page


def test_a_session_first_met_without_a_stamp_starts_its_lifetime_at_that_request(
    client, person, clock
):
    client.force_login(person)  # a session made without any request
    at(clock, 1000)
    assert shows_account(client.get(ACCOUNT), person)
    assert stored_session(client).expire_date == START + timedelta(seconds=1000 + ABSOLUTE)

    at(clock, 1000 + IDLE - 1)
    assert shows_account(client.get(ACCOUNT), person)

    at(clock, 1000 + IDLE - 1 + IDLE + 1)
    assert sent_to_sign_in(client.get(ACCOUNT), ACCOUNT)


@override_settings(SESSION_IDLE_SECONDS=5 * 60)
def test_the_idle_limit_follows_the_setting(client, person, clock):
    sign_in(client, person)

    at(clock, 5 * 60 - 1)
    assert shows_account(client.get(ACCOUNT), person)

    at(clock, 5 * 60 - 1 + 5 * 60 + 1)
    response = client.get(ACCOUNT, follow=True)
    assert "You were signed out after 5 minutes without activity." in response.content.decode()


# Absolute lifetime --------------------------------------------------------------------------


def keep_busy(client, user, clock, *, until: int) -> None:
    """A script that opens a page every minute; every hour one that writes the session."""
    for second in range(60, until + 1, 60):
        at(clock, second)
        path = CHANGE_PASSWORD if second % 3600 == 0 else ACCOUNT
        response = client.get(path)
        assert response.status_code == HTTPStatus.OK, (second, response.get("Location"))


def test_activity_keeps_a_session_past_the_idle_window_but_not_past_the_absolute_lifetime(
    client, person, clock
):
    sign_in(client, person)
    keep_busy(client, person, clock, until=ABSOLUTE - 60)

    at(clock, ABSOLUTE - 1)
    assert shows_account(client.get(ACCOUNT), person)

    at(clock, ABSOLUTE + 1)
    response = client.get(ACCOUNT)
    assert sent_to_sign_in(response, ACCOUNT)
    assert f"Hello, {person.display_name}" not in client.get(response["Location"]).content.decode()
    assert sent_to_sign_in(client.get(ACCOUNT), ACCOUNT)


def test_the_stored_session_and_its_cookie_end_at_the_absolute_lifetime(client, person, clock):
    sign_in(client, person)
    end = START + timedelta(seconds=ABSOLUTE)
    assert stored_session(client).expire_date == end

    at(clock, 20 * 60)
    response = client.get(CHANGE_PASSWORD)  # this page writes the session

    assert response.status_code == HTTPStatus.OK
    assert stored_session(client).expire_date <= end
    cookie = response.cookies["sessionid"]
    assert int(cookie["max-age"]) <= ABSOLUTE - 20 * 60


@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies")
def test_the_absolute_lifetime_holds_where_the_session_store_would_keep_the_session(
    client, person, clock
):
    """Signed-cookie sessions are renewed by every write; the lifetime still ends at 12 hours."""
    sign_in(client, person)
    keep_busy(client, person, clock, until=ABSOLUTE - 60)

    at(clock, ABSOLUTE - 1)
    assert shows_account(client.get(ACCOUNT), person)

    at(clock, ABSOLUTE + 1)
    response = client.get(ACCOUNT)

    assert sent_to_sign_in(response, ACCOUNT)
    sign_in_page = client.get(response["Location"]).content.decode()
    assert "You were signed out because a sign-in lasts at most 12 hours." in sign_in_page
    assert expiries(person) == ["absolute"]


# The admin's shorter idle timeout -----------------------------------------------------------


def test_the_admin_one_second_under_its_idle_limit_is_served(client, staff, clock):
    client.force_login(staff)
    assert client.get(ADMIN).status_code == HTTPStatus.OK  # the session is stamped here

    at(clock, ADMIN_IDLE - 1)

    assert client.get(ADMIN).status_code == HTTPStatus.OK
    assert expiries(staff) == []


def test_the_admin_one_second_over_its_idle_limit_ends_the_session(client, staff, clock):
    client.force_login(staff)
    assert client.get(ADMIN).status_code == HTTPStatus.OK

    at(clock, ADMIN_IDLE + 1)
    response = client.get(ADMIN)

    assert response.status_code == HTTPStatus.FOUND
    assert "login" in response["Location"]
    sign_in_page = client.get(response["Location"], follow=True).content.decode()
    assert (
        "You were signed out of the admin after 10 minutes without activity. Sign in again."
        in sign_in_page
    )
    assert sent_to_sign_in(client.get(ACCOUNT), ACCOUNT)  # signed out of the portal too
    assert expiries(staff) == ["admin_idle"]


def test_a_portal_page_after_the_admin_limit_but_before_the_portal_limit_is_served(
    client, staff, clock
):
    client.force_login(staff)
    assert client.get(ADMIN).status_code == HTTPStatus.OK

    at(clock, ADMIN_IDLE + 1)
    assert shows_account(client.get(ACCOUNT), staff)
    # That page was activity: the admin is open again for another ten minutes.
    assert client.get(ADMIN).status_code == HTTPStatus.OK
    assert expiries(staff) == []
