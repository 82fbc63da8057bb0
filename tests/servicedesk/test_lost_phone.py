"""A lost phone, on a verified call: the SafeCode phone and the two-factor devices with its
number go in one step, and one bypass code is shown once so that the person can sign in."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import AuditEvent
from safecode.models import Channel
from servicedesk.models import CallerCheck
from tests.factories import PHONE, SAFECODE_EMAIL, ChannelFactory, UserFactory
from tests.twofactor.conftest import make_device
from twofactor.bypass import bypass_code_accept
from twofactor.models import BypassCode, Device

pytestmark = pytest.mark.django_db

OTHER_NUMBER = "+16175550177"


@pytest.fixture
def account():
    user = UserFactory()
    ChannelFactory(user=user)  # PHONE, ending 0123
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    make_device(user, name="My iPhone", number=PHONE)
    make_device(user, name="Work phone", number=OTHER_NUMBER)
    return user


def verified(agent, account) -> CallerCheck:
    return CallerCheck.objects.create(
        agent=agent, account=account, results={"code": True}, verified=True
    )


def act(client, account, reason="", **data):
    fields = {"lost_phone-reason": reason}
    for key, value in data.items():
        if value is True:
            fields[f"lost_phone-{key}"] = "on"
        elif value is not False:
            fields[f"lost_phone-{key}"] = value
    return client.post(reverse("admin:servicedesk_act", args=[account.pk, "lost_phone"]), fields)


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def test_it_needs_a_verified_call(desk, account):
    response = act(desk, account, reason="Lost it", last4="0123", safecode_phone=True)
    assert response.status_code == HTTPStatus.FOUND
    assert Channel.objects.filter(user=account, address=PHONE, status="verified").exists()
    assert Device.objects.filter(user=account).count() == 2
    assert not BypassCode.objects.exists()
    assert "needs a verified call" in desk.get(page(account)).content.decode()


def test_removes_both_and_shows_one_bypass_code_once(
    desk, agent, account, outbox, django_capture_on_commit_callbacks
):
    verified(agent, account)
    with django_capture_on_commit_callbacks(execute=True):
        response = act(desk, account, last4="0123", safecode_phone=True, twofactor_devices=True)
    assert response.status_code == HTTPStatus.OK
    text = response.content.decode()
    code = re.search(r'<code class="desk-secret">(\d{3}) (\d{3}) (\d{3})</code>', text)
    assert code, "the bypass code is shown"
    code = "".join(code.groups())
    # The SafeCode phone is retired, the device with its number gone, the other device kept.
    assert not Channel.objects.filter(user=account, kind="phone").exclude(status="retired")
    assert Channel.objects.filter(user=account, kind="email", status="verified").exists()
    assert list(Device.objects.filter(user=account).values_list("name", flat=True)) == [
        "Work phone"
    ]
    # Audited, and the person is told by email; nothing goes to the lost phone.
    event = AuditEvent.objects.get(event="desk.lost_phone")
    assert event.actor == agent and event.detail["verified_call"]
    assert "***-***-0123" in event.detail["done"] and code not in str(event.detail)
    assert AuditEvent.objects.filter(event="safecode.channel_removed", actor=agent).exists()
    assert AuditEvent.objects.filter(event="twofactor.device_removed", actor=agent).exists()
    mails = [m for m in outbox if m.recipient == account.notice_email]
    assert any("My iPhone" in m.body for m in mails)
    assert all(code not in m.body for m in outbox)
    assert not [m for m in outbox if m.recipient == PHONE]
    # Shown once: the person's page does not show it again, and only its hash is stored.
    assert code not in desk.get(page(account)).content.decode()
    assert code not in BypassCode.objects.get(user=account).code_hash
    # The code works once.
    assert bypass_code_accept(user=account, typed=code)
    assert not bypass_code_accept(user=account, typed=code)


def test_a_new_safecode_phone_waits_for_its_code(
    desk, agent, account, outbox, django_capture_on_commit_callbacks
):
    verified(agent, account)
    with django_capture_on_commit_callbacks(execute=True):
        act(
            desk,
            account,
            last4="0123",
            safecode_phone=True,
            twofactor_devices=True,
            new_phone="(617) 555-0188",
        )
    new = Channel.objects.get(user=account, kind="phone", status=Channel.Status.PENDING)
    assert new.address == "+16175550188"
    assert [m for m in outbox if m.recipient == "+16175550188"], "its code was sent"


def test_only_the_devices_when_the_safecode_phone_is_kept(desk, agent, account):
    verified(agent, account)
    act(desk, account, last4="0177", twofactor_devices=True)
    assert Channel.objects.filter(user=account, address=PHONE, status="verified").exists()
    assert list(Device.objects.filter(user=account).values_list("name", flat=True)) == ["My iPhone"]


def test_a_number_that_is_not_the_accounts_changes_nothing(desk, agent, account):
    verified(agent, account)
    act(desk, account, last4="9999", safecode_phone=True, twofactor_devices=True)
    assert Channel.objects.filter(user=account, address=PHONE, status="verified").exists()
    assert Device.objects.filter(user=account).count() == 2
    assert not BypassCode.objects.exists()
    assert not AuditEvent.objects.filter(event="desk.lost_phone").exists()


def test_all_or_nothing_when_the_devices_are_missing(desk, agent, account):
    """The SafeCode phone matches but no device does: nothing is removed."""
    Device.objects.filter(user=account, number=PHONE).delete()
    verified(agent, account)
    act(desk, account, last4="0123", safecode_phone=True, twofactor_devices=True)
    assert Channel.objects.filter(user=account, address=PHONE, status="verified").exists()
    assert not BypassCode.objects.exists()


def test_without_the_permission_it_is_forbidden(client, account):
    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(
        Permission.objects.get(codename="view_deskaccount"),
        Permission.objects.get(codename="verify_caller"),
    )
    verified(agent, account)
    client.force_login(agent)
    response = act(client, account, last4="0123", safecode_phone=True)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Device.objects.filter(user=account).count() == 2
