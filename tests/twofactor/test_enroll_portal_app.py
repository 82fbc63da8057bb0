"""Setting up the portal's own authenticator in the two-factor wizard: the choice beside
another app, the QR code with its activation link, the emailed copy of the same link, and the
page that goes on once the phone has activated.
"""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import DEFAULT_PASSWORD, PHONE, ChannelFactory, UserFactory
from tests.helpers import code_sent_to, prove_it_is_you
from tests.twofactor.soft_app import SoftApp
from tests.twofactor.test_enroll_qr import scan
from twofactor.models import Device

pytestmark = pytest.mark.django_db(transaction=True)

START = reverse("twofactor:enroll")
TYPE = reverse("twofactor:enroll_type")
NUMBER = reverse("twofactor:enroll_phone")
PHONE_TYPE = reverse("twofactor:enroll_phone_type")
INSTALL = reverse("twofactor:enroll_install")
ACTIVATE = reverse("twofactor:enroll_activate")
QR = reverse("twofactor:enroll_qr")
STATUS = reverse("twofactor:enroll_activation_status")
DONE = reverse("twofactor:enroll_done")


@pytest.fixture
def proven(client, outbox):
    person = UserFactory()
    ChannelFactory(user=person)
    client.force_login(person)
    prove_it_is_you(client, DEFAULT_PASSWORD, read_code=lambda: code_sent_to(outbox, PHONE))
    client.person = person
    return client


def to_install(client, phone_type="iphone"):
    assert client.post(START).url == TYPE
    assert client.post(TYPE, {"kind": "mobile"}).url == NUMBER
    client.post(NUMBER, {"number": "617-555-0142", "correct": "on"})
    assert client.post(PHONE_TYPE, {"phone_type": phone_type}).url == INSTALL
    return client.get(INSTALL)


def activation_url(page) -> str:
    match = re.search(r"data-activation-url>([^<]+/m/activate/#[A-Za-z0-9_-]+)</code>", page)
    assert match, "no activation link on the page"
    return match.group(1)


def token_of(url: str) -> str:
    return url.rpartition("#")[2]


@pytest.mark.parametrize("phone_type", ["iphone", "android"])
def test_an_iphone_or_android_is_offered_the_portal_authenticator(proven, phone_type):
    page = to_install(proven, phone_type).content.decode()
    assert "Use the HMS authenticator" in page
    assert "Or use another authenticator app" in page


def test_a_tablet_is_not_offered_it(proven):
    proven.post(START)
    assert proven.post(TYPE, {"kind": "tablet"}).url == INSTALL
    assert "Use the HMS authenticator" not in proven.get(INSTALL).content.decode()


def test_the_qr_code_holds_the_activation_link_shown_on_the_page(proven):
    to_install(proven)
    assert proven.post(INSTALL, {"action": "portal_app"}).url == ACTIVATE
    page = proven.get(ACTIVATE).content.decode()
    url = activation_url(page)
    assert url.startswith("http://127.0.0.1:8000/m/activate/#") or "/m/activate/#" in url
    svg = proven.get(QR)
    assert svg["Cache-Control"] == "no-store"
    assert scan(svg.content.decode()) == url
    # The page shows the same link on every visit while it is live.
    assert activation_url(proven.get(ACTIVATE).content.decode()) == url


def test_activating_on_the_phone_then_its_passcode_adds_the_device(proven):
    to_install(proven)
    proven.post(INSTALL, {"action": "portal_app"})
    url = activation_url(proven.get(ACTIVATE).content.decode())
    assert proven.get(STATUS).json() == {"activated": False}
    not_yet = proven.post(ACTIVATE, {"action": "check"})
    assert "not activated yet" in not_yet.content.decode()

    phone = SoftApp(Client())
    assert phone.activate(token_of(url)).status_code == HTTPStatus.OK
    assert proven.get(STATUS).json() == {"activated": True}
    asked = proven.post(ACTIVATE, {"action": "check"}).content.decode()
    assert "Enter it here" in asked
    # The activation alone added nothing: a photo of the QR code is not the person's phone.
    assert not Device.objects.filter(user=proven.person, confirmed_at__isnull=False).exists()
    wrong = proven.post(ACTIVATE, {"action": "confirm", "code": "000000"})
    assert "That passcode is not right" in wrong.content.decode()
    # django-otp waits a moment after a wrong passcode before it takes another.
    with time_machine.travel(timezone.now() + timedelta(seconds=3)):
        done = proven.post(ACTIVATE, {"action": "confirm", "code": phone.passcode()})
    assert done.url == DONE
    device = Device.objects.get(user=proven.person)
    assert device.is_confirmed and device.app is not None and device.methods[0] == "push"
    assert proven.get(DONE).status_code == HTTPStatus.OK


def test_the_activation_address_is_text_to_type_on_the_phone_not_a_link(proven):
    """A link would activate the desktop's own browser: both factors in one place."""
    to_install(proven)
    proven.post(INSTALL, {"action": "portal_app"})
    page = proven.get(ACTIVATE).content.decode()
    assert 'href="http' not in page.split("data-activation-url")[0][-300:]
    assert "/m/activate/#" not in "".join(re.findall(r'href="([^"]*)"', page))


def test_the_emailed_link_is_the_same_activation_link(proven, outbox):
    to_install(proven)
    proven.post(INSTALL, {"action": "portal_app"})
    url = activation_url(proven.get(ACTIVATE).content.decode())
    response = proven.post(ACTIVATE, {"action": "email"})
    assert response.status_code == HTTPStatus.FOUND
    email = [m for m in outbox if m.purpose == "twofactor.activation_link"][-1]
    assert url in email.body
    # The stored copy of the message does not keep the token.
    from delivery.models import Message

    stored = Message.objects.filter(purpose="twofactor.activation_link").latest("pk")
    assert token_of(url) not in stored.body


def test_the_status_is_told_only_inside_the_run(proven):
    """Another session, even of the same account, has no run and learns nothing."""
    to_install(proven)
    proven.post(INSTALL, {"action": "portal_app"})
    other = Client()
    other.force_login(proven.person)
    assert other.get(STATUS).status_code == HTTPStatus.FOUND


def test_choosing_another_app_keeps_the_passcode_activation(proven):
    to_install(proven)
    assert proven.post(INSTALL).url == ACTIVATE
    page = proven.get(ACTIVATE).content.decode()
    assert "Enter the 6-digit passcode" in page
    assert "/m/activate/" not in page
