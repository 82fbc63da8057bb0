"""The authenticator's service worker (static/mobile/sw.js, served at /m/sw.js) in a real
Chromium: a Web Push delivered through the DevTools protocol becomes a "Sign-in request"
notification and makes the open app ask for its requests at once; and the app opens with its
passcode when the phone is offline.

Headless Chromium has no push service, so the push is handed to the worker directly
(``ServiceWorker.deliverPushMessage``), as the browser would after the push service's delivery.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import screenshot_path
from tests.e2e.test_push_journeys import (
    PHONE,
    activate_on_phone,
    passcode_on_phone,
    watch_for_errors,
)
from tests.factories import UserFactory
from twofactor.models import Device
from twofactor.push import app_activation_link
from twofactor.services import device_start

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DEFAULT_TIMEOUT_MS = 10_000
POLL = "/m/api/requests"
WORKER_READY = "navigator.serviceWorker.ready.then((registration) => registration.scope)"
NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications({ tag: "portal-push" });
  return shown.map((notification) => ({
    title: notification.title,
    body: notification.body,
    tag: notification.tag,
    url: notification.data && notification.data.url,
  }));
}"""


@pytest.fixture
def phone(browser, live_server, request):
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", permissions=["notifications"], **PHONE
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    errors = watch_for_errors(page)
    yield page
    try:
        page.screenshot(path=screenshot_path(f"{request.node.name}-phone"), full_page=True)
    finally:
        context.close()
    assert not errors, f"the app failed: {errors}"


def activated_app(phone: Page) -> str:
    """The app activated on the phone for a new account; its username."""
    user = UserFactory()
    device = device_start(
        user=user, kind=Device.Kind.MOBILE, name="Pixel", phone_type="android", app=True
    )
    activate_on_phone(phone, app_activation_link(device=device))
    assert phone.evaluate(WORKER_READY).endswith("/m/")
    return user.username


def registration_id(phone: Page, cdp) -> str:
    """The id DevTools gives the worker registration of /m/."""
    found: dict[str, str] = {}

    def updated(event):
        for registration in event.get("registrations", []):
            if registration["scopeURL"].endswith("/m/") and not registration.get("isDeleted"):
                found["id"] = registration["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + DEFAULT_TIMEOUT_MS / 1000
    while "id" not in found and time.monotonic() < deadline:
        phone.wait_for_timeout(50)
    assert "id" in found, "DevTools reported no service worker registration for /m/"
    return found["id"]


def deliver_push(phone: Page, cdp, live_server, data: str) -> None:
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": live_server.url, "registrationId": registration_id(phone, cdp), "data": data},
    )


def notifications(phone: Page) -> list[dict]:
    """The notifications the worker shows, once there is one (or none after a while)."""
    deadline = time.monotonic() + DEFAULT_TIMEOUT_MS / 1000
    shown = phone.evaluate(NOTIFICATIONS)
    while not shown and time.monotonic() < deadline:
        phone.wait_for_timeout(100)
        shown = phone.evaluate(NOTIFICATIONS)
    return shown


def test_a_push_shows_a_notification_and_the_app_asks_at_once(phone, live_server):
    account = activated_app(phone)
    cdp = phone.context.new_cdp_session(phone)
    registration = registration_id(phone, cdp)
    payload = json.dumps(
        {"id": "7d3c2b1a-0000-4000-8000-000000000001", "account": account, "purpose": "Sign in"}
    )

    # Right after one of the app's regular polls (every 3 seconds), the push arrives: the
    # poll that follows it comes at once, not 3 seconds later.
    with phone.expect_request(lambda request: request.url.endswith(POLL)):
        pass
    with phone.expect_request(lambda request: request.url.endswith(POLL), timeout=1500):
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live_server.url, "registrationId": registration, "data": payload},
        )
    expect(phone.locator("html")).to_have_attribute("data-last-push", re.compile(r"^\d+$"))

    shown = notifications(phone)
    assert shown == [
        {
            "title": "Sign-in request",
            "body": f"{account}: approve or deny in the app",
            "tag": "portal-push",
            "url": "/m/",
        }
    ]


def test_a_push_without_readable_data_still_says_a_request_waits(phone, live_server):
    activated_app(phone)
    cdp = phone.context.new_cdp_session(phone)
    deliver_push(phone, cdp, live_server, "not json")

    shown = notifications(phone)
    assert [(n["title"], n["body"]) for n in shown] == [
        ("Sign-in request", "A request waits for you: approve or deny in the app")
    ]


def test_the_app_opens_offline_with_its_passcode(phone):
    account = activated_app(phone)
    # Once the worker controls the page, the shell and its assets are kept.
    phone.reload()
    phone.wait_for_function("navigator.serviceWorker.controller !== null")
    passcode_on_phone(phone)

    phone.context.set_offline(True)
    try:
        phone.reload()
        expect(phone.get_by_role("heading", level=1, name=account)).to_be_visible()
        passcode_on_phone(phone)
        expect(phone.locator("#app-connection")).to_contain_text("No connection")
    finally:
        phone.context.set_offline(False)


def test_with_web_push_on_the_app_subscribes_or_carries_on_without(phone, settings):
    """With a VAPID key the app asks the browser for a push subscription once notifications
    are allowed. A browser without a push service (headless Chromium) refuses, and the app
    carries on: it still polls while open and shows its passcode."""
    from twofactor.management.commands.vapid_keys import vapid_key_pair

    settings.TWOFACTOR_VAPID_PUBLIC_KEY, settings.TWOFACTOR_VAPID_PRIVATE_KEY = vapid_key_pair()
    subscribed = []
    phone.on(
        "requestfinished",
        lambda request: request.url.endswith("/m/api/subscribe") and subscribed.append(request),
    )
    account = activated_app(phone)
    phone.reload()
    expect(phone.get_by_role("heading", level=1, name=account)).to_be_visible()
    expect(phone.locator("body")).to_have_attribute(
        "data-vapid-public-key", settings.TWOFACTOR_VAPID_PUBLIC_KEY
    )
    # Permission is granted already, so nothing offers to turn notifications on.
    expect(phone.get_by_role("button", name="Turn on notifications")).to_be_hidden()
    with phone.expect_request(lambda request: request.url.endswith(POLL)):
        pass
    passcode_on_phone(phone)
    # The app tried: subscribed where the browser has a push service, else without one.
    expect(phone.locator("body")).to_have_attribute(
        "data-push", re.compile("^(subscribed|unavailable)$")
    )
    expect(phone.get_by_role("alert")).to_be_empty()
    for request in subscribed:
        assert request.response().status == 204
