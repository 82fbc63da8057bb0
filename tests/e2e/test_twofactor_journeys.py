"""Two-factor authentication as a person meets it in a browser: the setup wizard after sign-in,
the second step with a passcode from the app or from a phone call, a remembered browser, the
default device chosen in My Settings & Devices, and account pages that stay shut until the
second step is done.

The live server runs with DEBUG on, so texts, calls and emails land in the dev outbox; the
authenticator app is played by pyotp, from the key the activation page shows for typing by
hand (or, for a device built in the database, from the key it holds).
"""

from __future__ import annotations

import re
import time
from base64 import b32encode
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Page, expect

from delivery.models import OutboxEntry
from tests.e2e.helpers import (
    expect_heading,
    log_in,
    read_latest_code,
    read_latest_message,
    snap,
)
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, UserFactory
from tests.twofactor.conftest import make_device
from twofactor.models import Device
from twofactor.services import device_confirm, device_start, passcode_send

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAFECODE_EMAIL = "lee.park@example.org"
MOBILE_NUMBER = "+16175550142"
LANDLINE_NUMBER = "+16174320199"
SPOKEN_PASSCODE = re.compile(r"passcode is: ((?:\d, ){5}\d)")


class AuthenticatorApp:
    """The app on the person's phone: a new 6-digit passcode every 30 seconds.

    The portal takes each time step's passcode once, and one step either side of now (the
    key's tolerance), so each passcode typed is the next one the app would show; when that
    one is not due yet, the person waits for it as they would for the app to change.
    """

    STEP = 30

    def __init__(self, key: str, last_step: int = 0) -> None:
        self.totp = pyotp.TOTP(key.replace(" ", ""), interval=self.STEP)
        self.last_step = last_step

    @classmethod
    def holding(cls, device: Device) -> AuthenticatorApp:
        """The app that scanned ``device``'s key, past the passcode that confirmed it."""
        key = b32encode(device.totp.bin_key).decode("ascii")
        return cls(key, last_step=device.totp.last_t)

    def now(self) -> str:
        """The passcode the app shows this moment."""
        self.last_step = max(self.last_step, int(time.time()) // self.STEP)
        return self.totp.now()

    def passcode(self) -> str:
        """The next passcode the portal has not seen."""
        while True:
            now_step = int(time.time()) // self.STEP
            # This step's passcode, not the one before: that one is two steps off, and
            # refused, if the step turns before the portal checks it.
            step = max(self.last_step + 1, now_step)
            if step <= now_step + 1:
                self.last_step = step
                return self.totp.at(step * self.STEP)
            time.sleep(self.STEP - time.time() % self.STEP + 0.1)


# Steps a person takes -------------------------------------------------------------------------


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def expect_signed_in(page: Page) -> None:
    expect(main_nav(page).get_by_role("button", name="Sign out")).to_be_visible()


def expect_signed_out(page: Page) -> None:
    expect(main_nav(page).get_by_role("link", name="Sign in")).to_be_visible()
    expect(main_nav(page).get_by_role("button", name="Sign out")).to_have_count(0)


def sign_out(page: Page) -> None:
    main_nav(page).get_by_role("button", name="Sign out").click()
    expect_signed_out(page)


def enter_password(page: Page, username: str, password: str = DEFAULT_PASSWORD) -> None:
    """Sign in on the sign-in page the browser is on, keeping where it was taking them."""
    expect_heading(page, "Sign in")
    page.get_by_label(re.compile(r"^Username")).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def confirm_it_is_you(page: Page) -> None:
    """The proof asked before the first device: the password again, then a SafeCode."""
    expect_heading(page, "Confirm it is you")
    page.get_by_label("Your password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect_heading(page, "Confirm it is you")
    page.get_by_role("button", name="Send a code").click()
    expect(page.get_by_text("We sent a code to")).to_be_visible()
    page.get_by_label("6-digit code").fill(read_latest_code(page, SAFECODE_EMAIL))
    page.get_by_role("button", name="Confirm").click()


def choose_device_type(page: Page, label: str) -> None:
    expect_heading(page, "Choose a type of device")
    page.get_by_label(label).check()
    page.get_by_role("button", name="Continue").click()


def enter_number(page: Page, label: str, number: str) -> None:
    page.get_by_label(label).fill(number)
    page.get_by_label("This number is correct").check()
    page.get_by_role("button", name="Continue").click()


def activate_app(page: Page) -> AuthenticatorApp:
    """Type the key shown for manual entry into the app, then the passcode it shows."""
    expect_heading(page, "Activate the app")
    expect(page.get_by_role("img", name=re.compile("^QR code to scan"))).to_be_visible()
    key = page.get_by_label("Key, in groups of four characters").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", key), key
    app = AuthenticatorApp(key)
    page.get_by_label("Passcode from the app").fill(app.now())
    page.get_by_role("button", name="Activate device").click()
    return app


def second_step_sections(page: Page):
    """The device headings of the second step, in the order the page lists them."""
    return page.get_by_role("main").locator("section.panel").get_by_role("heading", level=2)


def verify_with_app(page: Page, app: AuthenticatorApp, device_name: str, *, remember=False):
    """On the second step, a passcode from the app on ``device_name``."""
    expect_heading(page, "Verify it is you")
    section = page.get_by_role("region", name=re.compile(f"^{re.escape(device_name)}"))
    section.get_by_label("Passcode from the app").fill(app.passcode())
    if remember:
        section.get_by_label("Remember me for 30 days").check()
    section.get_by_role("button", name=f"Verify and sign in with {device_name}").click()


def spoken_passcode(page: Page, number: str) -> str:
    """The passcode the newest call to ``number`` read out, digit by digit."""
    body = read_latest_message(page, number)
    match = SPOKEN_PASSCODE.search(body)
    assert match, f"no spoken passcode in the newest call to {number}: {body!r}"
    return match.group(1).replace(", ", "")


def make_landline(user, *, name: str, number: str) -> Device:
    """A confirmed landline of ``user``, confirmed with the passcode its test call read out
    (read from the dev outbox, which keeps what the phone heard)."""
    device = device_start(user=user, kind=Device.Kind.LANDLINE, name=name, number=number, app=False)
    passcode_send(device=device, method="call")
    heard = OutboxEntry.objects.filter(recipient=number).latest("pk").body
    code = SPOKEN_PASSCODE.search(heard).group(1).replace(", ", "")
    assert device_confirm(device=device, method="call", code=code)
    return device


def person_with_safecode_email(**extra):
    """An account with a verified SafeCode email and no two-factor device yet."""
    user = UserFactory(**extra)
    ChannelFactory(user=user, kind="email", address=SAFECODE_EMAIL)
    return user


# The journeys --------------------------------------------------------------------------------


def test_enroll_a_mobile_phone_with_an_app_then_sign_in_and_be_remembered(page, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()

    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_heading(page, "Protect your account with two-factor authentication")
    snap(page, "twofactor-enroll-start")
    page.get_by_role("button", name="Start setup").click()
    confirm_it_is_you(page)

    choose_device_type(page, "Mobile phone (recommended)")
    expect_heading(page, "Enter your mobile phone number")
    enter_number(page, "Mobile phone number", "617-555-0142")
    expect_heading(page, "Choose the type of phone")
    page.get_by_label("iPhone", exact=True).check()
    page.get_by_role("button", name="Continue").click()
    expect_heading(page, "Choose an authenticator")
    expect(page.get_by_text("from the App Store")).to_be_visible()
    page.get_by_role("button", name="I have another app installed").click()
    app = activate_app(page)

    expect_heading(page, "Your device is added")
    expect(
        page.get_by_text("iPhone (mobile phone, •••-•••-0142) can now be used to sign in.")
    ).to_be_visible()
    snap(page, "twofactor-enroll-done")
    page.get_by_role("link", name="Continue").click()
    expect_heading(page, "My Settings & Devices")
    expect(page.get_by_role("heading", level=3, name="iPhone (default)")).to_be_visible()
    sign_out(page)

    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_heading(page, "Verify it is you")
    expect(second_step_sections(page)).to_have_text(["iPhone (default)"])
    snap(page, "twofactor-verify")
    verify_with_app(page, app, "iPhone", remember=True)
    expect_signed_in(page)
    expect(page).not_to_have_url(re.compile("/twofactor/"))
    sign_out(page)

    # This browser is remembered: the password alone signs in, for 30 days.
    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_signed_in(page)
    expect(page).not_to_have_url(re.compile("/twofactor/"))
    expect(page.get_by_role("heading", name="Verify it is you")).to_have_count(0)


def test_enroll_a_landline_then_sign_in_with_a_call(page, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()

    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_heading(page, "Protect your account with two-factor authentication")
    page.get_by_role("button", name="Start setup").click()
    confirm_it_is_you(page)

    choose_device_type(page, "Landline")
    expect_heading(page, "Enter your landline number")
    enter_number(page, "Landline number", "617-432-0199")
    expect_heading(page, "Test your landline")
    page.get_by_role("button", name="Call me").click()
    expect(page.get_by_text("We are calling •••-•••-0199.")).to_be_visible()
    page.get_by_label("Passcode from the call").fill(spoken_passcode(page, LANDLINE_NUMBER))
    page.get_by_role("button", name="Confirm").click()

    expect_heading(page, "Your device is added")
    expect(
        page.get_by_text("Landline (landline, •••-•••-0199) can now be used to sign in.")
    ).to_be_visible()
    page.get_by_role("button", name="Continue to sign in").click()

    expect(page.get_by_text("use your new device (Landline) for the second step")).to_be_visible()
    enter_password(page, user.username)
    expect_heading(page, "Verify it is you")
    landline = page.get_by_role("region", name=re.compile("^Landline"))
    expect(landline.get_by_label("Passcode from the app")).to_have_count(0)
    landline.get_by_role("button", name="Call me on Landline").click()
    expect(page.get_by_text("We sent a passcode to •••-•••-0199 by a phone call.")).to_be_visible()
    snap(page, "twofactor-verify-call")
    landline.get_by_label("Passcode from the call").fill(spoken_passcode(page, LANDLINE_NUMBER))
    landline.get_by_role("button", name="Verify and sign in with Landline").click()
    expect_signed_in(page)
    expect(page).not_to_have_url(re.compile("/twofactor/"))


def test_make_a_second_device_the_default_then_it_is_offered_first(page, dev_outbox):
    """A remembered browser still asks for a device before a change; the new default is the
    first device on the next second step."""
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()
    iphone = make_device(user, name="My iPhone", number=MOBILE_NUMBER)
    make_landline(user, name="Desk phone", number=LANDLINE_NUMBER)
    app = AuthenticatorApp.holding(iphone)

    log_in(page, user.username, DEFAULT_PASSWORD)
    expect(second_step_sections(page)).to_have_text(["My iPhone (default)", "Desk phone"])
    verify_with_app(page, app, "My iPhone", remember=True)
    expect_signed_in(page)
    sign_out(page)
    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_signed_in(page)

    page.goto("/twofactor/")
    expect_heading(page, "My Settings & Devices")
    expect(page.get_by_text("Each change here first asks you to confirm")).to_be_visible()
    page.get_by_role("button", name="Make default Desk phone").click()

    expect_heading(page, "Confirm with your device")
    iphone_section = page.get_by_role("region", name=re.compile("^My iPhone"))
    expect(iphone_section.get_by_label("Remember me for 30 days")).to_have_count(0)
    iphone_section.get_by_label("Passcode from the app").fill(app.passcode())
    iphone_section.get_by_role("button", name="Confirm with My iPhone").click()

    expect_heading(page, "My Settings & Devices")
    expect(page.get_by_text("Each change here first asks you to confirm")).to_have_count(0)
    page.get_by_role("button", name="Make default Desk phone").click()
    expect(page.get_by_text("Desk phone is now your default device.")).to_be_visible()
    devices = page.get_by_role("region", name="Your devices").get_by_role("heading", level=3)
    expect(devices).to_have_text(["Desk phone (default)", "My iPhone"])
    snap(page, "twofactor-devices-default")

    # Forget this browser, so that the next sign-in has a second step to look at.
    browsers = page.get_by_role("region", name="Remembered browsers")
    expect(browsers.get_by_text("(this browser)")).to_be_visible()
    browsers.get_by_role("button", name=re.compile("^Forget")).click()
    expect(page.get_by_text("That browser will ask for a second factor")).to_be_visible()
    sign_out(page)

    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_heading(page, "Verify it is you")
    expect(second_step_sections(page)).to_have_text(["Desk phone (default)", "My iPhone"])
    verify_with_app(page, app, "My iPhone")
    expect_signed_in(page)


def test_add_another_device_from_my_settings_and_devices(page, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()
    iphone = make_device(user, name="My iPhone", number=MOBILE_NUMBER)
    phone_app = AuthenticatorApp.holding(iphone)

    log_in(page, user.username, DEFAULT_PASSWORD)
    verify_with_app(page, phone_app, "My iPhone")
    expect_signed_in(page)
    page.goto("/twofactor/")
    expect_heading(page, "My Settings & Devices")
    page.get_by_role("link", name="Add another device").click()

    expect_heading(page, "Add a device")
    page.get_by_role("button", name="Start setup").click()
    if page.get_by_role("heading", level=1, name="Confirm with your device").count():
        section = page.get_by_role("region", name=re.compile("^My iPhone"))
        section.get_by_label("Passcode from the app").fill(phone_app.passcode())
        section.get_by_role("button", name="Confirm with My iPhone").click()
    choose_device_type(page, "Tablet (iPad, Android tablet)")
    expect_heading(page, "Install an authenticator app")
    page.get_by_role("button", name="I have the app installed").click()
    activate_app(page)
    expect_heading(page, "Your device is added")
    page.get_by_role("link", name="Continue").click()
    devices = page.get_by_role("region", name="Your devices").get_by_role("heading", level=3)
    expect(devices).to_have_text(["My iPhone (default)", "Tablet"])


@pytest.mark.parametrize(
    ("address", "heading", "staff"),
    [
        ("/preferences/", "Preferences", False),
        ("/twofactor/", "My Settings & Devices", False),
        ("/admin/", "Service desk", True),
        ("/safecode/", "SafeCode", False),
    ],
)
def test_account_pages_stay_shut_until_the_second_step(page, dev_outbox, address, heading, staff):
    """After the password, typing an account page's address ends on the second step or the
    sign-in page; once the second step is done, the page opens."""
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email(is_staff=staff)
    app = AuthenticatorApp.holding(make_device(user, name="My iPhone", number=MOBILE_NUMBER))

    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_heading(page, "Verify it is you")
    page.goto(address)
    expect_heading(page, re.compile("^(Verify it is you|Sign in)$"))
    expect(page.get_by_role("heading", level=1, name=heading, exact=True)).to_have_count(0)
    expect_signed_out(page)
    assert urlsplit(page.url).path != address

    if page.get_by_role("heading", level=1, name="Sign in").count():
        enter_password(page, user.username)
    verify_with_app(page, app, "My iPhone")
    expect_heading(page, re.compile(f"^{re.escape(heading)}$"))
    assert urlsplit(page.url).path == address
    if not staff:
        expect_signed_in(page)
