"""Bypass codes at the service desk: an agent issues them on a person's page, sees them once,
the person is told and signs in with one, once; the list shows what became of each code and
never the code; an agent without the permission cannot issue any."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import ChannelFactory, UserFactory
from tests.twofactor.conftest import VERIFY, make_device, password_step, signed_in_as
from twofactor.models import BypassCode

pytestmark = pytest.mark.django_db

WRONG = "That bypass code is not right, or it has expired or been used."


@pytest.fixture
def agent():
    account = UserFactory(is_staff=True, username="desk.agent")
    account.groups.add(Group.objects.get(name="Service desk"))
    return account


@pytest.fixture
def desk(agent):
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def person():
    account = UserFactory()
    ChannelFactory(user=account)
    make_device(account, name="Lost iPhone")
    return account


def page_of(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def act(client, account, name, **fields):
    url = reverse("admin:servicedesk_act", args=[account.pk, name])
    return client.post(url, {f"{name}-{key}": value for key, value in fields.items()})


def shown_codes(response) -> list[str]:
    found = re.findall(r'<code class="desk-secret">([\d ]+)</code>', response.content.decode())
    return [code.replace(" ", "") for code in found]


def sign_in_with_bypass(account, code):
    client = Client()
    password_step(client, account)
    response = client.post(VERIFY, {"action": "bypass", "bypass-code": code})
    return client, response


def test_an_agent_issues_three_codes_the_person_signs_in_with_one_once(desk, agent, person):
    page = desk.get(page_of(person))
    assert page.status_code == HTTPStatus.OK
    assert b"Issue bypass codes" in page.content
    assert b"No bypass codes were issued" in page.content

    response = act(
        desk, person, "issue_bypass_codes", reason="Caller lost phone", count=3, lifetime="1h"
    )
    assert response.status_code == HTTPStatus.OK
    codes = shown_codes(response)
    assert len(codes) == 3
    assert all(re.fullmatch(r"\d{9}", code) for code in codes)
    body = response.content.decode()
    assert "shown once" in body
    assert "Read them to the caller now" in body
    assert page_of(person) in body

    # Shown once: the person's page lists the codes, never their digits.
    listing = desk.get(page_of(person)).content.decode()
    assert "3 unused codes still work" in listing
    spaced = [f"{code[:3]} {code[3:6]} {code[6:]}" for code in codes]
    assert not any(code in listing for code in codes + spaced)
    assert "desk.agent" in listing

    event = AuditEvent.objects.get(event="desk.issue_bypass_codes")
    assert event.actor == agent
    assert event.subject == person
    assert event.detail["reason"] == "Caller lost phone"
    assert not any(code in str(e.detail) for e in AuditEvent.objects.all() for code in codes)
    emails = Message.objects.filter(recipient=person.notice_email)
    assert emails.filter(purpose="twofactor.bypass_issued").count() == 1
    # The service tells the person itself; the desk's generic notice is not sent as well.
    assert not emails.filter(purpose="desk_action").exists()
    assert not any(code in m.body for m in Message.objects.all() for code in codes)

    client, response = sign_in_with_bypass(person, codes[1])
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in_as(client) == person.pk
    home = client.get(response.url)
    assert home.status_code == HTTPStatus.OK
    assert client.get(reverse("home")).status_code == HTTPStatus.OK

    again_client, again = sign_in_with_bypass(person, codes[1])
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert WRONG in again.content.decode()
    assert signed_in_as(again_client) is None

    listing = desk.get(page_of(person)).content.decode()
    assert "2 unused codes still work" in listing
    assert "Used " in listing


def test_the_agent_revokes_the_unused_codes(desk, person):
    codes = shown_codes(
        act(desk, person, "issue_bypass_codes", reason="Travelling", count=2, lifetime="1d")
    )
    response = act(desk, person, "revoke_bypass_codes", reason="Found the phone")
    assert response.status_code == HTTPStatus.FOUND
    assert BypassCode.objects.filter(revoked_at__isnull=False).count() == 2
    assert AuditEvent.objects.filter(event="desk.revoke_bypass_codes").exists()
    assert Message.objects.filter(recipient=person.notice_email, purpose="desk_action").exists()
    _, refused = sign_in_with_bypass(person, codes[0])
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    listing = desk.get(page_of(person)).content.decode()
    assert "Revoked" in listing
    assert "Revoke unused bypass codes" not in listing


@pytest.mark.parametrize(("choice", "hours"), [("1h", 1), ("4h", 4), ("1d", 24), ("7d", 168)])
def test_the_lifetime_the_agent_chooses_is_the_codes(desk, person, choice, hours):
    act(desk, person, "issue_bypass_codes", reason="Travelling", count=1, lifetime=choice)
    code = BypassCode.objects.get()
    assert round((code.expires_at - code.created_at).total_seconds() / 3600) == hours


@pytest.mark.parametrize(("count", "lifetime"), [(0, "1h"), (11, "1h"), (1, "30d"), ("x", "1h")])
def test_an_out_of_range_request_issues_nothing(desk, person, count, lifetime):
    response = act(
        desk, person, "issue_bypass_codes", reason="Travelling", count=count, lifetime=lifetime
    )
    assert response.status_code == HTTPStatus.FOUND
    assert not BypassCode.objects.exists()


def test_without_a_reason_or_a_verified_call_nothing_is_issued(desk, person):
    response = act(desk, person, "issue_bypass_codes", reason="", count=1, lifetime="1h")
    assert response.status_code == HTTPStatus.FOUND
    assert not BypassCode.objects.exists()


def test_an_agent_without_the_permission_gets_403(person):
    clerk = UserFactory(is_staff=True)
    client = Client()
    client.force_login(clerk)
    response = act(client, person, "issue_bypass_codes", reason="Asked", count=1, lifetime="1h")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not BypassCode.objects.exists()
    assert AuditEvent.objects.filter(event="desk.issue_bypass_codes").count() == 0


def test_issue_for_gives_other_actions_one_code(agent, person):
    from servicedesk.actions import ActionContext
    from servicedesk.actions.bypass import issue_for

    context = ActionContext(
        agent=agent, account=person, reason="Lost phone", data={}, request=None, call=None
    )
    done = issue_for(context)
    assert done.template == "servicedesk/bypass_shown.html"
    assert len(done.show["codes"]) == 1
    assert done.show["expires_at"]
    _, response = sign_in_with_bypass(person, done.show["codes"][0])
    assert response.status_code == HTTPStatus.FOUND


def test_one_code_is_revoked_and_the_others_still_work(client):
    from django.contrib.auth.models import Group

    from twofactor.bypass import bypass_code_accept, bypass_codes_issue, bypass_codes_live

    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="Service desk"))
    account = UserFactory()
    first, second = bypass_codes_issue(user=account, agent=agent, count=2)
    [one, _] = bypass_codes_live(user=account).order_by("created_at", "pk")
    client.force_login(agent)
    url = reverse("admin:servicedesk_act", args=[account.pk, "revoke_bypass_code"])
    response = client.post(
        url,
        {
            "revoke_bypass_code-reason": "read to the wrong caller",
            "revoke_bypass_code-code": one.pk,
        },
    )
    assert response.status_code == 302
    assert bypass_codes_live(user=account).count() == 1
    working = [bypass_code_accept(user=account, typed=code) for code in (first, second)]
    assert sorted(working) == [False, True]
