"""Fixtures of the two-factor tests: accounts with confirmed devices, passcodes as the app or
the phone would show them, and the second step of sign-in as a person goes through it.

The policy is production's (everyone must enroll); the console tests set the staff rule.
Devices are confirmed five minutes in the past, so the passcode that confirmed one is in an
earlier time step than any a test enters now.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP

from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, UserFactory
from tests.helpers import post_login
from twofactor.models import Device
from twofactor.services import device_confirm, device_number_proven, device_start

MOBILE_NUMBER = "+16175550142"
LANDLINE_NUMBER = "+16174320199"
VERIFY = reverse("twofactor:verify")
DEVICES = reverse("twofactor:devices")
CONFIRM = reverse("twofactor:confirm")


@pytest.fixture(autouse=True)
def _production_policy(settings):
    settings.TWOFACTOR_REQUIRED_FOR = "all"


def app_passcode(device: Device, *, steps: int = 0) -> str:
    """The passcode the authenticator app shows now, or ``steps`` time steps away."""
    totp = TOTP(device.totp.bin_key, step=device.totp.step, digits=device.totp.digits)
    totp.time = timezone.now().timestamp() + steps * device.totp.step
    return f"{totp.token():06d}"


def phone_passcode(number: str) -> str:
    """The passcode of the last text message or call to ``number``."""
    message = Message.objects.filter(recipient=number).order_by("-pk").first()
    assert message is not None, f"nothing was sent to {number}"
    return re.search(r"\b(\d{6})\b", message.body.replace(", ", "")).group(1)


def make_device(
    user, *, kind: str = Device.Kind.MOBILE, name: str = "My phone", number: str = "", app=True
) -> Device:
    """A confirmed device of ``user``: an authenticator app (TOTP) and/or a phone number."""
    with time_machine.travel(timezone.now() - timedelta(minutes=5), tick=False):
        device = device_start(user=user, kind=kind, name=name, number=number, app=app)
        device.refresh_from_db()
        if app:
            assert device_confirm(device=device, method="passcode", code=app_passcode(device))
            if number:
                device_number_proven(device=device)
        else:
            from twofactor.services import passcode_send

            passcode_send(device=device, method="call")
            assert device_confirm(device=device, method="call", code=phone_passcode(number))
    return Device.objects.select_related("totp", "phone").get(pk=device.pk)


@pytest.fixture
def user():
    """An account with a SafeCode phone, so nothing but the second factor stands in its way."""
    account = UserFactory()
    ChannelFactory(user=account)
    return account


@pytest.fixture
def device(user) -> Device:
    """The account's mobile phone: an authenticator app and a number for texts and calls."""
    return make_device(user, name="My iPhone", number=MOBILE_NUMBER)


@pytest.fixture
def landline(user, device) -> Device:
    """A second device of the account: a desk phone that can only be called."""
    return make_device(
        user, kind=Device.Kind.LANDLINE, name="Desk phone", number=LANDLINE_NUMBER, app=False
    )


def password_step(client, user, **extra):
    """The password, as at the sign-in page; the second step is next."""
    return post_login(client, user.username, DEFAULT_PASSWORD, **extra)


def second_step(client, device: Device, *, code: str | None = None, method="passcode", **extra):
    """Enter a passcode for ``device`` on the second step."""
    data = {
        "device": device.pk,
        "method": method,
        "code": app_passcode(device) if code is None else code,
        **extra,
    }
    return client.post(VERIFY, data)


def signed_in_as(client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None
