"""The desk revokes guest access from the console's list of sponsorships, registered or not."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from audit.models import AuditEvent
from guests.models import GuestKey, Sponsorship
from tests.factories import UserFactory
from tests.guests.conftest import guest_details, make_sponsor

pytestmark = pytest.mark.django_db

LIST = reverse("admin:guests_sponsorship_changelist")


def issued():
    from guests.services.sponsorship import guest_request_create

    return guest_request_create(sponsor=make_sponsor(), details=guest_details(), attested=True)


def post_revoke(client, sponsorship, **extra):
    data = {"action": "revoke", helpers.ACTION_CHECKBOX_NAME: [sponsorship.pk], **extra}
    return client.post(LIST, data)


def test_an_unused_key_is_revoked_with_a_reason_and_everyone_is_told(
    client, agent, outbox, django_capture_on_commit_callbacks
):
    key = issued()
    client.force_login(agent)
    ask = post_revoke(client, key.sponsorship)
    assert ask.status_code == HTTPStatus.OK and "Reason" in ask.content.decode()
    assert Sponsorship.objects.get().status == Sponsorship.Status.KEY_ISSUED
    with django_capture_on_commit_callbacks(execute=True):
        done = post_revoke(client, key.sponsorship, post="yes", reason="Sponsor left HMS")
    assert done.status_code == HTTPStatus.FOUND
    assert Sponsorship.objects.get().status == Sponsorship.Status.REVOKED
    assert GuestKey.objects.get().ended_at is not None
    event = AuditEvent.objects.get(event="guest.revoked")
    assert event.actor == agent and event.detail["reason"] == "Sponsor left HMS"
    guest_mail = [m for m in outbox if m.recipient == key.sponsorship.email]
    assert guest_mail and "IT Service Desk" in guest_mail[0].body


def test_without_a_reason_nothing_is_revoked(client, agent):
    key = issued()
    client.force_login(agent)
    post_revoke(client, key.sponsorship, post="yes", reason="")
    assert Sponsorship.objects.get().status == Sponsorship.Status.KEY_ISSUED


def test_staff_without_the_permission_cannot_revoke(client):
    from django.contrib.auth.models import Permission

    key = issued()
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_sponsorship"))
    client.force_login(viewer)
    post_revoke(client, key.sponsorship, post="yes", reason="x")
    assert Sponsorship.objects.get().status == Sponsorship.Status.KEY_ISSUED
