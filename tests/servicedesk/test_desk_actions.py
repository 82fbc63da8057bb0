"""The desk's actions on an account, run the one way they run: over HTTP from a person's page.

Each asks for a reason (or a verified call), needs its permission, is in the audit trail and
tells the person; the account actions here do what their button says.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from servicedesk.models import CallerCheck
from tests.factories import DEFAULT_PASSWORD, UserFactory, lock
from tests.helpers import post_login

pytestmark = pytest.mark.django_db


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def act(client, account, name: str, reason: str = "Caller asked, verified by callback", **data):
    fields = {f"{name}-reason": reason, **{f"{name}-{k}": v for k, v in data.items()}}
    return client.post(reverse("admin:servicedesk_act", args=[account.pk, name]), fields)


def told(outbox, account) -> list[str]:
    return [m.body for m in outbox if m.recipient == account.notice_email]


def test_the_person_page_puts_why_they_cannot_sign_in_first(desk):
    account = UserFactory()
    lock(account)
    text = desk.get(page(account)).content.decode()
    assert text.index("Why can&#x27;t they sign in?") < text.index("Recent activity")
    assert "Locked" in text and 'id="act-unlock"' in text


def test_unlock_with_a_reason_unlocks_audits_and_tells_the_person(
    desk, agent, outbox, django_capture_on_commit_callbacks
):
    account = UserFactory()
    lock(account)
    with django_capture_on_commit_callbacks(execute=True):
        response = act(desk, account, "unlock")
    assert response.status_code == HTTPStatus.FOUND and response.url == page(account)
    account.refresh_from_db()
    assert not account.is_locked and account.failed_login_count == 0
    event = AuditEvent.objects.get(event="desk.unlock")
    assert event.actor == agent and event.subject == account
    assert event.detail["reason"] == "Caller asked, verified by callback"
    assert told(outbox, account), "the person is told of the unlock"
    assert post_login(desk.__class__(), account.username, DEFAULT_PASSWORD).status_code == 302


def test_no_reason_and_no_verified_call_changes_nothing(desk):
    account = UserFactory()
    lock(account)
    response = act(desk, account, "unlock", reason="   ")
    assert response.status_code == HTTPStatus.FOUND
    account.refresh_from_db()
    assert account.is_locked
    assert not AuditEvent.objects.filter(event="desk.unlock").exists()
    followed = desk.get(page(account)).content.decode()
    assert "Write a reason, or verify the caller first." in followed


def test_a_verified_call_stands_in_for_the_reason(desk, agent):
    account = UserFactory()
    lock(account)
    call = CallerCheck.objects.create(
        agent=agent, account=account, results={"huid": True}, verified=True
    )
    assert act(desk, account, "unlock", reason="").status_code == HTTPStatus.FOUND
    account.refresh_from_db()
    assert not account.is_locked
    assert AuditEvent.objects.get(event="desk.unlock").detail["verified_call"] == call.pk


def test_another_agents_verified_call_does_not_count(desk):
    account = UserFactory()
    lock(account)
    other = UserFactory(is_staff=True)
    CallerCheck.objects.create(agent=other, account=account, results={}, verified=True)
    act(desk, account, "unlock", reason="")
    account.refresh_from_db()
    assert account.is_locked


def test_an_action_that_does_not_apply_changes_nothing(desk):
    account = UserFactory()  # not locked
    act(desk, account, "unlock")
    assert not AuditEvent.objects.filter(event="desk.unlock").exists()


def test_without_the_permission_the_action_is_refused_and_recorded(client):
    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="view_deskaccount"))
    client.force_login(agent)
    account = UserFactory()
    lock(account)
    assert 'id="act-unlock"' not in client.get(page(account)).content.decode()
    assert act(client, account, "unlock").status_code == HTTPStatus.FORBIDDEN
    account.refresh_from_db()
    assert account.is_locked
    assert AuditEvent.objects.filter(event="desk.refused", actor=agent).exists()


def test_an_action_is_a_post(desk):
    account = UserFactory()
    lock(account)
    url = reverse("admin:servicedesk_act", args=[account.pk, "unlock"])
    assert desk.get(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    account.refresh_from_db()
    assert account.is_locked


def test_unknown_action_and_unknown_account(desk):
    account = UserFactory()
    assert act(desk, account, "make-superuser").status_code == HTTPStatus.FORBIDDEN
    missing = reverse("admin:servicedesk_act", args=[999_999, "unlock"])
    assert desk.post(missing, {"unlock-reason": "x"}).status_code == HTTPStatus.NOT_FOUND


def test_disable_ends_sessions_and_enable_lets_the_person_back(desk):
    from django.test import Client

    account = UserFactory()
    person = Client()
    person.force_login(account)
    act(desk, account, "disable")
    account.refresh_from_db()
    assert account.status == User.Status.DEACTIVATED
    assert not person.get("/").wsgi_request.user.is_authenticated
    assert post_login(Client(), account.username, DEFAULT_PASSWORD).status_code == HTTPStatus.OK
    act(desk, account, "enable")
    account.refresh_from_db()
    assert account.status == User.Status.ACTIVE
    assert post_login(Client(), account.username, DEFAULT_PASSWORD).status_code == HTTPStatus.FOUND


def test_marking_departmental_stops_self_service_unlock(desk):
    from accounts.services.unlock import self_unlock_allowed

    account = UserFactory()
    act(desk, account, "mark_departmental")
    account.refresh_from_db()
    assert account.kind == User.Kind.DEPARTMENTAL and not self_unlock_allowed(account)
    act(desk, account, "mark_personal")
    account.refresh_from_db()
    assert account.kind == User.Kind.PERSONAL


def test_require_password_change_sends_the_next_sign_in_to_a_new_password(desk):
    from django.test import Client

    account = UserFactory()
    act(desk, account, "require_password_change")
    account.refresh_from_db()
    assert account.must_change_password
    response = post_login(Client(), account.username, DEFAULT_PASSWORD)
    assert response.status_code == HTTPStatus.FOUND
    assert "expired" in response.url


def test_affiliate_registrations_are_decided_from_the_page(
    desk, outbox, django_capture_on_commit_callbacks
):
    account = UserFactory(
        person=None, kind=User.Kind.AFFILIATE, status=User.Status.PENDING_APPROVAL
    )
    assert "Waiting for approval" in desk.get(page(account)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        act(desk, account, "approve_affiliate")
    account.refresh_from_db()
    assert account.status == User.Status.ACTIVE
    assert any("approved" in m.subject for m in outbox if m.recipient == account.email)


def test_the_person_page_links_to_their_events_and_messages(desk):
    import re

    account = UserFactory()
    lock(account)
    act(desk, account, "unlock")
    text = desk.get(page(account)).content.decode()
    events = re.search(r'href="([^"]+)">All of this account.s events', text).group(1)
    listed = desk.get(events.replace("&amp;", "&"))
    assert listed.status_code == HTTPStatus.OK and "desk.unlock" in listed.content.decode()
    sent = re.search(r'href="([^"]+)">Its messages', text).group(1)
    assert desk.get(sent.replace("&amp;", "&")).status_code == HTTPStatus.OK
