"""The SafeCode panel of a person's page, and "Reset SafeCode registration".

The desk sees the channels masked, never the addresses; the reset retires every channel,
leaves no Skip, tells the account's email and the former contacts, and the person then meets
the registration prompt, without Skip, at the next sign-in.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from delivery.models import Message
from safecode.app_settings import app_settings
from safecode.models import Channel
from tests.factories import PHONE, SAFECODE_EMAIL, ChannelFactory, UserFactory

pytestmark = pytest.mark.django_db

PROMPT = reverse("safecode:prompt")
HOME = reverse("home")


@pytest.fixture
def agent():
    account = UserFactory(is_staff=True, username="desk.agent")
    account.groups.add(Group.objects.get(name="Service desk"))
    return account


@pytest.fixture
def person():
    """An account with a verified SafeCode phone and email, that skipped the prompt twice."""
    account = UserFactory(email="pat.person@hms.harvard.edu", safecode_skips=2)
    ChannelFactory(user=account)
    ChannelFactory(user=account, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    return account


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def act(client, account, name: str, **fields):
    data = {f"{name}-{key}": value for key, value in fields.items()}
    return client.post(reverse("admin:servicedesk_act", args=[account.pk, name]), data)


def test_the_panel_shows_the_channels_masked_their_status_and_the_skips(desk, person):
    response = desk.get(page(person))

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "•••-•••-0123" in body
    assert "m•••@example.org" in body
    assert "Verified" in body
    assert "2 of 5 times" in body
    assert PHONE not in body and "617-555-0123" not in body and "5550123" not in body
    assert SAFECODE_EMAIL not in body
    assert 'id="act-reset_safecode"' in body


def test_a_channel_waiting_for_its_code_is_shown_as_waiting():
    account = UserFactory()
    ChannelFactory(user=account, status=Channel.Status.PENDING)
    from servicedesk.actions.safecode import safecode_panel

    [channel] = safecode_panel(account, None)["channels"]
    assert channel["status"] == "Waiting for its code"
    assert not channel["verified"] and channel["verified_at"] == ""


def test_reset_removes_every_channel_and_leaves_no_skip(desk, agent, person):
    pending = ChannelFactory(user=person, address="+16175550999", status=Channel.Status.PENDING)

    response = act(desk, person, "reset_safecode", reason="Lost phone, ticket 4411")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == page(person)
    person.refresh_from_db()
    assert person.safecode_skips == app_settings.MAX_SKIPS
    assert not Channel.objects.filter(user=person).exclude(status=Channel.Status.RETIRED)
    pending.refresh_from_db()
    assert pending.status == Channel.Status.RETIRED and pending.retired_at is not None


def test_reset_is_audited_with_the_agent_the_reason_and_the_masked_channels(desk, agent, person):
    act(desk, person, "reset_safecode", reason="Lost phone, ticket 4411")

    desk_event = AuditEvent.objects.get(event="desk.reset_safecode")
    assert desk_event.actor == agent and desk_event.subject == person
    assert desk_event.detail["reason"] == "Lost phone, ticket 4411"
    reset = AuditEvent.objects.get(event="safecode.registration_reset")
    assert reset.actor == agent and reset.subject == person
    assert reset.detail["channels"] == [
        "Mobile phone ***-***-0123",
        "Personal email m***@example.org",
    ]
    assert PHONE not in str(reset.detail) and SAFECODE_EMAIL not in str(reset.detail)


def test_reset_tells_the_account_email_and_both_former_contacts(desk, person):
    act(desk, person, "reset_safecode", reason="Lost phone")

    emails = {m.recipient: m for m in Message.objects.filter(channel=Message.Channel.EMAIL)}
    assert set(emails) == {"pat.person@hms.harvard.edu", SAFECODE_EMAIL}
    for message in emails.values():
        assert "IT Service Desk" in message.body
        assert "Reset the SafeCode registration" in message.body
        assert "•••-•••-0123" in message.body
    [text] = Message.objects.filter(channel=Message.Channel.SMS)
    assert text.recipient == PHONE
    assert "removed" in text.body
    # The desk's generic notice (to the verified SafeCode emails) is not sent as well.
    assert Message.objects.count() == 3


def test_after_the_reset_the_person_must_register_at_the_next_sign_in_without_skip(desk, person):
    act(desk, person, "reset_safecode", reason="Lost phone")

    from django.test import Client

    browser = Client()
    browser.force_login(User.objects.get(pk=person.pk))
    response = browser.get(HOME)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(PROMPT)
    prompt = browser.get(PROMPT).content.decode()
    assert "Skip for now" not in prompt
    assert "Register a phone or email to continue" in prompt
    browser.post(PROMPT, {"next": HOME})
    assert browser.get(HOME)["Location"].startswith(PROMPT)


def test_without_a_reason_or_a_verified_call_nothing_is_reset(desk, person):
    response = act(desk, person, "reset_safecode", reason="  ")

    assert response.status_code == HTTPStatus.FOUND
    assert Channel.objects.filter(user=person, status=Channel.Status.VERIFIED).count() == 2
    assert not AuditEvent.objects.filter(event="desk.reset_safecode").exists()
    assert not Message.objects.exists()
    messages = [str(m) for m in desk.get(page(person)).context["messages"]]
    assert "Write a reason, or verify the caller first." in messages


def test_an_agent_without_the_permission_is_refused(client, person):
    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="view_deskaccount"))
    client.force_login(agent)

    assert 'id="act-reset_safecode"' not in client.get(page(person)).content.decode()
    response = act(client, person, "reset_safecode", reason="Because")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Channel.objects.filter(user=person, status=Channel.Status.VERIFIED).count() == 2
    assert AuditEvent.objects.filter(event="desk.refused").exists()


def test_the_button_is_offered_only_when_there_is_something_to_reset(desk):
    account = UserFactory(safecode_skips=app_settings.MAX_SKIPS)

    body = desk.get(page(account)).content.decode()
    assert 'id="act-reset_safecode"' not in body
    assert "No SafeCode phone or email is registered." in body
    assert "before anything else" in body

    act(desk, account, "reset_safecode", reason="Again")
    assert not AuditEvent.objects.filter(event="desk.reset_safecode").exists()


def test_an_account_with_skips_left_and_no_channel_can_be_made_to_register(desk):
    account = UserFactory(safecode_skips=1)

    act(desk, account, "reset_safecode", reason="Department asked that it register now")

    account.refresh_from_db()
    assert account.safecode_skips == app_settings.MAX_SKIPS
    [message] = Message.objects.all()
    assert message.recipient == account.email
