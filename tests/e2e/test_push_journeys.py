"""Push sign-in with the portal's own authenticator, as a person meets it with two screens:
a computer (the desktop context) where they sign in, and a phone (a Pixel-sized, touch,
mobile context) that runs the app at /m/.

The app is the real one: it makes its key with WebCrypto, activates with the link the
portal shows, signs its polls and decisions, and shows passcodes computed on the phone. The
desktop's waiting page moves on by itself (static/js/push_wait.js) once the phone answers.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.helpers import expect_heading, log_in, read_latest_message, screenshot_path, snap
from tests.e2e.test_twofactor_journeys import (
    MOBILE_NUMBER,
    AuthenticatorApp,
    choose_device_type,
    confirm_it_is_you,
    enter_number,
    expect_signed_in,
    person_with_safecode_email,
)
from tests.factories import DEFAULT_PASSWORD
from tests.twofactor.conftest import app_passcode, make_device
from twofactor.models import Device, FraudReport, PushRequest
from twofactor.push import app_activation_link
from twofactor.services import device_confirm, device_start

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DEFAULT_TIMEOUT_MS = 10_000
# A Pixel 7 as Playwright describes it, without its choice of browser engine.
PHONE = {
    "viewport": {"width": 412, "height": 839},
    "screen": {"width": 412, "height": 915},
    "device_scale_factor": 2.625,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36"
    ),
}
PASSCODE = re.compile(r"^\d{6}$")


# Two screens -----------------------------------------------------------------------------------


def _context(browser, live_server, **options) -> BrowserContext:
    context = browser.new_context(base_url=live_server.url, locale="en-US", **options)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context


def watch_for_errors(page: Page) -> list[str]:
    """What the app threw, and anything the Content-Security-Policy refused."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and "Content Security Policy" in message.text
            and errors.append(message.text)
        ),
    )
    return errors


@pytest.fixture
def desktop(browser, live_server, request):
    context = _context(browser, live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = watch_for_errors(page)
    yield page
    try:
        page.screenshot(path=screenshot_path(f"{request.node.name}-desktop"), full_page=True)
    finally:
        context.close()
    assert not errors, f"the waiting page failed: {errors}"


@pytest.fixture
def phone(browser, live_server, request):
    context = _context(browser, live_server, **PHONE)
    page = context.new_page()
    errors = watch_for_errors(page)
    yield page
    try:
        page.screenshot(path=screenshot_path(f"{request.node.name}-phone"), full_page=True)
    finally:
        context.close()
    assert not errors, f"the app failed: {errors}"


# What a person does on each screen --------------------------------------------------------------


def activate_on_phone(phone: Page, token: str) -> str:
    """Open the activation link on the phone; the app activates and shows a passcode."""
    phone.goto(f"/m/activate/#{token}")
    expect(phone.get_by_role("heading", level=1, name="Activated")).to_be_visible()
    # The token left the address bar (and the history) as soon as the app read it.
    assert urlsplit(phone.url).path == "/m/"
    assert not urlsplit(phone.url).fragment
    return passcode_on_phone(phone)


def passcode_on_phone(phone: Page) -> str:
    card = phone.get_by_role("region", name=re.compile("^Passcode for "))
    code = card.locator("#passcode")
    expect(code).to_have_text(PASSCODE)
    return code.text_content()


def phone_with_the_app(phone: Page, user, *, name: str = "iPhone") -> Device:
    """A phone of ``user`` that activated the portal's authenticator from its link."""
    device = device_start(
        user=user,
        kind=Device.Kind.MOBILE,
        name=name,
        number=MOBILE_NUMBER,
        phone_type=Device.PhoneType.IPHONE,
        app=True,
    )
    activate_on_phone(phone, app_activation_link(device=device))
    device.refresh_from_db()
    assert device.app_id and not device.is_confirmed
    # The passcode typed on the setup page, five minutes ago: none a journey types now is a
    # replay of it.
    with time_machine.travel(timezone.now() - timedelta(minutes=5), tick=False):
        assert device_confirm(device=device, method="passcode", code=app_passcode(device))
    device.refresh_from_db()
    return device


def send_push(desktop: Page, user, *, device_name: str = "iPhone") -> str:
    """Sign in on the computer and choose "Send Me a Push"; the number the page shows."""
    log_in(desktop, user.username, DEFAULT_PASSWORD)
    expect_heading(desktop, "Verify it is you")
    section = desktop.get_by_role("region", name=re.compile(f"^{re.escape(device_name)}"))
    section.get_by_role("button", name=f"Send Me a Push on {device_name}").click()
    waiting = section.locator("[data-push-wait]")
    expect(waiting.get_by_role("status")).to_contain_text("Waiting for your approval…")
    number = waiting.locator(".push-number [aria-hidden='true']").inner_text().strip()
    assert re.fullmatch(r"\d{3}", number), number
    return number


def request_on_phone(phone: Page, *, purpose: str = "Are you signing in?"):
    """The request as the phone shows it, once its poll found it."""
    expect(phone.get_by_role("heading", level=1, name=purpose)).to_be_visible()
    return phone.get_by_role("region", name=purpose)


def desktop_error(desktop: Page, text: str) -> None:
    expect(desktop.get_by_role("alert")).to_contain_text(text)


# The journeys ---------------------------------------------------------------------------------


def test_enroll_a_mobile_phone_with_the_portal_authenticator(desktop, phone, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()

    log_in(desktop, user.username, DEFAULT_PASSWORD)
    expect_heading(desktop, "Protect your account with two-factor authentication")
    desktop.get_by_role("button", name="Start setup").click()
    confirm_it_is_you(desktop)
    choose_device_type(desktop, "Mobile phone (recommended)")
    enter_number(desktop, "Mobile phone number", "617-555-0142")
    expect_heading(desktop, "Choose the type of phone")
    desktop.get_by_label("iPhone", exact=True).check()
    desktop.get_by_role("button", name="Continue").click()
    expect_heading(desktop, "Choose an authenticator")
    desktop.get_by_role("button", name="Use the HMS authenticator").click()

    expect_heading(desktop, "Activate the HMS authenticator")
    expect(desktop.get_by_role("img", name=re.compile("^QR code"))).to_be_visible()
    address = desktop.locator("[data-activation-url]")
    # Text to type on the phone, not a link this computer's browser would open.
    assert address.evaluate("node => node.closest('a') === null")
    token = urlsplit(address.inner_text().strip()).fragment
    assert token
    snap(desktop, "push-enroll-activate")

    # Before activation the phone says what to do.
    phone.goto("/m/")
    expect(phone.get_by_role("heading", name="Not activated on this phone")).to_be_visible()
    expect(phone.get_by_text("open the activation link or scan the QR code")).to_be_visible()

    passcode = activate_on_phone(phone, token)
    card = phone.get_by_role("region", name=re.compile("^Passcode for "))
    expect(card.get_by_role("heading")).to_have_text(f"Passcode for {user.username}")
    expect(card.locator("#passcode-countdown")).to_have_text(re.compile(r"New passcode in \d+"))
    snap(phone, "push-app-activated")

    # The desktop moves on by itself, to the passcode that proves this phone is the person's.
    expect(desktop.get_by_text("The app on your phone is activated.")).to_be_visible()
    assert not Device.objects.filter(user=user, confirmed_at__isnull=False).exists()
    desktop.get_by_label(re.compile("passcode", re.IGNORECASE)).fill(passcode)
    desktop.get_by_role("button", name="Finish").click()
    expect_heading(desktop, "Your device is added")
    device = Device.objects.get(user=user, confirmed_at__isnull=False)
    assert device.app.platform == "Chrome on Android"
    # The passcode is the device's, computed on the phone (this step or an adjacent one).
    app = AuthenticatorApp.holding(device)
    steps = [app.totp.at(time.time() + delta) for delta in (-30, 0, 30)]
    assert passcode in steps

    # Reopened, the app still knows its account and keeps making passcodes.
    phone.goto("/m/")
    expect(phone.get_by_role("heading", level=1, name=user.username)).to_be_visible()
    passcode_on_phone(phone)


def test_sign_in_with_a_push_approved_with_the_number(desktop, phone, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()
    phone_with_the_app(phone, user)

    number = send_push(desktop, user)
    # The page speaks of the push only: nothing was texted or called.
    waiting_section = desktop.get_by_role("region", name=re.compile("^iPhone"))
    expect(waiting_section.get_by_text("by text message")).to_have_count(0)
    snap(desktop, "push-waiting")
    request = request_on_phone(phone)
    expect(request.locator("#request-account")).to_have_text(user.username)
    expect(request.locator("#request-purpose")).to_have_text("Sign in")
    expect(request.locator("#request-where")).to_have_text(re.compile(r"127\.0\.0\.1|::1"))
    expect(request.locator("#request-browser")).to_have_text("Chrome on Linux")
    expect(request.locator("#request-when")).to_have_text(re.compile(r"just now|seconds ago"))
    field = request.get_by_label("Enter the number shown on your sign-in screen")
    expect(field).to_have_attribute("inputmode", "numeric")
    expect(field).to_have_attribute("autocomplete", "off")
    snap(phone, "push-app-request")

    field.fill(number)
    request.get_by_role("button", name="Approve", exact=True).click()
    expect(phone.get_by_role("status")).to_contain_text("Approved.")

    expect_signed_in(desktop)
    expect(desktop).not_to_have_url(re.compile("/twofactor/"))
    assert PushRequest.objects.get(user=user).state == PushRequest.State.USED


def test_deny_and_report_as_fraud(desktop, phone, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()
    phone_with_the_app(phone, user)

    send_push(desktop, user)
    request = request_on_phone(phone)
    request.get_by_role("button", name="Deny and report as fraud").click()
    expect(phone.get_by_role("status")).to_contain_text("Denied and reported as fraud.")
    expect(phone.get_by_role("heading", level=1, name="Are you signing in?")).to_be_hidden()

    desktop_error(desktop, "denied on the phone and reported as fraud")
    expect_heading(desktop, "Verify it is you")
    assert FraudReport.objects.filter(user=user).count() == 1
    notice = read_latest_message(desktop, user.notice_email)
    assert "was denied on your phone and reported as fraud" in notice

    # A further push is refused for now; a passcode still works.
    section = desktop.get_by_role("region", name=re.compile("^iPhone"))
    section.get_by_role("button", name="Send Me a Push on iPhone").click()
    desktop_error(desktop, "Pushes to your account are off for now")
    expect(desktop.locator("[data-push-wait]")).to_have_count(0)
    assert PushRequest.objects.filter(user=user).count() == 1


def test_a_push_nobody_answers_expires(desktop, phone, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    dev_outbox.TWOFACTOR_PUSH_SECONDS = 4
    user = person_with_safecode_email()
    phone_with_the_app(phone, user)

    send_push(desktop, user)
    request_on_phone(phone)
    # Nobody answers: the desktop says the push timed out, and the phone lets the request go.
    desktop_error(desktop, "The push timed out")
    expect(phone.get_by_role("status")).to_contain_text("expired")
    expect(phone.get_by_role("heading", level=1, name="Are you signing in?")).to_be_hidden()
    expect(phone.locator("#requests-empty")).to_be_visible()


def test_a_wrong_number_is_refused(desktop, phone, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()
    phone_with_the_app(phone, user)

    # The computer's connection drops for its first questions: the page keeps asking.
    dropped = []

    def flaky(route):
        if len(dropped) < 2:
            dropped.append(route.request.url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    desktop.route(re.compile(r"/twofactor/push/[0-9a-f-]+/status/$"), flaky)
    number = send_push(desktop, user)
    request = request_on_phone(phone)
    field = request.get_by_label("Enter the number shown on your sign-in screen")
    # Fewer than 3 digits never leaves the phone.
    field.fill("12")
    request.get_by_role("button", name="Approve", exact=True).click()
    expect(request.locator("#request-number-error")).to_have_text(
        "Error: Enter the 3-digit number shown on your sign-in screen."
    )
    expect(field).to_be_focused()
    assert PushRequest.objects.get(user=user).state == PushRequest.State.PENDING

    wrong = f"{(int(number) - 100 + 1) % 900 + 100:03d}"
    field.fill(wrong)
    field.press("Enter")
    expect(phone.get_by_role("alert")).to_contain_text("Refused.")
    expect(phone.get_by_role("alert")).to_contain_text("not the one on your sign-in screen")

    desktop_error(desktop, "did not match the one shown here")
    expect_heading(desktop, "Verify it is you")
    assert len(dropped) == 2
    assert PushRequest.objects.get(user=user).state == PushRequest.State.WRONG_NUMBER


def test_a_device_removed_in_my_settings_is_removed_from_the_app(desktop, phone, dev_outbox):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    user = person_with_safecode_email()
    make_device(user, name="Desk tablet", kind=Device.Kind.TABLET)
    phone_with_the_app(phone, user)

    # Signed in with a push, the change needs no further proof for a while.
    number = send_push(desktop, user, device_name="iPhone")
    request = request_on_phone(phone)
    request.get_by_label("Enter the number shown on your sign-in screen").fill(number)
    request.get_by_role("button", name="Approve", exact=True).click()
    expect_signed_in(desktop)

    desktop.goto("/twofactor/")
    expect_heading(desktop, "My Settings & Devices")
    desktop.get_by_role("button", name="Remove iPhone").click()
    expect(desktop.get_by_text("iPhone was removed.")).to_be_visible()

    expect(
        phone.get_by_role("heading", level=1, name="This device was removed from your account")
    ).to_be_visible()
    snap(phone, "push-app-removed")
    # The app forgot its key: opened again, it is not activated.
    phone.goto("/m/")
    expect(phone.get_by_role("heading", name="Not activated on this phone")).to_be_visible()
    assert not Device.objects.filter(user=user, name="iPhone").exists()
