"""Guest access as the people involved meet it in a browser.

A full-time faculty member (the demo's Fiona Faculty) asks for guest access on the Invited
User Request Form and reads the guest key off the screen; the guest, in a browser of their
own, registers with their last name and the key, sets up SafeCode and two-factor, and lands
signed in; the sponsor then revokes them, and the guest's browser is signed out at its next
page and cannot sign in again. A wrong key at registration gets the one generic answer, read
out and focused like every other form's errors.

The live server runs with DEBUG on, so codes land in the dev outbox; the guest's
authenticator app is played by pyotp (``AuthenticatorApp``), from the key the activation page
shows for typing by hand.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Affiliation, User
from guests.models import Sponsorship
from guests.services.redemption import REFUSED
from guests.services.sponsorship import GuestDetails, guest_request_create
from tests.e2e.conftest import DEFAULT_TIMEOUT_MS
from tests.e2e.helpers import expect_heading, log_in, read_latest_code, snap
from tests.e2e.test_twofactor_journeys import (
    MOBILE_NUMBER,
    AuthenticatorApp,
    choose_device_type,
    expect_signed_in,
    expect_signed_out,
    main_nav,
    verify_with_app,
)
from tests.factories import ChannelFactory, PersonFactory, UserFactory
from tests.twofactor.conftest import make_device

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SPONSOR_USERNAME = "faculty.demo"
SPONSOR_PASSWORD = "demo-password-2026"
GUEST_FIRST, GUEST_LAST = "Gina", "Gallagher"
GUEST_NAME = f"{GUEST_FIRST} {GUEST_LAST}"
GUEST_EMAIL = "gina.gallagher@example.org"
GUEST_USERNAME = "gina.gallagher"
GUEST_PASSWORD = "seven herons above the marsh"
GUEST_SAFECODE_EMAIL = "gina.g@example.net"
KEY_SHAPE = re.compile(r"[2-9A-HJKMNP-TV-Z]{4}(-[2-9A-HJKMNP-TV-Z]{4}){4}")


@pytest.fixture
def guest_page(browser, live_server, request):
    """The guest's own browser: a second context, sharing nothing with the sponsor's."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    guest_page = context.new_page()
    yield guest_page
    try:
        snap(guest_page, f"{request.node.name}-guest")
    finally:
        context.close()


def demo_faculty() -> User:
    """faculty.demo as ``seed_demo`` makes it (Fiona Faculty, full-time faculty), with a
    verified SafeCode so that no prompt comes between sign-in and the page asked for."""
    person = PersonFactory(
        huid="10000002",
        first_name="Fiona",
        last_name="Faculty",
        affiliation=Affiliation.FACULTY,
        full_time=True,
        email="fiona_faculty@hms.harvard.edu",
    )
    sponsor = UserFactory(username=SPONSOR_USERNAME, person=person, password=SPONSOR_PASSWORD)
    ChannelFactory(user=sponsor)
    return sponsor


# Steps a person takes -------------------------------------------------------------------------


def sign_out(page: Page) -> None:
    main_nav(page).get_by_role("button", name="Sign out").click()
    expect_signed_out(page)


def request_guest_access(page: Page) -> str:
    """From My guests, the Invited User Request Form filled in and sent: the key shown."""
    page.goto("/guests/")
    expect_heading(page, "My guests")
    expect(page.get_by_text("You sponsor no guests yet.")).to_be_visible()
    page.get_by_role("link", name="Request guest access").click()

    expect_heading(page, "Invited User Request Form")
    today = timezone.localdate()
    page.get_by_label("Guest's first name").fill(GUEST_FIRST)
    page.get_by_label("Guest's last name").fill(GUEST_LAST)
    page.get_by_label("Guest's email").fill(GUEST_EMAIL)
    page.get_by_label("Organisation").fill("Broad Institute")
    page.get_by_label("Purpose of access").fill("Imaging pipeline for the Faculty lab.")
    page.get_by_label("Start date").fill(today.isoformat())
    page.get_by_label("End date").fill((today + timedelta(days=90)).isoformat())
    page.get_by_label(re.compile("^I attest that I know this person")).check()
    snap(page, "guests-request-form")
    page.get_by_role("button", name="Submit and get the guest key").click()

    expect_heading(page, f"Guest key for {GUEST_NAME}")
    expect(page.get_by_role("status").filter(has_text="the guest key is ready")).to_be_visible()
    key = page.locator("code#guest-key")
    expect(key).to_have_text(KEY_SHAPE)
    # Hidden in the markup; the page's script reveals them.
    expect(page.get_by_role("button", name="Copy the key")).to_be_visible()
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    snap(page, "guests-key")
    return key.inner_text().strip()


def register_with_key(page: Page, *, last_name: str, key: str) -> None:
    page.goto("/register/")
    expect_heading(page, "Register for an account")
    page.get_by_label("Last name").fill(last_name)
    page.get_by_label("Guest key").fill(key)
    page.get_by_role("button", name="Continue").click()


def set_up_safecode(page: Page) -> None:
    """The SafeCode prompt after the account is made: a personal email, confirmed."""
    expect_heading(page, "Register for SafeCode")
    page.get_by_role("link", name="Register for SafeCode").click()
    expect_heading(page, "SafeCode")
    page.get_by_label(re.compile("^Personal email address")).fill(GUEST_SAFECODE_EMAIL)
    page.get_by_role("button", name="Save and send a code").click()
    expect_heading(page, "Confirm your personal email")
    page.get_by_label("6-digit code").fill(read_latest_code(page, GUEST_SAFECODE_EMAIL))
    page.get_by_role("button", name="Confirm").click()


def set_up_twofactor(page: Page) -> AuthenticatorApp:
    """The two-factor wizard: password and SafeCode again, then an app on a tablet."""
    expect_heading(page, "Protect your account with two-factor authentication")
    page.get_by_role("button", name="Start setup").click()
    expect_heading(page, "Confirm it is you")
    page.get_by_label("Your password").fill(GUEST_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect_heading(page, "Confirm it is you")
    page.get_by_role("button", name="Send a code").click()
    expect(page.get_by_text("We sent a code to")).to_be_visible()
    page.get_by_label("6-digit code").fill(read_latest_code(page, GUEST_SAFECODE_EMAIL))
    page.get_by_role("button", name="Confirm").click()

    choose_device_type(page, "Tablet (iPad, Android tablet)")
    expect_heading(page, "Install an authenticator app")
    page.get_by_role("button", name="I have the app installed").click()
    expect_heading(page, "Activate the app")
    key = page.get_by_label("Key, in groups of four characters").inner_text()
    app = AuthenticatorApp(key)
    page.get_by_label("Passcode from the app").fill(app.now())
    page.get_by_role("button", name="Activate device").click()
    expect_heading(page, "Your device is added")
    return app


def guest_row(page: Page):
    return page.get_by_role("region", name="Your guests").get_by_role(
        "row", name=re.compile(f"^{GUEST_NAME}")
    )


# The journeys --------------------------------------------------------------------------------


def test_sponsor_issues_a_key_guest_registers_then_sponsor_revokes(page, guest_page, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    sponsor = demo_faculty()
    sponsor_app = AuthenticatorApp.holding(
        make_device(sponsor, name="My iPhone", number=MOBILE_NUMBER)
    )

    # The sponsor signs in, asks for guest access, reads the key and signs out.
    log_in(page, SPONSOR_USERNAME, SPONSOR_PASSWORD)
    verify_with_app(page, sponsor_app, "My iPhone", remember=True)
    expect_signed_in(page)
    key = request_guest_access(page)
    sign_out(page)

    # The guest, in a browser of their own, registers with their last name and the key.
    register_with_key(guest_page, last_name=GUEST_LAST.lower(), key=key.lower())
    expect_heading(guest_page, "Choose your username and password")
    expect(
        guest_page.get_by_text(f"Welcome, {GUEST_FIRST}. Fiona Faculty sponsors")
    ).to_be_visible()
    guest_page.get_by_label("Username").fill(GUEST_USERNAME)
    guest_page.get_by_label("New password", exact=True).fill(GUEST_PASSWORD)
    guest_page.get_by_label("New password again").fill(GUEST_PASSWORD)
    guest_page.get_by_role("button", name="Create my account").click()

    set_up_safecode(guest_page)
    set_up_twofactor(guest_page)
    guest_page.goto("/")
    expect_signed_in(guest_page)
    expect(guest_page).not_to_have_url(re.compile("/(twofactor|safecode|login)/"))
    snap(guest_page, "guests-guest-signed-in")
    guest = User.objects.get(username=GUEST_USERNAME)
    assert guest.kind == User.Kind.GUEST
    assert guest.sponsorship.sponsor == sponsor

    # The sponsor comes back (this browser is remembered: the password alone), sees the guest
    # active, and revokes them.
    log_in(page, SPONSOR_USERNAME, SPONSOR_PASSWORD)
    expect_signed_in(page)
    page.goto("/guests/")
    expect_heading(page, "My guests")
    row = guest_row(page)
    expect(row).to_contain_text(GUEST_USERNAME)
    expect(row.get_by_role("cell").first).to_have_text("Active")
    snap(page, "guests-home-active")
    row.get_by_role("link", name=f"Revoke {GUEST_NAME}").click()
    expect_heading(page, f"Revoke {GUEST_NAME}'s access")
    expect(page.get_by_text(f"account ({GUEST_USERNAME}) is disabled at once")).to_be_visible()
    page.get_by_label(re.compile("^Reason")).fill("The project ended early.")
    page.get_by_role("button", name="Revoke access").click()
    expect_heading(page, "My guests")
    expect(guest_row(page).get_by_role("cell").first).to_have_text("Revoked")
    snap(page, "guests-home-revoked")
    assert Sponsorship.objects.get(account=guest).status == Sponsorship.Status.REVOKED

    # The guest's next page is signed out, and the right password no longer signs them in.
    guest_page.reload()
    expect_signed_out(guest_page)
    guest_page.goto("/safecode/")
    expect_heading(guest_page, "Sign in")
    log_in(guest_page, GUEST_USERNAME, GUEST_PASSWORD)
    expect_heading(guest_page, "Sign in")
    expect(
        guest_page.get_by_role("alert").filter(
            has_text="The username or password is not right, or the account cannot be used"
        )
    ).to_be_visible()
    expect_signed_out(guest_page)


def test_a_wrong_key_gets_the_one_generic_answer_with_focus_on_it(page):
    sponsor = demo_faculty()
    today = timezone.localdate()
    issued = guest_request_create(
        sponsor=sponsor,
        details=GuestDetails(
            first_name=GUEST_FIRST,
            last_name=GUEST_LAST,
            email=GUEST_EMAIL,
            organisation="Broad Institute",
            purpose="Imaging pipeline.",
            start_date=today,
            end_date=today + timedelta(days=30),
        ),
        attested=True,
    )
    wrong_key = "2222-3333-4444-5555-6666"
    assert issued.key != wrong_key

    # A wrong key with the right last name, then the right key with a wrong last name: the
    # same single message, announced and focused, on the guest key field.
    for last_name, key in [(GUEST_LAST, wrong_key), ("Gallaher", issued.key)]:
        register_with_key(page, last_name=last_name, key=key)
        expect_heading(page, "Register for an account")
        summary = page.locator(".error-summary")
        expect(summary).to_have_attribute("role", "alert")
        expect(summary).to_be_focused()
        expect(summary.get_by_role("listitem")).to_have_count(1)
        expect(summary).to_contain_text(REFUSED)
        expect(summary.get_by_role("link", name=re.compile("^Guest key"))).to_be_visible()
        expect(page.get_by_label("Guest key")).to_have_attribute("aria-invalid", "true")
        expect(page).to_have_url(re.compile(r"/register/$"))
    snap(page, "guests-register-wrong-key")
    assert Sponsorship.objects.get().status == Sponsorship.Status.KEY_ISSUED
    assert not User.objects.filter(kind=User.Kind.GUEST).exists()
