"""Registration as people do it, in a real browser: from the directory, by date of birth,
outside the directory with service-desk approval, and the guessing defence."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.e2e.helpers import expect_heading, read_latest_code, read_latest_message, snap
from tests.factories import PersonFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "quiet lantern over the river"


def fill_details(page, *, last_name, huid="", dob=""):
    page.goto("/register/")
    page.get_by_label("Last name").fill(last_name)
    if huid:
        page.get_by_label("Harvard ID").fill(huid)
    if dob:
        page.get_by_label("Date of birth").fill(dob)
    page.get_by_role("button", name="Continue").click()


def choose_account(page, username):
    expect_heading(page, "Choose your username and password")
    page.get_by_label("Username").fill(username)
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()


def test_register_with_harvard_id_and_last_name_lands_signed_in(page, dev_outbox):
    person = PersonFactory(last_name="Okafor")
    fill_details(page, last_name="okafor", huid=person.huid)
    expect_heading(page, "Check your email")
    code = read_latest_code(page, person.email)
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    choose_account(page, "new.okafor")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out")
    ).to_be_visible()
    snap(page, "registration-signed-in")
    assert User.objects.get(username="new.okafor").person == person


def test_affiliated_hospital_staff_register_by_date_of_birth(page, dev_outbox):
    person = PersonFactory(last_name="Delgado", date_of_birth=date(1981, 4, 12))
    fill_details(page, last_name="Delgado", dob="1981-04-12")
    code = read_latest_code(page, person.email)
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    choose_account(page, "delgado.bidmc")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out")
    ).to_be_visible()


def test_not_in_system_registers_by_email_link_and_is_approved_in_the_admin(page, dev_outbox):
    User.objects.create_superuser("desk.admin", "desk@hms.harvard.edu", "desk admin passphrase")
    fill_details(page, last_name="Stranger", huid="87654321")
    page.get_by_role("link", name="Continue").click()
    expect_heading(page, "Register as an affiliate")
    page.get_by_label("Your work email").fill("pat.lee@partners.org")
    page.get_by_role("button", name="Send me the link").click()
    expect(page.get_by_text("We sent a link to pat.lee@partners.org")).to_be_visible()

    body = read_latest_message(page, "pat.lee@partners.org")
    link = re.search(r"https?://\S+/register/affiliate/\S+/", body).group(0)
    page.goto(re.sub(r"^https?://[^/]+", "", link))
    expect_heading(page, "Finish registering")
    page.get_by_label("First name").fill("Pat")
    page.get_by_label("Last name").fill("Lee")
    page.get_by_label("Username").fill("pat.lee")
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    page.get_by_role("button", name="Send my request").click()
    expect_heading(page, "Your request is waiting for approval")

    page.goto("/admin/login/")
    page.get_by_label("Username").fill("desk.admin")
    page.get_by_label("Password").fill("desk admin passphrase")
    page.get_by_role("button", name="Sign in").click()
    page.goto("/admin/accounts/user/?status__exact=pending")
    page.get_by_role("row", name=re.compile("pat.lee")).get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option(label="Approve selected affiliate requests")
    page.get_by_role("button", name="Go").first.click()
    expect(page.get_by_text("1 account request(s) approved.")).to_be_visible()
    snap(page, "registration-affiliate-approved")
    assert User.objects.get(username="pat.lee").status == User.Status.ACTIVE
    assert "approved" in read_latest_message(page, "pat.lee@partners.org")


def test_five_wrong_attempts_block_the_harvard_id(page, dev_outbox):
    person = PersonFactory(last_name="Novak")
    for _ in range(5):
        fill_details(page, last_name="Nowak", huid=person.huid)
        expect_heading(page, "Check your email")
    fill_details(page, last_name="Novak", huid=person.huid)
    expect_heading(page, "Registration paused for this Harvard ID")
    snap(page, "registration-blocked")
