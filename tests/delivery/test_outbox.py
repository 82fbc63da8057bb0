"""The development outbox: the backend that fills it and the page that shows it."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.models import Message, OutboxEntry
from delivery.services import message_enqueue

CODE = "661204"


@pytest.mark.django_db
def test_outbox_backend_keeps_the_recipients_copy(settings, django_capture_on_commit_callbacks):
    settings.DELIVERY_SMS_BACKEND = "delivery.backends.outbox.OutboxBackend"
    with django_capture_on_commit_callbacks(execute=True):
        message = message_enqueue(
            channel=Message.Channel.SMS,
            recipient="+16175551234",
            body=f"Your HMS code is {CODE}.",
            purpose="safecode",
            secrets=[CODE],
        )

    entry = OutboxEntry.objects.get()
    assert (entry.channel, entry.recipient, entry.body) == (
        "sms",
        "+16175551234",
        f"Your HMS code is {CODE}.",
    )
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_id == f"outbox-{entry.pk}"
    assert CODE not in message.body


@pytest.mark.django_db
def test_outbox_page_is_not_found_unless_debug(client, settings):
    settings.DEBUG = False
    OutboxEntry.objects.create(channel="sms", recipient="+16175551234", body=f"Code {CODE}")

    response = client.get(reverse("dev_outbox"))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert CODE not in response.content.decode()


@pytest.mark.django_db
def test_outbox_page_shows_messages_newest_first(client, settings):
    settings.DEBUG = True
    now = timezone.now()
    OutboxEntry.objects.create(
        channel="sms",
        recipient="+16175551234",
        body=f"Your HMS code is {CODE}.",
        created_at=now - timedelta(minutes=5),
    )
    OutboxEntry.objects.create(
        channel="email",
        recipient="jane.doe@hms.harvard.edu",
        subject="Reset your HMS password",
        body="Hello Jane,\n\nOpen https://portal.example/reset/abc/ to choose a password.",
        created_at=now,
    )

    response = client.get(reverse("dev_outbox"))

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert html.count("<article") == 2
    newest, oldest = html.index("Reset your HMS password"), html.index(f"Your HMS code is {CODE}.")
    assert newest < oldest
    assert "jane.doe@hms.harvard.edu" in html
    assert "+16175551234" in html
    assert '<a href="https://portal.example/reset/abc/"' in html
    assert "<script>" not in html
    assert " style=" not in html


@pytest.mark.django_db
def test_outbox_page_when_empty(client, settings):
    settings.DEBUG = True

    response = client.get(reverse("dev_outbox"))

    assert response.status_code == HTTPStatus.OK
    assert "The outbox is empty" in response.content.decode()
