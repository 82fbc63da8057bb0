"""Registration in a real browser as a person goes through it: the step bar on each page, a new
code asked for and used, the confirmation naming the username, and the page asked for before
registering reached at the end."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.app_settings import app_settings
from accounts.models import User
from tests.e2e.helpers import OUTBOX_RELOADS, expect_heading, read_latest_code, snap
from tests.factories import PersonFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "quiet lantern over the river"
ADDRESS = "/preferences/address/"


def expect_step(page, name: str) -> None:
    progress = page.get_by_role("navigation", name="Progress")
    expect(progress.locator('[aria-current="step"]')).to_contain_text(name)


def messages_to(page, recipient: str) -> int:
    outbox = page.context.new_page()
    try:
        outbox.goto("/dev/outbox/")
        return outbox.locator("main article").filter(has_text=recipient).count()
    finally:
        outbox.close()


def read_code_number(page, recipient: str, number: int) -> str:
    """The newest code once the outbox holds ``number`` messages to ``recipient``."""
    for _ in range(OUTBOX_RELOADS):
        if messages_to(page, recipient) >= number:
            return read_latest_code(page, recipient)
        page.wait_for_timeout(250)
    raise AssertionError(f"message {number} to {recipient} never arrived")


def fill_details(page, *, last_name, huid):
    page.get_by_label("Last name").fill(last_name)
    page.get_by_label("Harvard ID").fill(huid)
    page.get_by_role("button", name="Continue").click()


def test_register_with_a_new_code_and_land_on_the_page_asked_for(page, dev_outbox):
    person = PersonFactory(last_name="Achterberg")
    page.goto(f"/register/?next={ADDRESS}")
    expect_heading(page, "Register for an account")
    expect_step(page, "Your details")
    expect(page.get_by_text("Step 3: Only if you have no Harvard ID")).to_be_visible()
    fill_details(page, last_name="Achterberg", huid=person.huid)

    expect_heading(page, "Check your email")
    expect_step(page, "Confirm by email")
    expect(page.get_by_text("your institutional email, the address on file")).to_be_visible()
    first = read_code_number(page, person.email, 1)
    page.get_by_role("button", name="Send a new code").click()
    expect(
        page.get_by_text("we sent a new code to the institutional email on file")
    ).to_be_visible()
    second = read_code_number(page, person.email, 2)
    if first != second:
        page.get_by_label("6-digit code").fill(first)
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_text("Error: That code is not right")).to_be_visible()
    page.get_by_label("6-digit code").fill(second)
    page.get_by_role("button", name="Confirm").click()

    expect_heading(page, "Choose your username and password")
    expect_step(page, "Username and password")
    page.get_by_label("Username").fill("a.achterberg")
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    expect_heading(page, "Register for SafeCode")
    expect(
        page.get_by_text("Your account is ready. Your username is a.achterberg.")
    ).to_be_visible()
    snap(page, "registration-confirmed")
    page.get_by_role("button", name="Skip for now").click()
    expect_heading(page, "My Address")
    assert page.url.endswith(ADDRESS)
    expect(page.get_by_text("Your account is ready")).to_have_count(0)
    assert User.objects.get(username="a.achterberg").person == person


def test_past_the_limit_a_new_code_is_refused_with_the_time_it_lifts(page, dev_outbox):
    person = PersonFactory(last_name="Brandvold")
    page.goto("/register/")
    fill_details(page, last_name="Brandvold", huid=person.huid)
    expect_heading(page, "Check your email")
    for number in range(2, app_settings.REGISTRATION_CODES_PER_HOUR + 1):
        page.get_by_role("button", name="Send a new code").click()
        expect(page.get_by_text("we sent a new code")).to_be_visible()
        newest = read_code_number(page, person.email, number)

    page.get_by_role("button", name="Send a new code").click()

    expect(page.get_by_text("No new code was sent: a code was already sent")).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"You can ask for a new code at \d{1,2}:\d\d [AP]M"))
    ).to_be_visible()
    expect_step(page, "Confirm by email")
    snap(page, "registration-resend-refused")
    assert messages_to(page, person.email) == app_settings.REGISTRATION_CODES_PER_HOUR
    page.get_by_label("6-digit code").fill(newest)
    page.get_by_role("button", name="Confirm").click()
    expect_heading(page, "Choose your username and password")
