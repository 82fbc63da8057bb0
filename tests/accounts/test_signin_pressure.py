"""A spray from more addresses than the per-IP rules see is cut off before the password hash,
and people at the browser they usually sign in from do not notice.

Every test sprays over HTTP, each attempt from its own address, as a botnet would.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import SignInFailure
from accounts.services.known_browsers import COOKIE_NAME
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import captcha_answer

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")
SPRAY = 12


@pytest.fixture(autouse=True)
def pressure_after_a_dozen(settings):
    settings.ACCOUNTS_SIGNIN_PRESSURE_FAILURES = SPRAY


@pytest.fixture
def verifications(monkeypatch) -> list[str]:
    """One "hash" per real password verification, one "wait" per wait that stands in for one."""
    import accounts.services.passwords
    from portal.hashers import PortalArgon2PasswordHasher

    seen: list[str] = []
    verify = PortalArgon2PasswordHasher.verify
    wait = accounts.services.passwords.verification_wait

    def counted_verify(self, password, encoded):
        seen.append("hash")
        return verify(self, password, encoded)

    def counted_wait():
        seen.append("wait")
        wait()

    monkeypatch.setattr(PortalArgon2PasswordHasher, "verify", counted_verify)
    monkeypatch.setattr(accounts.services.passwords, "verification_wait", counted_wait)
    return seen


def attempt(client, username, password, address, **data):
    return client.post(
        LOGIN, {"username": username, "password": password, **data}, REMOTE_ADDR=address
    )


def spray(count: int = SPRAY, start: int = 0) -> None:
    """Wrong passwords at other people's names and at names no one has, one per address."""
    victims = UserFactory.create_batch(3)
    for n in range(start, start + count):
        name = victims[n % 3].username if n % 2 else f"nobody.{n}"
        attempt(Client(), name, f"Spring{n}!", f"198.51.{n // 250}.{n % 250 + 1}")


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_under_a_spray_an_unknown_browser_is_sent_to_answer_a_captcha_before_any_hash(
    verifications,
):
    victim = UserFactory()
    spray()
    failures = SignInFailure.objects.count()
    verifications.clear()

    bot = Client()
    answer = attempt(bot, victim.username, DEFAULT_PASSWORD, "203.0.113.7")

    assert answer.status_code == HTTPStatus.FOUND and answer["Location"] == LOGIN
    assert not signed_in(bot)
    assert verifications == [], "the password was checked before the CAPTCHA"
    assert SignInFailure.objects.count() == failures
    page = bot.get(answer["Location"], REMOTE_ADDR="203.0.113.7")
    assert b'name="captcha_0"' in page.content
    assert b"the portal now asks for the characters in the picture" in page.content
    assert b"Type your name and password again" in page.content
    assert b'role="alert"' in page.content


def test_a_person_at_a_new_browser_answers_the_captcha_and_signs_in(verifications):
    person = UserFactory()
    spray()
    verifications.clear()
    browser = Client()
    page = browser.get(LOGIN, REMOTE_ADDR="203.0.113.8")
    assert b'name="captcha_0"' in page.content

    answer = attempt(
        browser, person.username, DEFAULT_PASSWORD, "203.0.113.8", **captcha_answer(page)
    )

    assert answer.status_code == HTTPStatus.FOUND and answer["Location"] != LOGIN
    assert signed_in(browser)
    assert verifications.count("hash") == 1


def test_a_browser_that_signed_in_before_signs_in_during_a_spray_without_a_captcha():
    person = UserFactory()
    browser = Client()
    assert attempt(browser, person.username, DEFAULT_PASSWORD, "203.0.113.9").status_code == 302
    assert COOKIE_NAME in browser.cookies
    browser.post(reverse("accounts:logout"), REMOTE_ADDR="203.0.113.9")
    assert not signed_in(browser)
    spray()

    page = browser.get(LOGIN, REMOTE_ADDR="203.0.113.10")
    assert b'name="captcha_0"' not in page.content
    answer = attempt(browser, person.username, DEFAULT_PASSWORD, "203.0.113.10")

    assert answer.status_code == HTTPStatus.FOUND and answer["Location"] != LOGIN
    assert signed_in(browser)


def test_the_cookie_names_no_one_and_vouches_only_for_the_account_that_signed_in():
    person, other = UserFactory(), UserFactory()
    browser = Client()
    attempt(browser, person.username, DEFAULT_PASSWORD, "203.0.113.11")
    cookie = browser.cookies[COOKIE_NAME]
    assert person.username not in cookie.value
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    browser.post(reverse("accounts:logout"), REMOTE_ADDR="203.0.113.11")
    spray()

    # Another account typed in the same browser is asked for the picture with the name kept.
    answer = attempt(browser, other.username, DEFAULT_PASSWORD, "203.0.113.11")
    assert answer.status_code == HTTPStatus.OK
    assert b'name="captcha_0"' in answer.content
    assert other.username.encode() in answer.content
    assert not signed_in(browser)


def test_a_forged_or_altered_cookie_vouches_for_no_one():
    person = UserFactory()
    spray()
    for forged in ("", "W10:1abc:forged", "not a signed value at all"):
        bot = Client()
        bot.cookies[COOKIE_NAME] = forged
        answer = attempt(bot, person.username, DEFAULT_PASSWORD, "203.0.113.12")
        assert answer.status_code == HTTPStatus.FOUND and answer["Location"] == LOGIN
        assert not signed_in(bot)


def test_without_a_spray_no_one_is_asked_for_a_captcha():
    spray(SPRAY - 1)
    person = UserFactory()
    browser = Client()
    assert b'name="captcha_0"' not in browser.get(LOGIN, REMOTE_ADDR="203.0.113.13").content
    assert attempt(browser, person.username, DEFAULT_PASSWORD, "203.0.113.13").status_code == 302
    assert signed_in(browser)


def test_every_door_that_takes_a_password_keeps_the_rule():
    """authenticate() (the admin, any later door) cannot show a CAPTCHA, so it refuses."""
    person = UserFactory()
    spray()
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="203.0.113.14")
    assert authenticate(request, username=person.username, password=DEFAULT_PASSWORD) is None


def test_an_unknown_name_takes_the_time_of_three_verifications_and_hashes_nothing(
    client, verifications
):
    """The old-password trap checks two previous passwords: an unknown name must take as long
    as a wrong password for a real account, but it waits instead of hashing."""
    person = UserFactory()
    attempt(client, person.username, "warming the clock", "192.0.2.1")
    verifications.clear()

    attempt(client, "no.such.person", "a guess", "192.0.2.2")

    assert verifications == ["wait", "wait", "wait"]
