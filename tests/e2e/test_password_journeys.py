"""Locked out, unlocked, password changed, forgotten and expired, as a person meets them in a
browser. The live server runs with DEBUG and CAPTCHA test mode on, so the CAPTCHA is answered
with the word PASSED; codes are read from the dev outbox."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from safecode.models import Channel
from tests.e2e.helpers import expect_heading, log_in, read_latest_code, snap

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "quiet lantern over the river"
NEW_PASSWORD = "silver heron at low tide"
SAFECODE_EMAIL = "me@example.org"


@pytest.fixture
def captcha_test_mode(dev_outbox):
    dev_outbox.CAPTCHA_TEST_MODE = True
    return dev_outbox


@pytest.fixture
def person():
    """An account in the directory, with a verified SafeCode email."""
    from tests.factories import PersonFactory

    directory = PersonFactory(last_name="Okafor")
    user = get_user_model().objects.create_user(
        username="ada.okafor",
        password=PASSWORD,
        email="ada_okafor@hms.harvard.edu",
        person=directory,
        first_name=directory.first_name,
        last_name=directory.last_name,
        password_changed_at=timezone.now(),
    )
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.EMAIL,
        address=SAFECODE_EMAIL,
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    return user


def answer_captcha(page) -> None:
    expect(page.locator("img.captcha")).to_be_visible()
    page.get_by_label("Type the characters in the picture").fill("PASSED")


def send_code_by_email(page, choice: str | re.Pattern[str]) -> None:
    page.get_by_label(choice).check()
    page.get_by_role("button", name="Send a new code").click()
    expect_heading(page, "Enter your SafeCode")
    page.get_by_label("6-digit code").fill(read_latest_code(page, SAFECODE_EMAIL))


def choose_new_password(page) -> None:
    expect_heading(page, "Choose a new password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()


def expect_signed_in(page) -> None:
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out")
    ).to_be_visible()


def log_in_answering_the_picture(page, username: str, password: str) -> None:
    """Sign in; when the page asks for the picture as well, answer it and submit again."""
    log_in(page, username, password)
    if page.locator("img.captcha").count():
        page.get_by_label("Password", exact=True).fill(password)
        answer_captcha(page)
        page.get_by_role("button", name="Sign in").click()


def test_ten_wrong_passwords_lock_then_unlock_with_captcha_and_code(
    page, captcha_test_mode, person
):
    for attempt in range(10):
        log_in_answering_the_picture(page, person.username, f"wrong guess number {attempt}")
        expect(page.get_by_text("The username or password is not right")).to_be_visible()
    person.refresh_from_db()
    assert person.is_locked

    # The right password now reads like a wrong one; the page says what locks an account.
    log_in_answering_the_picture(page, person.username, PASSWORD)
    expect(page.get_by_text("The username or password is not right")).to_be_visible()
    expect(
        page.get_by_text("Ten wrong passwords in a row lock an account. If yours")
    ).to_be_visible()
    snap(page, "password-locked")
    page.get_by_role("link", name="unlock it with a SafeCode").click()

    expect_heading(page, "Unlock your account")
    expect(page.get_by_label("Username or Harvard ID")).to_have_value(person.username)
    answer_captcha(page)
    page.get_by_role("button", name="Continue").click()

    expect_heading(page, "Send a SafeCode")
    expect(page.get_by_text("No SafeCode, or a departmental account?")).to_be_visible()
    send_code_by_email(page, "Email to my SafeCode email address")
    expect(page.get_by_text("If this account is locked and has a SafeCode email")).to_be_visible()
    page.get_by_role("button", name="Unlock my account").click()

    expect_heading(page, "Your account is unlocked")
    snap(page, "password-unlocked")
    page.get_by_role("link", name="Sign in now").click()
    log_in_answering_the_picture(page, person.username, PASSWORD)
    expect_signed_in(page)
    person.refresh_from_db()
    assert not person.is_locked and person.failed_login_count == 0


def test_change_password_through_captcha_and_safecode(page, captcha_test_mode, person):
    log_in(page, person.username, PASSWORD)
    expect_signed_in(page)
    page.goto("/preferences/security/password/")

    expect_heading(page, "Change your password")
    page.get_by_label("Current password").fill("not my current one")
    answer_captcha(page)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("That is not your current password.").first).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    answer_captcha(page)
    page.get_by_role("button", name="Continue").click()
    expect_heading(page, "Send a SafeCode")
    send_code_by_email(page, "Email to m***@example.org")
    page.get_by_role("button", name="Confirm").click()

    choose_new_password(page)

    expect_heading(page, "Your password is changed")
    expect(page.get_by_text("VPN clients")).to_be_visible()
    snap(page, "password-changed")
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()
    log_in(page, person.username, NEW_PASSWORD)
    expect_signed_in(page)


def test_forgotten_password_by_email_address(page, captcha_test_mode, person):
    page.goto("/login/")
    page.get_by_role("main").get_by_role("link", name="Forgot my password").click()

    expect_heading(page, "Forgotten or expired password")
    page.get_by_label("Username, Harvard ID or email address").fill(person.email)
    page.get_by_label("Last name").fill("okafor")
    page.get_by_label(re.compile("^Date of birth")).fill(person.person.date_of_birth.isoformat())
    answer_captcha(page)
    page.get_by_role("button", name="Continue").click()

    expect_heading(page, "Send a SafeCode")
    # Every SafeCode contact is the default, so a person who does not remember which one the
    # account holds (here only an email) gets the code at the first try.
    expect(page.get_by_label("All my SafeCode contacts")).to_be_checked()
    expect(page.get_by_text("Codes are limited: one a minute")).to_be_visible()
    send_code_by_email(page, "All my SafeCode contacts")
    expect(page.get_by_text("has SafeCode contacts, we sent a code to them")).to_be_visible()
    expect(page.get_by_text("You can ask for a new code in")).to_be_visible()
    page.get_by_role("button", name="Confirm").click()
    choose_new_password(page)

    expect_heading(page, "Your password is reset")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out")
    ).to_have_count(0)
    snap(page, "password-reset")
    page.get_by_role("link", name="Sign in with your new password").click()
    log_in(page, person.username, NEW_PASSWORD)
    expect_signed_in(page)


def test_expired_password_must_be_changed_at_sign_in(page, captcha_test_mode, person):
    get_user_model().objects.filter(pk=person.pk).update(
        password_changed_at=timezone.now() - timedelta(days=366)
    )
    log_in(page, person.username, PASSWORD)

    expect_heading(page, "Your password has expired")
    snap(page, "password-expired")
    page.goto("/preferences/")
    expect_heading(page, "Sign in")
    page.goto("/password/expired/")

    answer_captcha(page)
    page.get_by_role("button", name="Continue").click()
    send_code_by_email(page, "Email to m***@example.org")
    page.get_by_role("button", name="Confirm").click()
    choose_new_password(page)

    expect_heading(page, "Your password is changed")
    expect_signed_in(page)
    page.get_by_role("link", name="Continue").click()
    expect_signed_in(page)
