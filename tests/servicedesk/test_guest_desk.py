"""The guest panel of a person's page, and "Revoke guest access".

A guest's page shows its sponsorship; a sponsor's page lists the guests they sponsor. The
desk revokes through the sponsor's own service (``guest_revoke``), which ends the key and the
account's sessions and tells the sponsor and the guest.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from delivery.models import Message
from guests.models import Sponsorship
from guests.services.sponsorship import NotEligible, guest_request_create, guest_revoke
from tests.factories import UserFactory
from tests.guests.conftest import GUEST_EMAIL, guest_details, make_sponsor, redeem

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    account = UserFactory(is_staff=True, username="desk.agent")
    account.groups.add(Group.objects.get(name="Service desk"))
    return account


@pytest.fixture
def sponsor():
    return make_sponsor()


def request_guest(sponsor, **details):
    issued = guest_request_create(sponsor=sponsor, details=guest_details(**details), attested=True)
    return issued.sponsorship, issued.key


@pytest.fixture
def guest(sponsor) -> User:
    """A registered guest of ``sponsor``, access from today for 30 days."""
    _, key = request_guest(sponsor)
    return redeem(key, "ada.guest")


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def act(client, account, name: str, **fields):
    data = {f"{name}-{key}": value for key, value in fields.items()}
    return client.post(reverse("admin:servicedesk_act", args=[account.pk, name]), data)


def flashed(client, account) -> list[str]:
    return [str(m) for m in client.get(page(account)).context["messages"]]


def test_a_guest_page_shows_the_sponsorship(desk, sponsor, guest):
    body = desk.get(page(guest)).content.decode()

    assert sponsor.username in body and sponsor.display_name in body
    assert "Partner Imaging Lab" in body
    assert "Active" in body
    assert page(sponsor) in body
    assert 'id="act-revoke_guest"' in body


def test_a_sponsor_page_lists_the_guests_with_their_status(desk, sponsor, guest):
    request_guest(sponsor, first_name="Bea", last_name="Okoro", email="bea@partner.example")

    body = desk.get(page(sponsor)).content.decode()

    assert "Sponsors 2 guests" in body
    assert "Ada Núñez-García" in body and "Bea Okoro" in body
    assert "Key issued" in body and "Active" in body
    assert "Not registered" in body
    assert page(guest) in body
    assert 'id="act-revoke_guest"' not in body


def test_revoking_disables_the_guest_and_tells_the_sponsor_and_the_guest(desk, agent, guest):
    sponsorship = guest.sponsorship
    guest_browser = Client()
    guest_browser.force_login(guest)
    assert guest_browser.get(reverse("home")).wsgi_request.user.is_authenticated

    response = act(desk, guest, "revoke_guest", reason="Sponsor left; asked by the department")

    assert response.status_code == HTTPStatus.FOUND
    sponsorship.refresh_from_db()
    guest.refresh_from_db()
    assert sponsorship.status == Sponsorship.Status.REVOKED
    assert sponsorship.revoked_by == agent
    assert guest.status == User.Status.DEACTIVATED
    assert guest.access_ends_at <= timezone.now()
    assert "Revoked the guest access" in flashed(desk, guest)[0]
    assert not guest_browser.get(reverse("home")).wsgi_request.user.is_authenticated
    recipients = set(Message.objects.values_list("recipient", flat=True))
    assert recipients == {sponsorship.sponsor.notice_email, GUEST_EMAIL}
    # The revocation told them; the desk's generic notice is not sent as well.
    assert not Message.objects.filter(purpose="desk_action").exists()


def test_revoking_is_audited_with_the_agent_and_the_reason(desk, agent, guest):
    act(desk, guest, "revoke_guest", reason="Asked by the department")

    revoked = AuditEvent.objects.get(event="guest.revoked")
    assert revoked.actor == agent and revoked.subject == guest
    assert revoked.detail["reason"] == "Asked by the department"
    desk_event = AuditEvent.objects.get(event="desk.revoke_guest")
    assert desk_event.actor == agent and desk_event.detail["reason"] == "Asked by the department"


def test_a_revoked_guest_is_offered_no_second_revocation(desk, guest):
    act(desk, guest, "revoke_guest", reason="Asked by the department")

    body = desk.get(page(guest)).content.decode()
    assert 'id="act-revoke_guest"' not in body
    assert "Revoked" in body and "revoked by desk.agent" in body
    act(desk, guest, "revoke_guest", reason="Again")
    assert AuditEvent.objects.filter(event="desk.revoke_guest").count() == 1


def test_revoke_does_not_apply_to_an_account_that_is_not_a_guest(desk, sponsor, guest):
    act(desk, sponsor, "revoke_guest", reason="Wrong page")

    assert guest.sponsorship.status == Sponsorship.Status.REGISTERED
    assert "does not apply to this account now" in flashed(desk, sponsor)[0]


def test_an_agent_without_revoke_guests_is_refused_by_the_desk_and_by_the_service(client, guest):
    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(
        Permission.objects.get(codename="view_deskaccount"),
        Permission.objects.get(codename="change_sponsorship"),
    )
    client.force_login(agent)

    response = act(client, guest, "revoke_guest", reason="Because")

    assert response.status_code == HTTPStatus.FORBIDDEN
    # ``guests.change_sponsorship`` (raw data) no longer lets anyone but the sponsor revoke.
    with pytest.raises(NotEligible):
        guest_revoke(sponsorship=guest.sponsorship, actor=User.objects.get(pk=agent.pk))
    assert Sponsorship.objects.get(account=guest).status == Sponsorship.Status.REGISTERED


def test_the_sponsor_may_still_revoke_their_own_guest(sponsor, guest):
    assert guest_revoke(sponsorship=guest.sponsorship, actor=sponsor)


def test_a_sponsor_with_many_guests_lists_the_newest(desk, sponsor, monkeypatch):
    monkeypatch.setattr("servicedesk.actions.guests.LISTED_GUESTS", 2)
    for n in range(3):
        request_guest(
            sponsor,
            first_name=f"Guest{n}",
            email=f"g{n}@partner.example",
            end_date=timezone.localdate() + timedelta(days=10),
        )

    body = desk.get(page(sponsor)).content.decode()
    assert "Sponsors 3 guests (the newest 2 are listed)" in body
    assert "Guest2" in body and "Guest0" not in body
