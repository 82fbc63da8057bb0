"""My Settings & Devices: what it lists, and each change made only with a fresh second factor.

A change posted without a second factor in the last 10 minutes is not made; the person
confirms with a device ("Confirm with your device") and comes back to the page.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from urllib.parse import quote

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.services.recent_proof import recent_proof_satisfied
from delivery.models import Message
from tests.factories import ChannelFactory, UserFactory
from tests.helpers import other_code
from tests.twofactor.conftest import (
    CONFIRM,
    DEVICES,
    MOBILE_NUMBER,
    app_passcode,
    make_device,
    password_step,
    phone_passcode,
    second_step,
    signed_in_as,
)
from twofactor.models import Device, Profile, RememberedBrowser

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
CONFIRM_AND_BACK = f"{CONFIRM}?next={quote(DEVICES, safe='')}"


def sign_in(client, user, device):
    """Signed in through both steps: the second factor is fresh for 10 minutes."""
    password_step(client, user)
    response = second_step(client, device)
    assert signed_in_as(client) == user.pk, response
    return response


@pytest.fixture
def signed_in(client, user, device):
    sign_in(client, user, device)
    return client


@pytest.fixture
def stale(client, user, device):
    """Signed in 11 minutes ago: every change asks for the device again."""
    sign_in(client, user, device)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        yield client


def confirm_with(client, device, *, next_url=DEVICES, code=None):
    return client.post(
        CONFIRM,
        {
            "device": device.pk,
            "method": "passcode",
            "next": next_url,
            "code": app_passcode(device) if code is None else code,
        },
    )


# The page ---------------------------------------------------------------------------------


def test_the_page_lists_each_device(signed_in, device, landline):
    page = signed_in.get(DEVICES)
    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    for shown in (
        "My iPhone",
        "Mobile phone",
        "•••-•••-0142",
        "Desk phone",
        "Landline",
        "•••-•••-0199",
        "Added",
        "Last used",
        "(default)",
    ):
        assert shown in text
    assert reverse("twofactor:enroll") in text
    assert "Add another device" in text
    assert "Not yet" in text  # the desk phone was never used to sign in


def test_the_page_needs_a_signed_in_person(client):
    response = client.get(DEVICES)
    assert response.url.startswith(reverse("accounts:login"))


def test_when_i_log_in_is_offered_only_when_the_default_device_has_a_phone(client, user):
    app_only = make_device(user, name="App only")
    sign_in(client, user, app_only)
    assert "Automatically call this device" not in client.get(DEVICES).content.decode()
    response = client.post(reverse("twofactor:login_action"), {"action": "call"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Your default device cannot receive calls." in response.content.decode()
    assert not Profile.objects.filter(user=user, login_action="call").exists()


def test_remembered_browsers_are_listed_with_their_browser(client, user, device):
    password_step(client, user)
    client.post(
        reverse("twofactor:verify"),
        {"device": device.pk, "method": "passcode", "code": app_passcode(device), "remember": "on"},
        HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko Firefox/125.0",
    )
    text = client.get(DEVICES).content.decode()
    assert "Firefox on Windows" in text
    assert "(this browser)" in text
    assert "Forget" in text


# A fresh second factor --------------------------------------------------------------------


def test_right_after_sign_in_a_change_is_made(signed_in, device, landline):
    response = signed_in.post(reverse("twofactor:device_default", args=[landline.pk]))
    assert response.url == DEVICES
    landline.refresh_from_db()
    assert landline.is_default


@pytest.mark.parametrize(
    ("after", "fresh"),
    [(timedelta(minutes=10) - SECOND, True), (timedelta(minutes=10) + SECOND, False)],
)
def test_a_second_factor_is_fresh_for_10_minutes(client, user, device, landline, after, fresh):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in(client, user, device)
        clock.shift(after)
        response = client.post(reverse("twofactor:device_default", args=[landline.pk]))
    landline.refresh_from_db()
    assert landline.is_default is fresh
    assert (response.url == DEVICES) is fresh


def test_a_stale_change_confirms_with_a_device_and_comes_back(stale, device, landline):
    response = stale.post(reverse("twofactor:device_default", args=[landline.pk]))
    assert response.url == CONFIRM_AND_BACK
    landline.refresh_from_db()
    assert not landline.is_default
    page = stale.get(response.url)
    assert page.status_code == HTTPStatus.OK
    assert "Confirm with your device" in page.content.decode()
    assert "Remember me" not in page.content.decode()
    confirmed = confirm_with(stale, device)
    assert confirmed.url == DEVICES
    response = stale.post(reverse("twofactor:device_default", args=[landline.pk]))
    assert response.url == DEVICES
    landline.refresh_from_db()
    assert landline.is_default


def test_confirming_rotates_the_session_key_and_verifies_the_session(stale, device):
    before = stale.session.session_key
    confirm_with(stale, device)
    assert stale.session.session_key != before
    assert stale.session["otp_device_id"] == device.totp.persistent_id


def test_confirming_with_a_texted_passcode(stale, device):
    stale.post(CONFIRM, {"action": "send", "device": device.pk, "method": "sms", "next": DEVICES})
    response = stale.post(
        CONFIRM,
        {
            "device": device.pk,
            "method": "sms",
            "next": DEVICES,
            "code": phone_passcode(MOBILE_NUMBER),
        },
    )
    assert response.url == DEVICES


def test_a_wrong_passcode_does_not_confirm(stale, device):
    response = confirm_with(stale, device, code=other_code(app_passcode(device)))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "That passcode is not right, or it has expired." in response.content.decode()
    assert stale.post(reverse("twofactor:device_default", args=[device.pk])).url.startswith(CONFIRM)


def test_ten_wrong_passcodes_at_the_step_up_lock_and_sign_out(stale, user, device):
    for _ in range(10):
        response = confirm_with(stale, device, code="000000")
    assert "Your account is locked" in response.content.decode()
    assert signed_in_as(stale) is None
    user.refresh_from_db()
    assert user.is_locked


def test_confirming_goes_back_only_to_a_path_of_this_site(stale, device):
    assert confirm_with(stale, device, next_url="https://evil.example/").url == DEVICES
    refused = confirm_with(stale, device, next_url="//evil.example/", code="000000")
    assert "evil.example" not in refused.content.decode()


def test_the_step_up_is_also_the_recent_proof_for_safecode_and_email(stale, user, device):
    request = type("R", (), {"session": stale.session})()
    assert not recent_proof_satisfied(request, user)
    confirm_with(stale, device)
    request = type("R", (), {"session": stale.session})()
    assert recent_proof_satisfied(request, user)
    page = stale.get(reverse("safecode:manage")).content.decode()
    assert "Save and send a code" in page


def test_a_person_without_a_device_is_sent_to_enroll(client, settings):
    settings.TWOFACTOR_REQUIRED_FOR = ()
    account = UserFactory()
    ChannelFactory(user=account)
    client.force_login(account)
    assert client.get(CONFIRM).url.startswith(reverse("twofactor:enroll"))


# Each change --------------------------------------------------------------------------------


def test_rename(signed_in, device):
    response = signed_in.post(
        reverse("twofactor:device_rename", args=[device.pk]), {"name": "  Work   phone "}
    )
    assert response.url == DEVICES
    device.refresh_from_db()
    assert device.name == "Work phone"


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there\x00"])
def test_rename_refuses_an_empty_or_odd_name(signed_in, device, name):
    response = signed_in.post(reverse("twofactor:device_rename", args=[device.pk]), {"name": name})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    text = response.content.decode()
    assert "<title>Error: " in text
    assert "There is a problem" in text
    device.refresh_from_db()
    assert device.name == "My iPhone"


def test_remove_a_device_and_be_told_by_email(signed_in, user, device, landline):
    response = signed_in.post(reverse("twofactor:device_remove", args=[landline.pk]))
    assert response.url == DEVICES
    assert not Device.objects.filter(pk=landline.pk).exists()
    notice = Message.objects.get(user=user, purpose__contains="device_removed")
    assert notice.recipient == user.email
    assert '"Desk phone" was removed' in notice.body
    assert "/report/" in notice.body  # "This was not me"


def test_the_last_device_cannot_be_removed(signed_in, device):
    response = signed_in.post(reverse("twofactor:device_remove", args=[device.pk]))
    assert response.status_code == HTTPStatus.CONFLICT
    text = response.content.decode()
    assert "This is your only device. Add another before you remove it." in text
    assert "<title>Error: " in text
    assert Device.objects.filter(pk=device.pk).exists()


def test_make_default(signed_in, device, landline):
    signed_in.post(reverse("twofactor:device_default", args=[landline.pk]))
    assert list(Device.objects.filter(is_default=True)) == [landline]


def test_when_i_log_in_automatically_call(signed_in, user, device):
    assert "Automatically call this device" in signed_in.get(DEVICES).content.decode()
    response = signed_in.post(reverse("twofactor:login_action"), {"action": "call"})
    assert response.url == DEVICES
    assert Profile.objects.get(user=user).login_action == "call"


def test_forget_a_browser(signed_in, user):
    browser = RememberedBrowser.objects.create(
        user=user,
        secret_hash="x",
        password_marker="y",
        expires_at=timezone.now() + timedelta(days=30),
    )
    response = signed_in.post(reverse("twofactor:browser_forget", args=[browser.pk]))
    assert response.url == DEVICES
    assert not RememberedBrowser.objects.filter(pk=browser.pk).exists()


@pytest.mark.parametrize("url_name", ["device_rename", "device_remove", "device_default"])
def test_another_persons_device_is_not_found(signed_in, url_name):
    other = UserFactory()
    theirs = make_device(other, name="Their phone")
    response = signed_in.post(reverse(f"twofactor:{url_name}", args=[theirs.pk]), {"name": "Mine"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    theirs.refresh_from_db()
    assert theirs.name == "Their phone"


def test_another_persons_browser_is_not_found(signed_in):
    other = UserFactory()
    theirs = RememberedBrowser.objects.create(
        user=other,
        secret_hash="x",
        password_marker="y",
        expires_at=timezone.now() + timedelta(days=30),
    )
    response = signed_in.post(reverse("twofactor:browser_forget", args=[theirs.pk]))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert RememberedBrowser.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize("url_name", ["device_rename", "device_remove", "device_default"])
def test_a_change_is_a_post(signed_in, device, url_name):
    response = signed_in.get(reverse(f"twofactor:{url_name}", args=[device.pk]))
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


# Hostile input ----------------------------------------------------------------------------

TEXT = st.text(max_size=80) | st.sampled_from(
    ["", "call", "ask", "%s", "\x00", "9" * 30, "<b>", "passcode", "send"]
)


@given(name=TEXT, action=TEXT, device_field=TEXT, method=TEXT, code=TEXT, next_url=TEXT)
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_nothing_typed_on_these_pages_answers_500(
    signed_in, device, name, action, device_field, method, code, next_url
):
    for url, data in (
        (reverse("twofactor:device_rename", args=[device.pk]), {"name": name}),
        (reverse("twofactor:login_action"), {"action": action}),
        (
            CONFIRM,
            {
                "device": device_field,
                "method": method,
                "code": code,
                "next": next_url,
                "action": action,
            },
        ),
    ):
        assert signed_in.post(url, data).status_code < 500
    assert signed_in.get(CONFIRM, {"next": next_url}).status_code < 500


@pytest.mark.parametrize("pk", ["0", "99999999999999999999999"])
def test_an_out_of_range_id_is_not_found(signed_in, pk):
    response = signed_in.post(f"/twofactor/devices/{pk}/remove/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    response = signed_in.post(f"/twofactor/browsers/{pk}/forget/")
    assert response.status_code == HTTPStatus.NOT_FOUND
