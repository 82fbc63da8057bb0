""" "Remember me for 30 days": the browser skips the second step of sign-in, and only that.

It is bound to the account, to the password and to the device list, and it can be forgotten:
each test signs in once with the box ticked, then signs in again as the person would.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services.password_change import password_apply
from tests.factories import ChannelFactory, UserFactory
from tests.twofactor.conftest import (
    DEVICES,
    VERIFY,
    make_device,
    password_step,
    second_step,
    signed_in_as,
)
from twofactor.models import RememberedBrowser
from twofactor.remember import REMEMBER_COOKIE
from twofactor.services import device_remove

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15"
SECOND = timedelta(seconds=1)


@pytest.fixture
def client():
    return Client(HTTP_USER_AGENT=BROWSER)


def remembered_sign_in(client, user, device):
    password_step(client, user)
    response = second_step(client, device, remember="on")
    assert response.status_code == HTTPStatus.FOUND
    assert REMEMBER_COOKIE in response.cookies
    client.post(reverse("accounts:logout"))
    assert signed_in_as(client) is None
    return response.cookies[REMEMBER_COOKIE]


def asks_for_the_second_step(client, user) -> bool:
    response = password_step(client, user)
    return response.url == VERIFY and signed_in_as(client) is None


def test_a_remembered_browser_skips_the_second_step(client, user, device):
    remembered_sign_in(client, user, device)
    assert not asks_for_the_second_step(client, user)
    assert signed_in_as(client) == user.pk


def test_the_cookie_is_httponly_and_lasts_30_days(client, user, device):
    cookie = remembered_sign_in(client, user, device)
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 30 * 24 * 3600
    assert RememberedBrowser.objects.get(user=user).user_agent == BROWSER


def test_without_the_box_the_browser_is_not_remembered(client, user, device):
    password_step(client, user)
    response = second_step(client, device)
    assert REMEMBER_COOKIE not in response.cookies
    client.post(reverse("accounts:logout"))
    assert asks_for_the_second_step(client, user)


def test_a_remembered_browser_skips_no_password(client, user, device):
    remembered_sign_in(client, user, device)
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": "not the password"}
    )
    assert signed_in_as(client) is None
    assert response.status_code == HTTPStatus.OK


def test_a_remembered_browser_is_not_remembered_after_a_password_change(client, user, device):
    remembered_sign_in(client, user, device)
    password_apply(user=user, new_password="granite swallow at dusk", how="change")
    response = client.post(
        reverse("accounts:login"),
        {"username": user.username, "password": "granite swallow at dusk"},
    )
    assert response.url == VERIFY
    assert signed_in_as(client) is None


def test_a_remembered_browser_is_not_remembered_after_a_device_is_removed(client, user, device):
    spare = make_device(user, kind="tablet", name="My iPad")
    remembered_sign_in(client, user, device)
    device_remove(device=spare)
    assert asks_for_the_second_step(client, user)


def test_a_forgotten_browser_is_not_remembered(client, user, device):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        remembered_sign_in(client, user, device)
        browser = RememberedBrowser.objects.get(user=user)
        # Forgotten from My Settings & Devices, signed in elsewhere with the next passcode.
        clock.shift(timedelta(seconds=30))
        other = Client()
        password_step(other, user)
        second_step(other, device)
        response = other.post(reverse("twofactor:browser_forget", args=[browser.pk]))
    assert response.url == DEVICES
    assert not RememberedBrowser.objects.filter(pk=browser.pk).exists()
    assert asks_for_the_second_step(client, user)


def test_a_cookie_copied_to_another_account_does_not_skip_its_second_step(client, user, device):
    cookie = remembered_sign_in(client, user, device)
    other = UserFactory()
    ChannelFactory(user=other)
    make_device(other, name="Their phone")
    thief = Client(HTTP_USER_AGENT=BROWSER)
    thief.cookies[REMEMBER_COOKIE] = cookie.value
    assert asks_for_the_second_step(thief, other)
    # The cookie still works for the account it was issued to.
    assert not asks_for_the_second_step(thief, user)


def test_a_forged_cookie_does_not_skip_the_second_step(client, user, device):
    remembered_sign_in(client, user, device)
    browser = RememberedBrowser.objects.get(user=user)
    forged = Client()
    forged.cookies[REMEMBER_COOKIE] = f"{browser.pk}:guessed-secret"
    assert asks_for_the_second_step(forged, user)
    forged.cookies[REMEMBER_COOKIE] = "1:2:3"
    assert asks_for_the_second_step(forged, user)


@pytest.mark.parametrize(
    ("after", "remembered"),
    [(timedelta(days=30) - SECOND, True), (timedelta(days=30) + SECOND, False)],
)
def test_a_browser_is_remembered_for_30_days(client, user, device, after, remembered, settings):
    # The session and the password outlive the test's month.
    settings.ACCOUNTS_PASSWORD_EXPIRY_DAYS = 0
    with time_machine.travel(timezone.now(), tick=False) as clock:
        remembered_sign_in(client, user, device)
        clock.shift(after)
        assert asks_for_the_second_step(client, user) is not remembered


def test_a_remembered_sign_in_is_not_a_fresh_second_factor(client, user, device):
    remembered_sign_in(client, user, device)
    password_step(client, user)
    assert signed_in_as(client) == user.pk
    response = client.post(reverse("twofactor:device_default", args=[device.pk]))
    assert response.url.startswith(reverse("twofactor:confirm"))
    assert "otp_device_id" not in client.session


def test_the_session_cookie_name_is_not_the_remember_cookie():
    assert django_settings.SESSION_COOKIE_NAME != REMEMBER_COOKIE


def test_a_remembered_browser_still_needs_a_fresh_second_factor_to_change_the_password(
    client, user, device
):
    from time_machine import travel

    from tests.twofactor.conftest import CONFIRM, app_passcode

    change = reverse("accounts:password_change")
    remembered_sign_in(client, user, device)
    # A minute on, so that the passcode of this step is a new one for the app.
    with travel(timezone.now() + timedelta(minutes=1), tick=False):
        password_step(client, user)
        asked = client.get(change)
        assert asked.url.startswith(CONFIRM)
        assert client.post(change, {"current_password": "x"}).url.startswith(CONFIRM)
        code = app_passcode(device)
        confirmed = client.post(
            asked.url, {"device": device.pk, "method": "passcode", "code": code, "next": change}
        )
        assert confirmed.url == change
        assert b"Current password" in client.get(change).content


def test_a_browser_made_stale_by_a_password_change_is_not_listed(client, user, device):
    from twofactor.services import browsers_remembered

    remembered_sign_in(client, user, device)
    assert browsers_remembered(user=user).count() == 1
    password_apply(user=user, new_password="a brand new passphrase here", how="change")
    assert browsers_remembered(user=user).count() == 0
