"""A signed-in session alone cannot take the account's recovery over.

The attack as performed: any signed-in session replaced the SafeCode phone or email by proving
only the new channel, and moved the contact email the same way. Each test here holds a session
(as a stolen cookie would) and tries.
"""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import EmailToken
from audit.models import AuditEvent
from delivery.models import Message
from safecode.models import Channel
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import prove_it_is_you

pytestmark = pytest.mark.django_db(transaction=True)

MANAGE = reverse("safecode:manage")
ADDRESS = reverse("accounts:address")
EMAIL_CHANGE = reverse("accounts:email_change")
CONFIRM = reverse("accounts:recent_proof")
CONFIRM_CODE = reverse("accounts:recent_proof_code")
PHONE = "+16175550123"
ATTACKER_PHONE = "+16175550999"


@pytest.fixture
def victim(client):
    user = UserFactory()
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.PHONE,
        address=PHONE,
        region="US",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    client.force_login(user)  # the session an attacker holds
    return user


def last_code(outbox, recipient: str) -> str:
    body = [m.body for m in outbox if m.recipient == recipient][-1]
    return re.search(r"\b(\d{6})\b", body).group(1)


def test_a_session_alone_cannot_replace_the_safecode_phone(client, victim, outbox):
    page = client.get(MANAGE)
    assert b"Confirm it is you" in page.content
    response = client.post(MANAGE, {"phone": ATTACKER_PHONE, "carrier": "", "email": ""})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url.startswith(CONFIRM)
    assert not Channel.objects.filter(address=ATTACKER_PHONE).exists()
    assert not any(m.recipient == ATTACKER_PHONE for m in outbox)
    assert AuditEvent.objects.filter(event="recent_proof.required", subject=victim).exists()


def test_a_session_alone_cannot_add_a_safecode_email_or_remove_a_channel(client, victim):
    email = Channel.objects.create(
        user=victim,
        kind=Channel.Kind.EMAIL,
        address="victim@example.org",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    client.post(MANAGE, {"phone": "", "carrier": "", "email": "thief@example.net"})
    assert not Channel.objects.filter(address="thief@example.net").exists()
    removed = client.post(reverse("safecode:remove", args=[email.pk]))
    assert removed.url.startswith(CONFIRM)
    email.refresh_from_db()
    assert email.status == Channel.Status.VERIFIED


def test_a_session_alone_cannot_move_the_contact_email(client, victim, outbox):
    response = client.post(EMAIL_CHANGE, {"email": "thief@example.net"})
    assert response.url.startswith(CONFIRM)
    assert not EmailToken.objects.exists()
    assert not any(m.recipient == "thief@example.net" for m in outbox)


def test_the_password_alone_is_not_enough_while_a_safecode_exists(client, victim, outbox):
    assert client.post(CONFIRM, {"password": DEFAULT_PASSWORD}).url.startswith(CONFIRM_CODE)
    again = client.post(MANAGE, {"phone": ATTACKER_PHONE, "carrier": "", "email": ""})
    assert again.url.startswith(CONFIRM)
    # The code can go only to a contact the account already has.
    page = client.get(CONFIRM_CODE).content.decode()
    assert "***-***-0123" in page and "0999" not in page
    pending = Channel.objects.create(
        user=victim, kind=Channel.Kind.PHONE, address=ATTACKER_PHONE, region="US"
    )
    client.post(CONFIRM_CODE, {"action": "send", "channel": pending.pk})
    assert not any(m.recipient == ATTACKER_PHONE for m in outbox)


def test_a_wrong_password_on_the_confirmation_counts_toward_the_lock(client, victim):
    response = client.post(CONFIRM, {"password": "not the password"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    victim.refresh_from_db()
    assert victim.failed_login_count == 1


def test_with_a_fresh_proof_the_phone_is_replaced_and_every_old_contact_is_told(
    client, victim, outbox
):
    prove_it_is_you(client, DEFAULT_PASSWORD, read_code=lambda: last_code(outbox, PHONE))
    client.post(MANAGE, {"phone": "+16175550142", "carrier": "", "email": ""})
    new = Channel.objects.get(address="+16175550142")
    client.post(
        reverse("safecode:verify", args=[new.pk]), {"code": last_code(outbox, "+16175550142")}
    )
    new.refresh_from_db()
    assert new.status == Channel.Status.VERIFIED
    notice = [m for m in outbox if m.recipient == victim.email and "changed" in m.subject][-1]
    report = re.search(r"http\S+/report/(\S+)/", notice.body)
    assert report, "the notice carries a 'this was not me' link"
    assert any(m.recipient == PHONE and "changed" in m.body for m in outbox)

    # Reporting it, from the link, tells the desk once.
    link = reverse("accounts:not_me", args=[report.group(1)])
    client.logout()
    assert client.get(link).status_code == HTTPStatus.OK
    client.post(link)
    client.post(link)
    desk = Message.objects.filter(recipient=settings.SERVICE_DESK_EMAIL, purpose="not_me_report")
    assert desk.count() == 1
    assert AuditEvent.objects.filter(event="account.reported_not_me", subject=victim).count() == 1


def test_a_forged_report_link_is_refused(client):
    response = client.post(reverse("accounts:not_me", args=["forged.token.value"]))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not AuditEvent.objects.filter(event="account.reported_not_me").exists()


def test_the_proof_lasts_ten_minutes(client, victim, outbox, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    prove_it_is_you(client, DEFAULT_PASSWORD, read_code=lambda: last_code(outbox, PHONE))
    time_machine.shift(timedelta(minutes=10) - timedelta(seconds=1))
    assert b"Confirm it is you" not in client.get(MANAGE).content
    time_machine.shift(timedelta(seconds=2))
    assert b"Confirm it is you" in client.get(MANAGE).content
    late = client.post(MANAGE, {"phone": "+16175550142", "carrier": "", "email": ""})
    assert late.url.startswith(CONFIRM)


def test_the_first_safecode_needs_only_the_signed_in_session(client, outbox):
    user = UserFactory()
    client.force_login(user)
    response = client.post(MANAGE, {"phone": "+16175550142", "carrier": "", "email": ""})
    assert response.status_code == HTTPStatus.FOUND
    assert Channel.objects.filter(user=user, status=Channel.Status.PENDING).exists()


def test_a_contact_email_change_with_a_fresh_proof_tells_the_old_address(client, victim, outbox):
    old = victim.email
    prove_it_is_you(client, DEFAULT_PASSWORD, read_code=lambda: last_code(outbox, PHONE))
    client.post(EMAIL_CHANGE, {"email": "new@example.org"})
    link = re.search(r"/preferences/email/([^/\s]+)/", outbox[-1].body).group(1)
    client.get(reverse("accounts:email_confirm", args=[link]))
    victim.refresh_from_db()
    assert victim.email == "new@example.org"
    notice = [m for m in outbox if m.recipient == old][-1]
    assert "/report/" in notice.body


def test_a_contact_left_waiting_before_the_first_was_confirmed_needs_a_fresh_proof_later(
    client, outbox, time_machine
):
    """A session registers its own phone before the account had any contact; after the
    person confirms an email, that stale phone cannot be confirmed on the session alone."""
    user = UserFactory()
    client.force_login(user)
    time_machine.move_to(timezone.now(), tick=False)
    client.post(MANAGE, {"phone": ATTACKER_PHONE, "carrier": "", "email": ""})
    stale = Channel.objects.get(address=ATTACKER_PHONE)
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.EMAIL,
        address="owner@example.org",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    time_machine.shift(timedelta(minutes=11))
    client.post(reverse("safecode:send", args=[stale.pk]))
    response = client.post(
        reverse("safecode:verify", args=[stale.pk]), {"code": last_code(outbox, ATTACKER_PHONE)}
    )
    assert response.url.startswith(CONFIRM)
    stale.refresh_from_db()
    assert stale.status == Channel.Status.PENDING
