"""The service-desk console requires a session verified with a second factor.

With ``TWOFACTOR_REQUIRED_FOR_STAFF`` on (production), a staff member signed in without one
(a remembered browser, or a session from before enrollment) is sent to confirm with a device,
or to enroll one, and comes back to the console; never a 403. With it off, the console
behaves as before (tests/security/test_admin_door.py).
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from urllib.parse import quote

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tests.factories import ChannelFactory, UserFactory
from tests.twofactor.conftest import (
    CONFIRM,
    app_passcode,
    make_device,
    password_step,
    second_step,
    signed_in_as,
)

pytestmark = pytest.mark.django_db

ADMIN = reverse("admin:index")
ADMIN_LOGIN = reverse("admin:login")


@pytest.fixture(autouse=True)
def _staff_policy(settings):
    settings.TWOFACTOR_REQUIRED_FOR = ()
    settings.TWOFACTOR_REQUIRED_FOR_STAFF = True


@pytest.fixture
def desk_user():
    account = UserFactory(is_staff=True)
    account.groups.add(Group.objects.get(name="Service desk"))
    ChannelFactory(user=account)
    return account


@pytest.fixture
def desk_device(desk_user):
    return make_device(desk_user, name="Desk iPhone")


def console_after_redirects(client):
    response = client.get(ADMIN, follow=True)
    return response.redirect_chain[-1][0] if response.redirect_chain else ADMIN


def test_a_desk_user_who_gave_a_second_factor_reaches_the_console(client, desk_user, desk_device):
    password_step(client, desk_user, next=ADMIN)
    response = second_step(client, desk_device)
    assert response.url == ADMIN
    assert client.get(ADMIN).status_code == HTTPStatus.OK


def test_a_session_without_a_second_factor_is_sent_to_confirm_and_back(desk_user, desk_device):
    client = Client()
    client.force_login(desk_user)
    response = client.get(ADMIN, follow=True)
    assert response.redirect_chain[-1][0] == f"{CONFIRM}?next={quote(ADMIN, safe='')}"
    assert response.status_code == HTTPStatus.OK
    assert AuditEvent.objects.filter(
        event="admin.denied", detail__reason="second_factor_required"
    ).exists()
    back = client.post(
        CONFIRM,
        {
            "device": desk_device.pk,
            "method": "passcode",
            "code": app_passcode(desk_device),
            "next": ADMIN,
        },
    )
    assert back.url == ADMIN
    assert client.get(ADMIN).status_code == HTTPStatus.OK


def test_a_remembered_browser_does_not_open_the_console(desk_user, desk_device):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        password_step(client, desk_user)
        second_step(client, desk_device, remember="on")
        client.post(reverse("accounts:logout"))
        clock.shift(timedelta(seconds=30))
        password_step(client, desk_user, next=ADMIN)
        assert signed_in_as(client) == desk_user.pk
        assert console_after_redirects(client).startswith(CONFIRM)


def test_a_desk_user_without_a_device_is_sent_to_enroll(desk_user):
    client = Client()
    client.force_login(desk_user)
    response = client.get(ADMIN_LOGIN, {"next": ADMIN})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url.startswith(reverse("twofactor:enroll"))


def test_removing_the_device_used_ends_the_consoles_verification(client, desk_user, desk_device):
    spare = make_device(desk_user, kind="tablet", name="Desk iPad")
    password_step(client, desk_user)
    second_step(client, desk_device)
    assert client.get(ADMIN).status_code == HTTPStatus.OK
    client.post(reverse("twofactor:device_remove", args=[desk_device.pk]))
    assert console_after_redirects(client).startswith(CONFIRM)
    assert spare.pk


def test_a_person_without_console_access_is_still_refused(client):
    account = UserFactory()
    ChannelFactory(user=account)
    make_device(account)
    client.force_login(account)
    assert client.get(ADMIN_LOGIN, {"next": ADMIN}).status_code == HTTPStatus.FORBIDDEN


def test_with_the_staff_rule_off_the_console_needs_no_second_factor(settings, desk_user):
    settings.TWOFACTOR_REQUIRED_FOR_STAFF = False
    client = Client()
    client.force_login(desk_user)
    assert client.get(ADMIN).status_code == HTTPStatus.OK


def test_authenticate_refuses_an_account_whose_second_factor_is_not_given(user, device, rf):
    """A later door that calls ``authenticate()`` and then ``login()`` gets nobody: the
    backend refuses an account that a stage of the sign-in pipeline still waits for."""
    from django.contrib.auth import authenticate

    from tests.factories import DEFAULT_PASSWORD, UserFactory

    request = rf.post("/some/door/")
    assert authenticate(request, username=user.username, password=DEFAULT_PASSWORD) is None
    plain = UserFactory()
    assert authenticate(request, username=plain.username, password=DEFAULT_PASSWORD) == plain
