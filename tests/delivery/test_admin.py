"""The Message admin: read-only, and never shows a secret, whatever the status."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from delivery.models import Message
from delivery.services import message_enqueue

CODE = "915377"


@pytest.fixture
def staff_client(client, db):
    from accounts.models import User

    admin = User.objects.create_superuser(username="deskadmin", email="desk@hms.harvard.edu")
    client.force_login(admin)
    return client


@pytest.fixture
def queued_message(db) -> Message:
    # The test transaction never commits, so the message stays queued, unsent.
    return message_enqueue(
        channel=Message.Channel.SMS,
        recipient="+16175551234",
        body=f"Your HMS code is {CODE}.",
        purpose="safecode",
        secrets=[CODE],
    )


@pytest.mark.django_db
def test_admin_shows_a_queued_message_masked(staff_client, queued_message):
    assert CODE in Message.objects.get(pk=queued_message.pk).body

    response = staff_client.get(reverse("admin:delivery_message_change", args=[queued_message.pk]))

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "Your HMS code is ••••••." in html
    assert CODE not in html
    assert 'name="body"' not in html


@pytest.mark.django_db
def test_admin_lists_and_searches_by_recipient(staff_client, queued_message):
    message_enqueue(channel="email", recipient="jane@hms.harvard.edu", body="Hi", purpose="notice")

    response = staff_client.get(reverse("admin:delivery_message_changelist"), {"q": "617555"})

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "+•••••••••34" in html and "+16175551234" not in html  # found, and listed masked
    assert "jane@" not in html
    assert CODE not in html


@pytest.mark.django_db
def test_admin_cannot_add_change_or_delete(staff_client, queued_message):
    add = staff_client.get(reverse("admin:delivery_message_add"))
    delete = staff_client.post(
        reverse("admin:delivery_message_delete", args=[queued_message.pk]), {"post": "yes"}
    )
    change = staff_client.post(
        reverse("admin:delivery_message_change", args=[queued_message.pk]),
        {"recipient": "+16170000000"},
    )

    assert add.status_code == HTTPStatus.FORBIDDEN
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert change.status_code == HTTPStatus.FORBIDDEN
    queued_message.refresh_from_db()
    assert queued_message.recipient == "+16175551234"
