"""Least privilege in the console: the desk's group holds every desk action and nothing raw.

Each action declared in ``servicedesk.actions`` needs a permission of its own; the "Service
desk" group holds all of them (no desk task needs a superuser), and none of the raw account,
person, channel or device forms, nor the privilege to set passwords or change groups.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from servicedesk.actions import REGISTRY
from tests.factories import ChannelFactory, UserFactory
from tests.twofactor.conftest import make_device

pytestmark = pytest.mark.django_db


def desk_codenames() -> set[str]:
    desk = Group.objects.get(name="Service desk")
    return set(desk.permissions.values_list("codename", flat=True))


def test_every_desk_action_needs_a_permission_the_desk_group_holds():
    held = desk_codenames()
    assert REGISTRY, "the console declares its actions"
    for action in REGISTRY.values():
        assert action.permission in held, action.name


def test_the_desk_group_holds_nothing_raw_nor_privileged():
    held = desk_codenames()
    for raw in (
        "view_user",
        "change_user",
        "view_person",
        "change_person",
        "view_channel",
        "change_channel",
        "view_device",
        "change_device",
        "set_user_password",
        "change_user_privileges",
        "change_group",
        "change_auditevent",
        "act_on_staff",
    ):
        assert raw not in held, raw


def test_identity_administrators_hold_every_desk_permission():
    admins = set(
        Group.objects.get(name="Identity administrators").permissions.values_list(
            "codename", flat=True
        )
    )
    assert {action.permission for action in REGISTRY.values()} <= admins


def test_the_console_asks_the_desk_for_a_second_factor(client, settings):
    settings.TWOFACTOR_REQUIRED_FOR_STAFF = True
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="Service desk"))
    ChannelFactory(user=agent)
    make_device(agent, name="Desk phone")
    client.force_login(agent)  # a password alone: the session is not verified
    target = UserFactory()
    page = reverse("admin:servicedesk_deskaccount_change", args=[target.pk])
    response = client.get(page, follow=True)
    assert response.redirect_chain, "the page is not served to an unverified session"
    assert response.redirect_chain[-1][0].startswith("/twofactor/")
    act = reverse("admin:servicedesk_act", args=[target.pk, "disable"])
    refused = client.post(act, {"disable-reason": "test"})
    assert refused.status_code == HTTPStatus.FOUND and refused.url.startswith("/admin/login/")
    target.refresh_from_db()
    assert target.status == target.Status.ACTIVE


def test_the_desk_cannot_change_groups(client):
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="Service desk"))
    client.force_login(agent)
    assert client.get(reverse("admin:auth_group_changelist")).status_code == HTTPStatus.FORBIDDEN
