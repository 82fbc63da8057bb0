"""Two-factor setup (/twofactor/enroll/) as a person goes through it: each type of device from
the start to "Your device is added", the proof asked for first, going back, stages that cannot
be skipped, a number another account uses, the emailed activation link, the requirement after
sign-in, and hostile input on every form.
"""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import quote

import pyotp
import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, PHONE, ChannelFactory, UserFactory
from tests.helpers import code_sent_to, other_code, post_login, prove_it_is_you
from twofactor.freshness import VERIFIED_AT_KEY
from twofactor.models import ActivationLink, Device
from twofactor.services import activation_link_send, device_confirm, device_start

pytestmark = pytest.mark.django_db(transaction=True)

START = reverse("twofactor:enroll")
TYPE = reverse("twofactor:enroll_type")
NUMBER = reverse("twofactor:enroll_phone")
PHONE_TYPE = reverse("twofactor:enroll_phone_type")
INSTALL = reverse("twofactor:enroll_install")
ACTIVATE = reverse("twofactor:enroll_activate")
QR = reverse("twofactor:enroll_qr")
CALL = reverse("twofactor:enroll_call")
DONE = reverse("twofactor:enroll_done")
DEVICES = reverse("twofactor:devices")
CONFIRM_SECOND_FACTOR = reverse("twofactor:confirm")
RECENT_PROOF = reverse("accounts:recent_proof")
LOGIN = reverse("accounts:login")
HOME = reverse("home")

MOBILE_NUMBER = "+16175550142"
LANDLINE_NUMBER = "+16174320199"
RUN_KEY = "flow:twofactor_enroll"


@pytest.fixture
def person():
    """An account with a verified SafeCode phone (``PHONE``) and no two-factor device."""
    account = UserFactory()
    ChannelFactory(user=account)
    return account


@pytest.fixture
def signed_in(client, person):
    """Signed in with the password only: no fresh proof yet."""
    client.force_login(person)
    return client


@pytest.fixture
def proven(signed_in, outbox):
    """Signed in, after "Confirm it is you" with the password and a SafeCode."""
    prove_it_is_you(signed_in, DEFAULT_PASSWORD, read_code=lambda: code_sent_to(outbox, PHONE))
    return signed_in


def confirmed_devices(user=None):
    found = Device.objects.filter(confirmed_at__isnull=False)
    return found.filter(user=user) if user is not None else found


def shown_key(page) -> str:
    """The key as the activate page shows it for typing by hand, without its spaces."""
    match = re.search(rb'<code class="secret"[^>]*>([A-Z2-7 ]+)</code>', page.content)
    assert match, "no key on the page"
    return match.group(1).decode().replace(" ", "")


def passcode_to(outbox, number: str) -> str:
    """The passcode of the last text message or call to ``number`` (a call reads it out one
    digit at a time: "1, 2, 3, ...")."""
    bodies = [message.body for message in outbox if message.recipient == number]
    assert bodies, f"nothing was sent to {number}"
    return re.search(r"\b(\d{6})\b", bodies[-1].replace(", ", "")).group(1)


def other_account_device(number: str) -> Device:
    """A confirmed mobile phone of another account, with ``number``."""
    user = UserFactory()
    with time_machine.travel(timezone.now() - timedelta(minutes=5), tick=False):
        device = device_start(user=user, kind="mobile", name="Phone", number=number, app=True)
        device.refresh_from_db()
        code = pyotp.TOTP(shown_key_of(device)).now()
        assert device_confirm(device=device, method="passcode", code=code)
    return device


def shown_key_of(device: Device) -> str:
    from base64 import b32encode

    return b32encode(device.totp.bin_key).decode()


def to_activate(client, *, kind="mobile", phone_type="iphone", number="617-555-0142"):
    """From Start setup to the activate page of an authenticator app."""
    assert client.post(START).url == TYPE
    response = client.post(TYPE, {"kind": kind})
    if kind == "mobile":
        assert response.url == NUMBER
        response = client.post(NUMBER, {"number": number, "correct": "on"})
        assert response.url == PHONE_TYPE
        response = client.post(PHONE_TYPE, {"phone_type": phone_type})
    assert response.url == INSTALL
    assert client.post(INSTALL).url == ACTIVATE
    page = client.get(ACTIVATE)
    assert page.status_code == HTTPStatus.OK
    return page


def to_call(client, *, kind="landline", number="617-432-0199"):
    """From Start setup to the test call (a landline) or text (a mobile phone with no app)."""
    assert client.post(START).url == TYPE
    assert client.post(TYPE, {"kind": kind}).url == NUMBER
    response = client.post(NUMBER, {"number": number, "correct": "on"})
    if kind == "mobile":
        assert response.url == PHONE_TYPE
        response = client.post(PHONE_TYPE, {"phone_type": "other"})
    assert response.url == CALL
    return client.get(CALL)


# Each type of device, from start to done ------------------------------------------------------


def test_a_mobile_phone_with_an_app_from_start_to_done(proven, person, outbox):
    start = proven.get(START)
    assert b"Protect your account with two-factor authentication" in start.content
    assert b"Start setup" in start.content and b"Service Desk" in start.content

    page = to_activate(proven)
    assert b"Duo Mobile" not in page.content  # the app list is on the install page
    assert confirmed_devices().count() == 0
    key = shown_key(page)
    response = proven.post(ACTIVATE, {"action": "confirm", "code": pyotp.TOTP(key).now()})
    assert response.url == DONE

    device = confirmed_devices(person).get()
    assert (device.kind, device.phone_type, device.number) == ("mobile", "iphone", MOBILE_NUMBER)
    # The app's passcode proved the app; the number is proven by its first passcode.
    assert device.is_default and device.methods == ["passcode", "sms", "call"]
    assert not device.phone.confirmed
    added = [m for m in outbox if m.recipient == person.email]
    assert any("device was added" in m.subject for m in added)
    done = proven.get(DONE)
    assert b"Your device is added" in done.content
    assert b"Add another device" in done.content and b"Continue to sign in" in done.content
    assert DEVICES.encode() in done.content


def test_the_install_page_names_the_apps_and_asks_that_one_is_installed(proven):
    proven.post(START)
    proven.post(TYPE, {"kind": "tablet"})
    page = proven.get(INSTALL)
    for app in (b"Duo Mobile", b"Google Authenticator", b"Microsoft Authenticator", b"1Password"):
        assert app in page.content
    assert b"I have the app installed" in page.content


def test_a_tablet_has_no_phone_number_or_phone_type(proven, person):
    assert proven.post(START).url == TYPE
    assert proven.post(TYPE, {"kind": "tablet"}).url == INSTALL
    # The stages a tablet does not have lead to the one the run waits for.
    assert proven.get(NUMBER).url == INSTALL
    assert proven.post(PHONE_TYPE, {"phone_type": "iphone"}).url == INSTALL
    assert proven.post(INSTALL).url == ACTIVATE
    key = shown_key(proven.get(ACTIVATE))
    assert proven.post(ACTIVATE, {"code": pyotp.TOTP(key).now()}).url == DONE
    device = confirmed_devices(person).get()
    assert (device.kind, device.number, device.phone_id) == ("tablet", "", None)
    assert device.methods == ["passcode"]


def test_a_landline_is_confirmed_by_the_passcode_a_test_call_reads_out(proven, person, outbox):
    page = to_call(proven)
    assert b"Call me" in page.content and b"Test your landline" in page.content
    assert proven.post(CALL, {"action": "send"}).url == CALL
    calls = [m for m in outbox if m.recipient == LANDLINE_NUMBER]
    assert len(calls) == 1 and "passcode" in calls[0].body
    assert Message.objects.get(recipient=LANDLINE_NUMBER).channel == Message.Channel.VOICE
    code = passcode_to(outbox, LANDLINE_NUMBER)
    assert proven.post(CALL, {"action": "code", "code": code}).url == DONE
    device = confirmed_devices(person).get()
    assert (device.kind, device.number, device.totp_id) == ("landline", LANDLINE_NUMBER, None)
    assert device.methods == ["call"]


def test_an_other_phone_is_confirmed_by_a_text_message_instead_of_the_app(proven, person, outbox):
    proven.post(START)
    proven.post(TYPE, {"kind": "mobile"})
    proven.post(NUMBER, {"number": "617-555-0142", "correct": "on"})
    page = proven.get(PHONE_TYPE)
    assert b"Older phones cannot run an authenticator app" in page.content
    assert proven.post(PHONE_TYPE, {"phone_type": "other"}).url == CALL
    assert proven.get(INSTALL).url == CALL  # no app to install
    proven.post(CALL, {"action": "send"})
    assert Message.objects.get(recipient=MOBILE_NUMBER).channel == Message.Channel.SMS
    response = proven.post(CALL, {"action": "code", "code": passcode_to(outbox, MOBILE_NUMBER)})
    assert response.url == DONE
    device = confirmed_devices(person).get()
    assert (device.phone_type, device.totp_id) == ("other", None)
    assert device.methods == ["sms", "call"]


def test_an_international_number_is_kept_in_e164(proven, person, settings):
    settings.SAFECODE_PHONE_COUNTRIES = ["GB"]
    proven.post(START)
    proven.post(TYPE, {"kind": "mobile"})
    response = proven.post(NUMBER, {"number": "+44 7400 123456", "correct": "on"})
    assert response.url == PHONE_TYPE
    proven.post(PHONE_TYPE, {"phone_type": "android"})
    proven.post(INSTALL)
    assert Device.objects.get(user=person).number == "+447400123456"


def test_a_number_outside_the_allowed_countries_or_unticked_is_refused(proven):
    proven.post(START)
    proven.post(TYPE, {"kind": "mobile"})
    page = proven.post(NUMBER, {"number": "+44 7400 123456", "correct": "on"})
    assert page.status_code == HTTPStatus.OK
    assert b"only to numbers in these countries" in page.content
    page = proven.post(NUMBER, {"number": "617-555-0142"})
    assert "This number is correct" in page.content.decode()
    assert b"<title>Error: " in page.content
    assert proven.get(PHONE_TYPE).url == NUMBER


def test_the_security_key_choice_goes_on_to_register_the_key(proven):
    key_stage = reverse("twofactor:enroll_key")
    proven.post(START)
    assert proven.post(TYPE, {"kind": "key"}).url == key_stage
    page = proven.get(key_stage)
    assert b"Register security key" in page.content
    assert proven.get(NUMBER).url == key_stage


def test_continue_to_sign_in_signs_out_and_asks_for_a_sign_in_with_the_new_device(proven, person):
    key = shown_key(to_activate(proven))
    proven.post(ACTIVATE, {"code": pyotp.TOTP(key).now()})
    response = proven.post(DONE, {"action": "test"})
    assert response.url == LOGIN
    assert "_auth_user_id" not in proven.session
    page = proven.get(LOGIN)
    assert b"use your new device" in page.content


def test_add_another_device_goes_back_to_the_device_type(proven, person, outbox):
    key = shown_key(to_activate(proven))
    proven.post(ACTIVATE, {"code": pyotp.TOTP(key).now()})
    assert proven.post(DONE, {"action": "another"}).url == TYPE
    assert proven.get(TYPE).status_code == HTTPStatus.OK
    to_call_page = proven.post(TYPE, {"kind": "landline"})
    assert to_call_page.url == NUMBER
    proven.post(NUMBER, {"number": "617-432-0199", "correct": "on"})
    proven.post(CALL, {"action": "send"})
    proven.post(CALL, {"action": "code", "code": passcode_to(outbox, LANDLINE_NUMBER)})
    assert confirmed_devices(person).count() == 2
    assert confirmed_devices(person).get(kind="landline").is_default is False


# Proof first ----------------------------------------------------------------------------------


def test_with_only_the_password_no_device_can_be_added(signed_in, person, outbox):
    assert signed_in.post(START).url == TYPE
    response = signed_in.get(TYPE)
    assert response.url.startswith(RECENT_PROOF) and quote(TYPE, safe="") in response.url
    for stage, data in [
        (TYPE, {"kind": "tablet"}),
        (INSTALL, {}),
        (ACTIVATE, {"code": "123456"}),
        (CALL, {"action": "send"}),
    ]:
        assert signed_in.post(stage, data).status_code == HTTPStatus.FOUND
    # The password again is not enough either: the SafeCode is part of the proof.
    signed_in.post(RECENT_PROOF, {"password": DEFAULT_PASSWORD})
    assert not signed_in.get(TYPE).url.startswith(TYPE)
    assert signed_in.post(TYPE, {"kind": "tablet"}).url != INSTALL
    assert not Device.objects.filter(user=person).exists()
    assert not [m for m in outbox if m.recipient not in (PHONE, person.email)]


def test_confirm_it_is_you_leads_back_to_the_setup(signed_in, person, outbox):
    signed_in.post(START)
    asked = signed_in.get(TYPE)
    signed_in.post(asked.url, {"password": DEFAULT_PASSWORD})
    response = prove_it_is_you(
        signed_in, DEFAULT_PASSWORD, read_code=lambda: code_sent_to(outbox, PHONE)
    )
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in.get(TYPE).status_code == HTTPStatus.OK


def test_without_a_safecode_contact_setup_asks_for_one_first(client):
    user = UserFactory()
    client.force_login(user)
    client.post(reverse("safecode:prompt"))  # "Skip for now"
    page = client.get(START)
    assert page.status_code == HTTPStatus.OK
    assert b"Register a SafeCode contact first" in page.content
    assert reverse("safecode:manage").encode() in page.content
    page = client.post(START)
    assert b"Register a SafeCode contact first" in page.content
    assert client.get(TYPE).status_code != HTTPStatus.OK
    assert not Device.objects.exists()


def test_an_account_with_a_device_is_not_sent_through_setup_again(signed_in, person):
    other = other_account_device("+16175550177")
    Device.objects.filter(pk=other.pk).update(user=person)
    assert signed_in.get(START).url == DEVICES
    assert signed_in.post(START).url == DEVICES
    page = signed_in.get(f"{START}?add=1")
    assert page.status_code == HTTPStatus.OK and b"Add a device" in page.content


def test_a_later_device_needs_a_second_factor_from_the_last_ten_minutes(signed_in, person):
    other = other_account_device("+16175550177")
    Device.objects.filter(pk=other.pk).update(user=person)
    assert signed_in.post(START, {"add": "1"}).url == TYPE
    response = signed_in.get(TYPE)
    assert response.url == f"{CONFIRM_SECOND_FACTOR}?next={quote(TYPE, safe='')}"

    now = timezone.now()
    with time_machine.travel(now, tick=False):
        session = signed_in.session
        session[VERIFIED_AT_KEY] = now.timestamp()
        session.save()
    with time_machine.travel(now + timedelta(minutes=10) - timedelta(seconds=1), tick=False):
        assert signed_in.get(TYPE).status_code == HTTPStatus.OK
    with time_machine.travel(now + timedelta(minutes=10) + timedelta(seconds=1), tick=False):
        assert signed_in.get(TYPE).url.startswith(CONFIRM_SECOND_FACTOR)


# The stages' order ----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [TYPE, NUMBER, PHONE_TYPE, INSTALL, ACTIVATE, QR, CALL, DONE])
def test_without_a_run_every_stage_leads_to_the_start(proven, stage):
    assert proven.get(stage).url == START
    if stage != QR:
        assert proven.post(stage, {"code": "123456", "kind": "tablet"}).url == START


def test_no_stage_can_be_skipped_by_url(proven, person):
    proven.post(START)
    for later in (NUMBER, PHONE_TYPE, INSTALL, ACTIVATE, QR, CALL, DONE):
        assert proven.get(later).url == TYPE
    assert proven.post(ACTIVATE, {"code": "123456"}).url == TYPE
    proven.post(TYPE, {"kind": "mobile"})
    assert proven.post(INSTALL).url == NUMBER
    assert proven.post(CALL, {"action": "send"}).url == NUMBER
    assert not Device.objects.filter(user=person).exists()


def test_back_goes_to_the_stage_before_and_going_on_again_redoes_what_follows(proven, person):
    page = to_activate(proven)
    key = shown_key(page)
    assert b'name="action" value="back"' in page.content
    assert proven.post(ACTIVATE, {"action": "back"}).url == INSTALL
    assert proven.get(ACTIVATE).url == INSTALL
    # On from the install page again keeps the key already scanned.
    proven.post(INSTALL)
    assert shown_key(proven.get(ACTIVATE)) == key
    # Back three stages, to the number, with what was typed.
    proven.post(ACTIVATE, {"action": "back"})
    assert proven.post(INSTALL, {"action": "back"}).url == PHONE_TYPE
    assert proven.post(PHONE_TYPE, {"action": "back"}).url == NUMBER
    back = proven.get(NUMBER)
    assert back.status_code == HTTPStatus.OK and MOBILE_NUMBER.encode() in back.content
    assert proven.get(INSTALL).url == NUMBER
    assert proven.post(NUMBER, {"number": "617-555-0188", "correct": "on"}).url == PHONE_TYPE
    proven.post(PHONE_TYPE, {"phone_type": "android"})
    proven.post(INSTALL)
    new_key = shown_key(proven.get(ACTIVATE))
    assert new_key != key
    assert proven.post(ACTIVATE, {"code": pyotp.TOTP(new_key).now()}).url == DONE
    device = confirmed_devices(person).get()
    assert (device.number, device.phone_type) == ("+16175550188", "android")
    assert Device.objects.filter(user=person).count() == 1


def test_back_follows_each_devices_own_path(proven):
    to_call(proven)
    assert proven.post(CALL, {"action": "back"}).url == NUMBER
    assert proven.post(NUMBER, {"action": "back"}).url == TYPE
    assert proven.post(TYPE, {"action": "back"}).url == START
    proven.post(START)
    proven.post(TYPE, {"kind": "tablet"})
    assert proven.post(INSTALL, {"action": "back"}).url == TYPE
    to_call(proven, kind="mobile")
    assert proven.post(CALL, {"action": "back"}).url == PHONE_TYPE


def test_leaving_half_way_leaves_no_second_factor(proven, person):
    to_activate(proven)
    assert Device.objects.filter(user=person).count() == 1
    assert not confirmed_devices(person).exists()
    # Starting again drops the unconfirmed device.
    to_activate(proven, kind="tablet")
    assert Device.objects.filter(user=person).get().kind == "tablet"


# Wrong and empty codes ------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["", "   ", "12345", "abcdef", "1234567"])
def test_an_empty_or_malformed_passcode_confirms_nothing(proven, person, typed):
    to_activate(proven)
    page = proven.post(ACTIVATE, {"code": typed})
    assert page.status_code == HTTPStatus.OK
    assert b"Enter the 6-digit code" in page.content and b"<title>Error: " in page.content
    assert not confirmed_devices(person).exists()


def test_a_wrong_app_passcode_confirms_nothing_and_the_right_one_then_does(proven, person):
    key = shown_key(to_activate(proven))
    page = proven.post(ACTIVATE, {"code": other_code(pyotp.TOTP(key).now())})
    assert page.status_code == HTTPStatus.OK
    assert b"That passcode is not right" in page.content and b'role="alert"' in page.content
    assert not confirmed_devices(person).exists()
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        assert proven.post(ACTIVATE, {"code": pyotp.TOTP(key).now()}).url == DONE


def test_a_wrong_call_passcode_confirms_nothing(proven, person, outbox):
    to_call(proven)
    proven.post(CALL, {"action": "send"})
    wrong = other_code(passcode_to(outbox, LANDLINE_NUMBER))
    page = proven.post(CALL, {"action": "code", "code": wrong})
    assert b"That passcode is not right" in page.content
    page = proven.post(CALL, {"action": "code", "code": ""})
    assert b"Enter the 6-digit code" in page.content
    assert not confirmed_devices(person).exists()


def test_a_second_call_within_a_minute_waits(proven, outbox):
    to_call(proven)
    proven.post(CALL, {"action": "send"})
    page = proven.post(CALL, {"action": "send"})
    assert page.status_code == HTTPStatus.OK and b"once a minute" in page.content
    assert len([m for m in outbox if m.recipient == LANDLINE_NUMBER]) == 1


# A number another account uses -----------------------------------------------------------------


def test_a_number_another_account_uses_needs_a_passcode_sent_to_it(proven, person, outbox):
    other_account_device(MOBILE_NUMBER)
    proven.post(START)
    proven.post(TYPE, {"kind": "mobile"})
    assert proven.post(NUMBER, {"number": "617-555-0142", "correct": "on"}).url == NUMBER
    page = proven.get(NUMBER)
    assert b"Confirm this number is yours" in page.content
    assert b"Text me a passcode" in page.content and b"Call me" in page.content
    # Not past it by URL, nor with a code never sent.
    assert proven.post(PHONE_TYPE, {"phone_type": "iphone"}).url == NUMBER
    page = proven.post(NUMBER, {"action": "code", "code": "123456"})
    assert b"That passcode is not right" in page.content

    proven.post(NUMBER, {"action": "send", "method": "call"})
    sent = Message.objects.filter(recipient=MOBILE_NUMBER).get()
    assert sent.channel == Message.Channel.VOICE
    code = passcode_to(outbox, MOBILE_NUMBER)
    page = proven.post(NUMBER, {"action": "code", "code": other_code(code)})
    assert b"That passcode is not right" in page.content
    assert proven.post(NUMBER, {"action": "code", "code": code}).url == PHONE_TYPE
    # Proven once for this run: going back to the number does not ask again.
    assert proven.post(NUMBER, {"number": MOBILE_NUMBER, "correct": "on"}).url == PHONE_TYPE
    proven.post(PHONE_TYPE, {"phone_type": "iphone"})
    key = shown_key(proven.get(ACTIVATE)) if proven.post(INSTALL).url == ACTIVATE else ""
    assert proven.post(ACTIVATE, {"code": pyotp.TOTP(key).now()}).url == DONE
    assert confirmed_devices(person).get().number == MOBILE_NUMBER


def test_a_number_no_other_account_uses_is_not_asked_about(proven, person):
    proven.post(START)
    proven.post(TYPE, {"kind": "mobile"})
    assert proven.post(NUMBER, {"number": "617-555-0142", "correct": "on"}).url == PHONE_TYPE


def test_a_landline_another_account_uses_can_only_be_proven_by_a_call(proven, outbox):
    other_account_device(LANDLINE_NUMBER)
    proven.post(START)
    proven.post(TYPE, {"kind": "landline"})
    proven.post(NUMBER, {"number": "617-432-0199", "correct": "on"})
    page = proven.get(NUMBER)
    assert b"Text me a passcode" not in page.content
    page = proven.post(NUMBER, {"action": "send", "method": "sms"})
    assert b"<title>Error: " in page.content
    assert not Message.objects.filter(recipient=LANDLINE_NUMBER).exists()
    proven.post(NUMBER, {"action": "change"})
    assert b"Landline number" in proven.get(NUMBER).content


# The emailed activation link ----------------------------------------------------------------


def link_token(outbox, address: str) -> str:
    bodies = [m.body for m in outbox if m.recipient == address and "/twofactor/activate/" in m.body]
    assert bodies, f"no activation link was sent to {address}"
    return re.search(r"/twofactor/activate/([A-Za-z0-9_-]+)/", bodies[-1]).group(1)


def activation_url(token: str) -> str:
    return reverse("twofactor:activation_link", args=[token])


def test_the_activation_link_shows_the_key_once_on_the_phone(proven, person, outbox):
    key = shown_key(to_activate(proven))
    response = proven.post(ACTIVATE, {"action": "email"})
    assert response.url == ACTIVATE
    assert person.email.encode() in proven.get(ACTIVATE).content
    token = link_token(outbox, person.email)
    assert ActivationLink.objects.get().token_hash != token
    assert token not in Message.objects.get(purpose="twofactor.activation_link").masked_body

    phone = Client()
    landing = phone.get(activation_url(token))
    assert landing.status_code == HTTPStatus.OK and key.encode() not in landing.content
    assert phone.get(activation_url(token)).status_code == HTTPStatus.OK  # a preview uses nothing
    shown = phone.post(activation_url(token))
    assert shown.status_code == HTTPStatus.OK
    assert shown_key(shown) == key and b"<svg" in shown.content
    assert b"otpauth://totp/" in shown.content
    assert not confirmed_devices(person).exists()  # only the passcode confirms
    assert phone.post(activation_url(token)).status_code == HTTPStatus.NOT_FOUND
    assert phone.get(activation_url(token)).status_code == HTTPStatus.NOT_FOUND

    assert proven.post(ACTIVATE, {"code": pyotp.TOTP(key).now()}).url == DONE


def test_an_activation_link_expires_after_24_hours(proven, person, outbox):
    to_activate(proven)
    device = Device.objects.get(user=person)
    sent_at = timezone.now()
    with time_machine.travel(sent_at, tick=False):
        activation_link_send(device=device)
    first = link_token(outbox, person.email)
    with time_machine.travel(sent_at + timedelta(hours=24) - timedelta(seconds=1), tick=False):
        assert Client().post(activation_url(first)).status_code == HTTPStatus.OK

    with time_machine.travel(sent_at, tick=False):
        activation_link_send(device=device)
    second = link_token(outbox, person.email)
    assert second != first
    with time_machine.travel(sent_at + timedelta(hours=24), tick=False):
        assert Client().get(activation_url(second)).status_code == HTTPStatus.NOT_FOUND
    with time_machine.travel(sent_at + timedelta(hours=24) + timedelta(seconds=1), tick=False):
        assert Client().post(activation_url(second)).status_code == HTTPStatus.NOT_FOUND


def test_a_newer_link_ends_the_older_and_a_confirmed_device_opens_none(proven, person, outbox):
    key = shown_key(to_activate(proven))
    proven.post(ACTIVATE, {"action": "email"})
    older = link_token(outbox, person.email)
    proven.post(ACTIVATE, {"action": "email"})
    newer = link_token(outbox, person.email)
    assert Client().post(activation_url(older)).status_code == HTTPStatus.NOT_FOUND
    proven.post(ACTIVATE, {"code": pyotp.TOTP(key).now()})
    assert Client().post(activation_url(newer)).status_code == HTTPStatus.NOT_FOUND


def test_links_per_device_are_limited(proven, person, outbox):
    to_activate(proven)
    for _ in range(3):
        proven.post(ACTIVATE, {"action": "email"})
    page = proven.post(ACTIVATE, {"action": "email"}, follow=True)
    assert b"as many activation links as we can" in page.content
    assert ActivationLink.objects.count() == 3


# The requirement after sign-in ---------------------------------------------------------------


def test_after_sign_in_an_account_without_a_device_is_sent_to_setup(client, person, outbox):
    # tests/twofactor/conftest.py sets TWOFACTOR_REQUIRED_FOR = "all".
    post_login(client, person.username, DEFAULT_PASSWORD)
    assert client.get(HOME).url.startswith(START)
    for page in (reverse("accounts:preferences"), reverse("accounts:whitepages"), DEVICES):
        assert client.get(page).url.startswith(START), page
    assert client.get(START).status_code == HTTPStatus.OK
    # The setup's own pages, and "Confirm it is you" that they ask for, stay reachable.
    assert client.post(START).url == TYPE
    assert client.get(TYPE).url.startswith(RECENT_PROOF)
    prove_it_is_you(client, DEFAULT_PASSWORD, read_code=lambda: code_sent_to(outbox, PHONE))
    key = shown_key(to_activate(client, kind="tablet"))
    client.post(ACTIVATE, {"code": pyotp.TOTP(key).now()})
    assert client.get(HOME).status_code == HTTPStatus.OK


# Hostile input ---------------------------------------------------------------------------------

hostile = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "\x00",
            "１２３４５６",
            "+1 617 555 0142 ext. 12",
            "+1 876 555 0142",
            "+999 1234",
            "' OR 1=1 --",
            "<script>alert(1)</script>",
            "9" * 500,
            "🙂" * 40,
            "mobile\x00",
        ]
    ),
)
HOSTILE_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def keep_run(client):
    """The run as it is now, to put back before each example."""
    state = client.session[RUN_KEY]

    def restore():
        session = client.session
        session[RUN_KEY] = state
        session.save()

    return restore


@HOSTILE_SETTINGS
@given(kind=hostile, number=hostile, correct=hostile, phone_type=hostile)
def test_hostile_input_on_the_choice_pages_never_errors(proven, kind, number, correct, phone_type):
    if RUN_KEY not in proven.session:
        proven.post(START)
        proven.post(TYPE, {"kind": "mobile"})
    restore = keep_run(proven)
    for stage, data in [
        (TYPE, {"kind": kind}),
        (NUMBER, {"number": number, "correct": correct}),
        (NUMBER, {"number": number, "correct": "on"}),
        (PHONE_TYPE, {"phone_type": phone_type}),
    ]:
        restore()
        assert proven.post(stage, data).status_code < 500
    assert not confirmed_devices().exists()


@HOSTILE_SETTINGS
@given(code=hostile, action=hostile, method=hostile)
def test_hostile_passcodes_never_error_or_confirm(proven, code, action, method):
    if RUN_KEY not in proven.session:
        to_activate(proven)
    restore = keep_run(proven)
    for data in [{"code": code}, {"action": action, "code": code, "method": method}]:
        restore()
        assert proven.post(ACTIVATE, data).status_code < 500
    restore()
    assert proven.get(ACTIVATE).status_code == HTTPStatus.OK
    assert not confirmed_devices().exists()


@HOSTILE_SETTINGS
@given(token=hostile)
def test_hostile_activation_tokens_never_error(client, token):
    path = f"/twofactor/activate/{quote(token, safe='')}/"
    assert client.get(path).status_code < 500
    assert client.post(path).status_code < 500
