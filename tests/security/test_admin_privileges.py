"""Least privilege in the service-desk console, proven with forged posts.

A service-desk agent tried to make themselves superuser and to set another person's password
through Django's own pages; both must fail by any form, URL or forged POST, and every change
and refusal must be on the record.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import PasswordHistory, User
from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, PersonFactory, UserFactory
from tests.helpers import post_login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a harbour full of quiet boats"


def console_user(group: str) -> User:
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def desk_user():
    return console_user("Service desk")


@pytest.fixture
def identity_admin():
    return console_user("Identity administrators")


def change_url(user: User) -> str:
    return reverse("admin:accounts_user_change", args=[user.pk])


def password_url(user: User) -> str:
    return reverse("admin:accounts_user_password_change", args=[user.pk])


def forged_change(user: User, **overrides) -> dict:
    """Every field of the account's change form, as a hand-written POST would send them."""
    data = {
        "username": user.username,
        "kind": user.kind,
        "status": user.status,
        "person": user.person_id or "",
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "safecode_skips": user.safecode_skips,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_groups_exist_with_least_privilege():
    desk = Group.objects.get(name="Service desk")
    admins = Group.objects.get(name="Identity administrators")
    desk_perms = set(desk.permissions.values_list("codename", flat=True))
    assert "set_user_password" not in desk_perms
    assert "change_user_privileges" not in desk_perms
    assert {"set_user_password", "change_user_privileges"} <= set(
        admins.permissions.values_list("codename", flat=True)
    )


def test_a_desk_user_cannot_make_themselves_superuser_by_a_forged_post(client, desk_user):
    client.force_login(desk_user)
    admins = Group.objects.get(name="Identity administrators")
    response = client.post(
        change_url(desk_user),
        forged_change(
            desk_user,
            is_superuser="on",
            is_staff="on",
            groups=[admins.pk],
            user_permissions=[],
            username="renamed.agent",
        ),
    )
    assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.OK, HTTPStatus.FORBIDDEN)
    desk_user.refresh_from_db()
    assert not desk_user.is_superuser
    assert list(desk_user.groups.values_list("name", flat=True)) == ["Service desk"]
    assert desk_user.username != "renamed.agent"


def test_the_change_page_shows_no_password_hash(client, identity_admin):
    target = UserFactory()
    client.force_login(identity_admin)
    page = client.get(change_url(target))
    assert page.status_code == HTTPStatus.OK
    assert b"argon2" not in page.content and target.password.encode() not in page.content
    assert b"Set on" in page.content


def test_a_desk_user_cannot_set_a_password_by_any_url(client, desk_user):
    target = UserFactory()
    before = User.objects.get(pk=target.pk).password
    client.force_login(desk_user)
    assert client.get(password_url(target)).status_code == HTTPStatus.FORBIDDEN
    forged = client.post(
        password_url(target),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "reason": "caller asked"},
    )
    assert forged.status_code == HTTPStatus.FORBIDDEN
    assert User.objects.get(pk=target.pk).password == before
    assert AuditEvent.objects.filter(event="admin.denied", actor=desk_user).count() == 2


def test_an_identity_administrator_sets_a_password_only_through_the_password_service(
    client, identity_admin
):
    target = UserFactory()
    User.objects.filter(pk=target.pk).update(locked_at=timezone.now(), failed_login_count=10)
    client.force_login(identity_admin)
    response = client.post(
        password_url(target),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "reason": "verified in person"},
    )
    assert response.status_code == HTTPStatus.FOUND
    target.refresh_from_db()
    assert target.check_password(NEW_PASSWORD)
    assert not target.is_locked and target.failed_login_count == 0
    assert target.password_changed_at is not None and target.must_change_password
    assert PasswordHistory.objects.filter(user=target).count() == 1
    event = AuditEvent.objects.get(event="admin.password_set", subject=target)
    assert event.actor == identity_admin and event.detail["reason"] == "verified in person"
    assert Message.objects.filter(user=target, purpose="password_changed").exists()
    # The person must choose their own password before a session starts.
    client.logout()
    signed = post_login(client, target.username, NEW_PASSWORD)
    assert signed.url == reverse("accounts:password_expired")


def test_an_administrator_password_is_checked_against_the_policy(client, identity_admin):
    target = UserFactory()
    client.force_login(identity_admin)
    page = client.post(
        password_url(target), {"password1": "short", "password2": "short", "reason": "x"}
    )
    assert page.status_code == HTTPStatus.OK
    target.refresh_from_db()
    assert target.check_password(DEFAULT_PASSWORD)


def test_a_change_saved_in_the_console_is_audited_with_fields_but_not_values(
    client, identity_admin
):
    target = UserFactory()
    client.force_login(identity_admin)
    response = client.post(
        change_url(target), forged_change(target, first_name="Renamed", email="new@example.org")
    )
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    event = AuditEvent.objects.get(event="admin.changed", subject=target)
    assert event.actor == identity_admin
    assert event.detail["fields"] == ["email", "first_name"]
    assert "new@example.org" not in str(event.detail) and "Renamed" not in str(event.detail)


def test_an_identity_administrator_cannot_grant_superuser(client, identity_admin):
    target = UserFactory()
    client.force_login(identity_admin)
    client.post(change_url(target), forged_change(target, is_superuser="on", is_staff="on"))
    target.refresh_from_db()
    assert not target.is_superuser
    assert target.is_staff
    assert AuditEvent.objects.filter(event="admin.changed", subject=target).exists()


def test_a_person_record_change_is_audited(client, identity_admin):
    person = PersonFactory()
    client.force_login(identity_admin)
    url = reverse("admin:accounts_person_change", args=[person.pk])
    page = client.get(url)
    assert page.status_code == HTTPStatus.OK
    data = {
        "huid": person.huid,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "affiliation": person.affiliation,
        "school": person.school,
        "department": "Renamed Department",
        "office_address": person.office_address,
        "office_phone": person.office_phone,
        "email": person.email,
        "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else "",
        "full_time": "on" if person.full_time else "",
        "is_active": "on",
    }
    assert client.post(url, data).status_code == HTTPStatus.FOUND
    event = AuditEvent.objects.get(event="admin.changed", detail__model="accounts.person")
    assert event.detail["fields"] == ["department"]


def test_no_account_can_be_added_in_the_console(client, identity_admin):
    client.force_login(identity_admin)
    assert client.get(reverse("admin:accounts_user_add")).status_code == HTTPStatus.FORBIDDEN


def test_the_console_changes_no_password_of_its_own(client, desk_user):
    """Django's own password-change page would skip the SafeCode journey, history and notice."""
    client.force_login(desk_user)
    for url in (reverse("admin:password_change"), reverse("admin:password_change_done")):
        assert client.get(url).url == reverse("accounts:password_change")
    client.post(
        reverse("admin:password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    desk_user.refresh_from_db()
    assert desk_user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/delivery/message/?body__contains=SafeCode",
        "/admin/delivery/message/?body__regex=%E2%80%A2%7B6%7D",
        "/admin/delivery/message/?secret_spans__contains=1",
        "/admin/accounts/person/?ssn_hash__startswith=a",
        "/admin/accounts/person/?date_of_birth__year=1985",
        "/admin/audit/auditevent/?detail__contains=x",
        "/admin/audit/auditevent/?outcome__regex=(",
        "/admin/accounts/user/?password__startswith=argon2",
        "/admin/servicedesk/deskaccount/?password__startswith=argon2",
        "/admin/servicedesk/deskaccount/?person__ssn_hash__startswith=a",
    ],
)
def test_the_console_filters_only_on_the_fields_it_offers(client, identity_admin, url):
    client.force_login(identity_admin)
    response = client.get(url)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert AuditEvent.objects.filter(
        event="admin.denied", actor=identity_admin, detail__reason="disallowed_lookup"
    ).exists()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/user/",
        "/admin/accounts/person/",
    ],
)
def test_the_desk_has_no_raw_account_forms(client, desk_user, url):
    client.force_login(desk_user)
    assert client.get(url).status_code == HTTPStatus.FORBIDDEN
    target = UserFactory()
    assert client.get(change_url(target)).status_code == HTTPStatus.FORBIDDEN


def test_the_console_filters_still_work(client, desk_user):
    client.force_login(desk_user)
    for url in (
        "/admin/delivery/message/?status__exact=sent",
        "/admin/audit/auditevent/?outcome__exact=failure",
        "/admin/servicedesk/deskaccount/?standing=locked",
        "/admin/audit/auditevent/?created_at__year=2026",
    ):
        assert client.get(url).status_code == HTTPStatus.OK, url


def test_the_password_page_refuses_before_it_looks_anyone_up(client, desk_user):
    client.force_login(desk_user)
    not_an_id = client.get("/admin/accounts/user/abc/password/")
    assert not_an_id.status_code in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND)
    missing = client.get("/admin/accounts/user/999999/password/")
    present = client.get(password_url(desk_user))
    assert missing.status_code == present.status_code == HTTPStatus.FORBIDDEN


def test_the_account_page_says_when_safecodes_are_paused(client, desk_user):
    from safecode.models import Channel, Purpose, WrongEntry

    target = UserFactory()
    Channel.objects.create(
        user=target,
        kind=Channel.Kind.PHONE,
        address="+16175550123",
        region="US",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    client.force_login(desk_user)
    person_page = reverse("admin:servicedesk_deskaccount_change", args=[target.pk])
    assert b"Codes paused" not in client.get(person_page).content
    for _ in range(10):
        WrongEntry.objects.create(user=target, purpose=Purpose.UNLOCK)
    page = client.get(person_page).content.decode()
    assert "Codes paused: Unlock your account" in page
    assert "too many wrong codes" in page
