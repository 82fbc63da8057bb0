"""Pressing a button twice, and typing a later step's address, in a real browser.

"Create my account" double-clicked used to answer 500 and leave the account created but the
person signed out. Now the site's script disables a button once its form is sent, and without
the script (or when two posts race anyway) the second post finds the stage done and goes where
the first went.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.e2e.helpers import expect_heading, read_latest_code
from tests.factories import PHONE, ChannelFactory, PersonFactory, UserFactory, lock

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "quiet lantern over the river"


def reach_create_my_account(page, person) -> None:
    page.goto("/register/")
    page.get_by_label("Last name").fill(person.last_name)
    page.get_by_label("Harvard ID").fill(person.huid)
    page.get_by_role("button", name="Continue").click()
    expect_heading(page, "Check your email")
    page.get_by_label("6-digit code").fill(read_latest_code(page, person.email))
    page.get_by_role("button", name="Confirm").click()
    expect_heading(page, "Choose your username and password")
    page.get_by_label("Username").fill("double.click")
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)


def assert_signed_in_with_one_account(page, person) -> None:
    expect_heading(page, "Register for SafeCode")
    expect(
        page.get_by_text("Your account is ready. Your username is double.click.")
    ).to_be_visible()
    expect(page.get_by_text("Server Error")).to_have_count(0)
    assert User.objects.filter(person=person).count() == 1


def test_create_my_account_double_clicked_signs_in_once(page, dev_outbox):
    person = PersonFactory()
    reach_create_my_account(page, person)
    page.get_by_role("button", name="Create my account").dblclick()
    assert_signed_in_with_one_account(page, person)


def test_without_the_script_a_double_click_still_ends_signed_in(browser, live_server, dev_outbox):
    """With JavaScript off nothing stops the browser from sending the form twice."""
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        person = PersonFactory()
        reach_create_my_account(page, person)
        page.get_by_role("button", name="Create my account").dblclick()
        page.wait_for_load_state()
        assert_signed_in_with_one_account(page, person)
    finally:
        context.close()


def test_a_later_step_typed_in_the_address_bar_shows_the_step_to_do(page, dev_outbox):
    dev_outbox.CAPTCHA_TEST_MODE = True
    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)
    page.goto("/unlock/code/")
    expect_heading(page, "Unlock your account")
    page.get_by_label("Username or Harvard ID").fill(user.username)
    page.get_by_label("Type the characters in the picture").fill("PASSED")
    page.get_by_role("button", name="Continue").click()
    expect_heading(page, "Send a SafeCode")

    page.goto("/unlock/done/")
    expect_heading(page, "Send a SafeCode")
    progress = page.get_by_role("navigation", name="Progress")
    expect(progress.locator('[aria-current="step"]')).to_contain_text("Send a SafeCode")

    page.get_by_role("button", name="Send a new code").click()
    page.get_by_label("6-digit code").fill(read_latest_code(page, PHONE))
    page.get_by_role("button", name="Unlock my account").click()
    expect_heading(page, "Your account is unlocked")
    page.go_back()
    page.reload()  # the code posted again: the unlocked page, not an error
    expect_heading(page, "Your account is unlocked")
    user.refresh_from_db()
    assert not user.is_locked
