"""The two-factor panel of a person's page: devices and remembered browsers, "Remove a
device" (a lost phone, the last one included) and "Forget all remembered browsers"."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Affiliation
from audit.models import AuditEvent
from delivery.models import Message
from servicedesk.actions import ActionRefused, desk_action_run
from servicedesk.actions.twofactor import DeviceForm
from tests.factories import ChannelFactory, UserFactory
from tests.helpers import in_threads, on_postgresql
from tests.twofactor.conftest import LANDLINE_NUMBER, MOBILE_NUMBER, make_device
from twofactor.models import Device, PhoneDevice, RememberedBrowser
from twofactor.policy import twofactor_required
from twofactor.services import (
    LastDeviceRequired,
    TwoFactorError,
    browser_is_remembered,
    browser_remember,
    device_remove,
    device_remove_by_desk,
)

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def agent():
    # Outside the directory, so that a policy by affiliation covers the person, not the agent
    # (the console would ask the agent for a second factor first).
    account = UserFactory(is_staff=True, username="desk.agent", person=None)
    account.groups.add(Group.objects.get(name="Service desk"))
    return account


@pytest.fixture
def person():
    account = UserFactory(email="pat.person@hms.harvard.edu")
    ChannelFactory(user=account)
    return account


@pytest.fixture
def phone(person) -> Device:
    return make_device(person, name="Pat's iPhone", number=MOBILE_NUMBER)


@pytest.fixture
def desk_phone(person, phone) -> Device:
    return make_device(
        person, kind=Device.Kind.LANDLINE, name="Desk phone", number=LANDLINE_NUMBER, app=False
    )


@pytest.fixture
def cookie(person) -> str:
    return browser_remember(user=person, user_agent=FIREFOX)


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def act(client, account, name: str, **fields):
    data = {f"{name}-{key}": value for key, value in fields.items()}
    return client.post(reverse("admin:servicedesk_act", args=[account.pk, name]), data)


def flashed(client, account) -> list[str]:
    return [str(m) for m in client.get(page(account)).context["messages"]]


def test_the_panel_lists_devices_and_remembered_browsers_without_secrets(
    desk, phone, desk_phone, cookie
):
    body = desk.get(page(phone.user)).content.decode()

    assert "Pat&#x27;s iPhone" in body and "Desk phone" in body
    assert "Mobile phone" in body and "Landline" in body
    assert "•••-•••-0142" in body and "•••-•••-0199" in body
    assert MOBILE_NUMBER not in body and LANDLINE_NUMBER not in body
    assert "Firefox on Windows" in body
    assert '<select name="remove_device-device"' in body
    assert f'<option value="{phone.pk}">Pat&#x27;s iPhone (•••-•••-0142)</option>' in body
    assert 'id="act-forget_browsers"' in body
    totp = TOTPDevice.objects.get(pk=phone.totp_id)
    assert totp.key not in body
    secret = cookie.partition(":")[2]
    assert secret not in body
    assert RememberedBrowser.objects.get().secret_hash not in body


def test_removing_a_device_removes_its_factors_moves_the_default_and_forgets_browsers(
    desk, agent, person, phone, desk_phone, cookie
):
    response = act(desk, person, "remove_device", device=str(phone.pk), reason="Phone lost")

    assert response.status_code == HTTPStatus.FOUND
    assert not Device.objects.filter(pk=phone.pk).exists()
    assert not TOTPDevice.objects.filter(pk=phone.totp_id).exists()
    assert not PhoneDevice.objects.filter(pk=phone.phone_id).exists()
    desk_phone.refresh_from_db()
    assert desk_phone.is_default
    assert not RememberedBrowser.objects.filter(user=person).exists()
    assert not browser_is_remembered(user=person, cookie=cookie)
    assert "Removed the two-factor device “Pat's iPhone”." in flashed(desk, person)[0]


def test_removing_a_device_is_audited_and_the_person_is_told(
    desk, agent, person, phone, desk_phone
):
    act(desk, person, "remove_device", device=str(phone.pk), reason="Phone lost")

    desk_event = AuditEvent.objects.get(event="desk.remove_device")
    assert desk_event.actor == agent and desk_event.detail["reason"] == "Phone lost"
    removed = AuditEvent.objects.get(event="twofactor.device_removed")
    assert removed.actor == agent and removed.subject == person
    assert removed.detail["device"] == "Pat's iPhone"
    assert removed.detail["by"] == "service_desk"
    [notice] = Message.objects.filter(purpose="desk_action")
    assert notice.recipient == "pat.person@hms.harvard.edu"
    assert "IT Service Desk" in notice.body and "Pat's iPhone" in notice.body


def test_the_desk_may_remove_the_last_device_of_an_account_that_must_have_one(
    desk, person, phone, settings
):
    settings.TWOFACTOR_REQUIRED_FOR = (Affiliation.STAFF,)
    assert twofactor_required(person)
    with pytest.raises(LastDeviceRequired):  # the person may not remove it themselves
        device_remove(device=phone)

    act(desk, person, "remove_device", device=str(phone.pk), reason="Phone stolen")

    assert not Device.objects.filter(user=person).exists()
    assert "a new one must be set up at the next sign-in" in flashed(desk, person)[0]


def test_a_device_of_another_account_is_refused_by_the_form_and_by_the_action(
    desk, agent, person, phone
):
    theirs = make_device(UserFactory(), name="Someone else's phone")

    act(desk, person, "remove_device", device=str(theirs.pk), reason="Typo")

    assert flashed(desk, person)[0].startswith("Remove a device: Select a valid choice.")
    # The action does not rely on the form: it checks the device against the account.
    with pytest.raises(ActionRefused, match="not one of this account's"):
        desk_action_run(
            name="remove_device",
            agent=agent,
            account=person,
            reason="Typo",
            data={"device": theirs.pk},
        )
    assert Device.objects.filter(pk=theirs.pk).exists() and Device.objects.filter(pk=phone.pk)
    assert not AuditEvent.objects.filter(event="desk.remove_device").exists()
    assert not Message.objects.filter(purpose="desk_action").exists()


@pytest.mark.parametrize("typed", ["", "abc", "١٢", "-1", "1 OR 1=1"])
def test_a_device_that_is_not_an_id_is_a_form_error(desk, person, phone, typed):
    response = act(desk, person, "remove_device", device=typed, reason="Phone lost")

    assert response.status_code == HTTPStatus.FOUND
    assert Device.objects.filter(pk=phone.pk).exists()
    assert flashed(desk, person)[0].startswith("Remove a device: ")


def test_without_the_account_the_form_takes_a_device_id():
    form = DeviceForm({"remove_device-device": " 42 "}, prefix="remove_device")
    assert form.is_valid() and form.cleaned_data["device"] == 42
    form = DeviceForm({"remove_device-device": "4x"}, prefix="remove_device")
    assert not form.is_valid()


def test_given_the_account_the_form_offers_its_devices():
    person = UserFactory()
    phone = make_device(person, name="Pat's iPhone", number=MOBILE_NUMBER)
    make_device(UserFactory(), name="Not theirs")

    form = DeviceForm(prefix="remove_device", account=person)
    assert list(form.fields["device"].choices) == [(str(phone.pk), "Pat's iPhone (•••-•••-0142)")]
    form = DeviceForm(
        {"remove_device-device": str(phone.pk), "remove_device-reason": "x"},
        prefix="remove_device",
        account=person,
    )
    assert form.is_valid() and form.cleaned_data["device"] == phone.pk


def test_forget_browsers_forgets_every_browser_audited_and_told(desk, agent, person, phone):
    cookies = [browser_remember(user=person, user_agent=FIREFOX) for _ in range(2)]
    kept = browser_remember(user=UserFactory(), user_agent=FIREFOX)

    act(desk, person, "forget_browsers", reason="Shared computer at a conference")

    assert not any(browser_is_remembered(user=person, cookie=c) for c in cookies)
    assert RememberedBrowser.objects.filter(pk=int(kept.partition(":")[0])).exists()
    assert Device.objects.filter(pk=phone.pk).exists()
    assert "Forgot 2 remembered browsers" in flashed(desk, person)[0]
    event = AuditEvent.objects.get(event="twofactor.browsers_forgotten")
    assert event.actor == agent and event.detail["count"] == 2
    assert AuditEvent.objects.filter(event="desk.forget_browsers", actor=agent).exists()
    [notice] = Message.objects.filter(purpose="desk_action")
    assert "Forgot 2 remembered browsers" in notice.body


def test_the_buttons_appear_only_when_there_is_something_to_do(desk, person):
    body = desk.get(page(person)).content.decode()

    assert 'id="act-remove_device"' not in body and 'id="act-forget_browsers"' not in body
    assert "No two-factor device." in body and "No browser is remembered." in body


def test_an_agent_without_manage_twofactor_cannot_remove_or_forget(client, person, phone, cookie):
    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="view_deskaccount"))
    client.force_login(agent)

    body = client.get(page(person)).content.decode()
    assert 'name="remove_device-device"' not in body
    remove = act(client, person, "remove_device", device=str(phone.pk), reason="x")
    forget = act(client, person, "forget_browsers", reason="x")

    assert remove.status_code == forget.status_code == HTTPStatus.FORBIDDEN
    assert Device.objects.filter(pk=phone.pk).exists()
    assert browser_is_remembered(user=person, cookie=cookie)


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_agents_removing_one_device_at_once_remove_it_once():
    person = UserFactory()
    phone = make_device(person, name="Pat's iPhone", number=MOBILE_NUMBER)
    agents = [UserFactory(is_staff=True, person=None) for _ in range(2)]

    def remove(i: int) -> str:
        try:
            return device_remove_by_desk(device=phone, agent=agents[i])
        except TwoFactorError:
            return "refused"

    assert sorted(in_threads(remove, 2)) == ["Pat's iPhone", "refused"]
    assert AuditEvent.objects.filter(event="twofactor.device_removed").count() == 1


def test_a_browser_remembered_under_an_old_password_is_neither_listed_nor_forgettable(
    desk, person, cookie
):
    from tests.factories import password_hash

    person.password = password_hash("a newer password entirely")
    person.save(update_fields=["password"])

    body = desk.get(page(person)).content.decode()
    assert "No browser is remembered." in body
    assert 'id="act-forget_browsers"' not in body
