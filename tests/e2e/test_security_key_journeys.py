"""Security keys and passkeys as a person meets them in a browser: registered in the setup
wizard, then used at the second step of sign-in.

Chromium's virtual authenticator (the DevTools WebAuthn domain) plays the key: a USB key
without a passkey store in one journey, a key that keeps passkeys and verifies its user in
the other, and touches itself whenever the page asks (automatic presence). The live server is
http://localhost:<port>, a secure context for WebAuthn, so the relying party is "localhost".
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import expect_heading, log_in, snap
from tests.e2e.test_twofactor_journeys import (
    confirm_it_is_you,
    expect_signed_in,
    person_with_safecode_email,
    sign_out,
)
from tests.factories import DEFAULT_PASSWORD
from twofactor.models import Device

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Each ceremony waits at most this long for the key (the options' timeout is the challenge's
# validity): a journey that breaks fails quickly instead of hanging.
CHALLENGE_MINUTES = 0.25


@pytest.fixture
def relying_party(dev_outbox, live_server):
    dev_outbox.TWOFACTOR_REQUIRED_FOR = "all"
    dev_outbox.TWOFACTOR_WEBAUTHN_RP_ID = "localhost"
    dev_outbox.TWOFACTOR_WEBAUTHN_ORIGINS = [live_server.url]
    dev_outbox.TWOFACTOR_WEBAUTHN_CHALLENGE_MINUTES = CHALLENGE_MINUTES
    return dev_outbox


def virtual_authenticator(page: Page, *, passkeys: bool):
    """A virtual authenticator on the page's browser, before the page calls WebAuthn."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "usb",
        "hasResidentKey": passkeys,
        "hasUserVerification": passkeys,
        "isUserVerified": passkeys,
        "automaticPresenceSimulation": True,
    }
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, authenticator["authenticatorId"]


def credentials(cdp, authenticator_id: str) -> list[dict]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def register_key_in_the_wizard(page: Page, user, name: str) -> None:
    """From the sign-in of an account without a device to "Your device is added"."""
    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_heading(page, "Protect your account with two-factor authentication")
    page.get_by_role("button", name="Start setup").click()
    confirm_it_is_you(page)
    expect_heading(page, "Choose a type of device")
    page.get_by_label("Security key (YubiKey or similar)").check()
    page.get_by_role("button", name="Continue").click()
    expect_heading(page, "Register your security key")
    field = page.get_by_label("Name this key")
    expect(field).to_have_value("Security key")
    field.fill(name)
    snap(page, "security-key-register")
    page.get_by_role("button", name="Register security key").click()
    expect_heading(page, "Your device is added")
    expect(page.get_by_text(f"{name} (security key) can now be used to sign in.")).to_be_visible()


def sign_in_with_the_key(page: Page, user, name: str) -> None:
    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_heading(page, "Verify it is you")
    section = page.get_by_role("region", name=re.compile(f"^{re.escape(name)}"))
    touch = section.get_by_text("Insert your key or use your passkey, then touch it")
    expect(touch).to_be_visible()
    snap(page, "security-key-verify")
    section.get_by_role("button", name=f"Use security key {name}").click()
    expect_signed_in(page)
    expect(page).not_to_have_url(re.compile("/twofactor/"))


# A browser without WebAuthn's JSON helpers (older than Chrome 129, Firefox 119, Safari 18):
# the page's script converts the options and the answer itself.
WITHOUT_JSON_HELPERS = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


@pytest.mark.parametrize("helpers", ["json helpers", "no json helpers"])
def test_register_a_security_key_then_sign_in_with_it(page, relying_party, helpers):
    if helpers == "no json helpers":
        page.add_init_script(WITHOUT_JSON_HELPERS)
    user = person_with_safecode_email()
    cdp, authenticator = virtual_authenticator(page, passkeys=False)

    register_key_in_the_wizard(page, user, "My YubiKey")
    has_helpers = page.evaluate("typeof PublicKeyCredential.prototype.toJSON === 'function'")
    assert has_helpers == (helpers == "json helpers")
    [credential] = credentials(cdp, authenticator)
    assert not credential["isResidentCredential"]
    device = Device.objects.get(user=user)
    assert device.kind == Device.Kind.SECURITY_KEY and not device.security_key.discoverable

    page.get_by_role("link", name="Continue").click()
    expect_heading(page, "My Settings & Devices")
    article = page.get_by_role("article", name=re.compile("^My YubiKey"))
    expect(article.get_by_text("Security key", exact=True)).to_be_visible()
    sign_out(page)

    sign_in_with_the_key(page, user, "My YubiKey")
    assert credentials(cdp, authenticator)[0]["signCount"] >= 1
    device.refresh_from_db()
    assert device.last_used_at is not None


def test_register_a_passkey_then_sign_in_with_it(page, relying_party):
    user = person_with_safecode_email()
    cdp, authenticator = virtual_authenticator(page, passkeys=True)

    register_key_in_the_wizard(page, user, "Laptop passkey")
    [credential] = credentials(cdp, authenticator)
    assert credential["isResidentCredential"]
    assert Device.objects.get(user=user).security_key.discoverable

    page.get_by_role("link", name="Continue").click()
    article = page.get_by_role("article", name=re.compile("^Laptop passkey"))
    expect(article.get_by_text("Security key (passkey)")).to_be_visible()
    sign_out(page)

    sign_in_with_the_key(page, user, "Laptop passkey")


def test_a_key_that_does_not_answer_is_said_in_an_alert(page, relying_party):
    """No touch comes (presence is not simulated): the ceremony ends at its timeout, and the
    page says what happened where a screen reader announces it; the button works again."""
    user = person_with_safecode_email()
    cdp, authenticator = virtual_authenticator(page, passkeys=False)
    register_key_in_the_wizard(page, user, "My YubiKey")
    sign_out(page)
    cdp.send(
        "WebAuthn.setAutomaticPresenceSimulation",
        {"authenticatorId": authenticator, "enabled": False},
    )

    log_in(page, user.username, DEFAULT_PASSWORD)
    expect_heading(page, "Verify it is you")
    button = page.get_by_role("button", name="Use security key My YubiKey")
    button.focus()
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(re.compile("did not answer in time|cancelled"), timeout=30_000)
    expect(button).to_be_enabled()
    snap(page, "security-key-no-answer")
