"""The delivery queue in the console: failed messages with the provider's error, and Resend
and Cancel, each with a reason, audited, done once, never showing a secret."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from delivery.masking import secret_spans
from delivery.models import Message
from delivery.services import (
    DeliveryResult,
    MessageRefused,
    message_cancel,
    message_deliver,
    message_enqueue,
    message_resend,
    message_sweep,
)
from tests.factories import UserFactory
from tests.helpers import in_threads, on_postgresql
from tests.servicedesk.conftest import staff_in

pytestmark = pytest.mark.django_db

LIST = reverse("admin:delivery_message_changelist")
CODE = "482913"
ERROR = "Twilio 30003: Unreachable destination handset"


@pytest.fixture
def agent():
    return staff_in("Service desk", username="desk.agent")


@pytest.fixture
def person():
    return UserFactory(username="pat.person")


def failed(user, *, body="Your password was changed.", secrets=(), error=ERROR, **extra):
    message = message_enqueue(
        channel=Message.Channel.SMS,
        recipient="+16175550123",
        body=body,
        purpose=extra.pop("purpose", "notice"),
        secrets=list(secrets),
        user=user,
        **extra,
    )
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.FAILED, last_error=error, body=message.masked_body
    )
    message.refresh_from_db()
    return message


def queued(user, **extra):
    return message_enqueue(
        channel=Message.Channel.SMS,
        recipient="+16175550123",
        body=f"Your HMS code is {CODE}.",
        purpose="safecode.unlock",
        secrets=[CODE],
        user=user,
        **extra,
    )


def run_action(client, action: str, messages, reason: str = "Caller asked"):
    data = {"action": action, "_selected_action": [m.pk for m in messages], "post": "yes"}
    if reason is not None:
        data["reason"] = reason
    return client.post(LIST, data)


# Seeing what failed ---------------------------------------------------------------------------


def test_failed_messages_show_the_providers_error_and_never_the_code(desk, person):
    message = failed(person, body=f"Your code is {CODE}", secrets=[CODE], purpose="safecode")

    listing = desk.get(LIST, {"status": "failed"})
    detail = desk.get(reverse("admin:delivery_message_change", args=[message.pk]))

    assert listing.status_code == detail.status_code == HTTPStatus.OK
    assert ERROR in listing.content.decode() and ERROR in detail.content.decode()
    assert CODE not in listing.content.decode() + detail.content.decode()
    assert "Your code is ••••••" in detail.content.decode()


def test_failed_in_the_last_24_hours_is_a_filter(desk, person):
    with time_machine.travel(timezone.now() - timedelta(hours=25)):
        old = failed(person, body="Old one")
    recent = failed(person, body="Recent one")
    message_enqueue(channel="sms", recipient="+16175550123", body="Queued", purpose="notice")

    response = desk.get(LIST, {"updated_at__failed_within": "24h"})

    assert response.status_code == HTTPStatus.OK
    assert [m.pk for m in response.context["cl"].result_list] == [recent.pk]
    assert old.pk != recent.pk


def test_the_persons_messages_link_lists_only_theirs(desk, person):
    mine = failed(person)
    failed(UserFactory())

    response = desk.get(LIST, {"user__id__exact": person.pk})

    assert response.status_code == HTTPStatus.OK
    assert [m.pk for m in response.context["cl"].result_list] == [mine.pk]


# Resend ---------------------------------------------------------------------------------------


def test_resend_asks_for_a_reason_first(desk, person):
    message = failed(person)

    page = desk.post(LIST, {"action": "resend_messages", "_selected_action": [message.pk]})
    no_reason = run_action(desk, "resend_messages", [message], reason="  ")

    assert page.status_code == HTTPStatus.OK
    assert 'name="reason"' in page.content.decode()
    assert ERROR in page.content.decode()
    assert no_reason.status_code == HTTPStatus.OK
    assert "Write a reason." in no_reason.content.decode()
    assert Message.objects.get(pk=message.pk).status == Message.Status.FAILED


def test_resend_sends_a_failed_message_once_and_audits_it(
    desk, agent, person, outbox, django_capture_on_commit_callbacks
):
    message = failed(person)

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(desk, "resend_messages", [message])
    with django_capture_on_commit_callbacks(execute=True):
        again = run_action(desk, "resend_messages", [message])

    assert response.status_code == again.status_code == HTTPStatus.FOUND
    texts = [m.body for m in outbox if m.recipient == "+16175550123"]
    assert texts == ["Your password was changed."]
    [notice] = [m for m in outbox if m.recipient == person.notice_email]
    assert "Sent again a message that had not reached you" in notice.body
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    event = AuditEvent.objects.get(event="delivery.resent")
    assert (event.actor, event.subject) == (agent, person)
    assert event.detail["reason"] == "Caller asked" and event.detail["was"] == "failed"
    assert "+16175550123" not in str(event.detail)


def test_an_expired_message_is_not_resent_and_the_desk_is_told_why(desk, person, outbox):
    message = failed(person, expires_at=timezone.now() - timedelta(seconds=1))

    response = run_action(desk, "resend_messages", [message])

    assert response.status_code == HTTPStatus.FOUND
    notes = [str(m) for m in response.wsgi_request._messages]
    assert any("It expired at" in note for note in notes)
    assert Message.objects.get(pk=message.pk).status == Message.Status.FAILED
    assert outbox == []
    assert not AuditEvent.objects.filter(event="delivery.resent").exists()


def test_one_second_before_its_expiry_a_message_is_resent(person):
    message = failed(person, expires_at=timezone.now() + timedelta(seconds=1))

    assert message_resend(message_id=message.pk, agent=None, reason="r").status == "queued"


def test_a_message_that_carried_a_code_is_not_resent_masked(person, outbox):
    message = failed(person, body=f"Your code is {CODE}", secrets=[CODE], purpose="safecode")

    with pytest.raises(MessageRefused, match="ask for a new one"):
        message_resend(message_id=message.pk, agent=None, reason="r")
    assert outbox == []


@pytest.mark.parametrize("status", ["queued", "sending", "sent"])
def test_only_failed_or_cancelled_messages_are_resent(person, status):
    message = failed(person)
    Message.objects.filter(pk=message.pk).update(status=status)

    with pytest.raises(MessageRefused, match="Only a failed or cancelled"):
        message_resend(message_id=message.pk, agent=None, reason="r")


def test_a_cancelled_message_without_a_secret_can_be_resent(person, outbox):
    message = message_enqueue(channel="sms", recipient="+16175550123", body="Hi", purpose="n")
    message_cancel(message_id=message.pk, agent=None, reason="wrong number")

    message_resend(message_id=message.pk, agent=None, reason="right number after all")

    assert message_deliver(message_id=message.pk).outcome == DeliveryResult.SENT
    assert [m.body for m in outbox] == ["Hi"]


# Cancel ---------------------------------------------------------------------------------------


def test_cancel_stops_a_queued_message_and_masks_its_code(desk, agent, person, outbox):
    message = queued(person)

    response = run_action(desk, "cancel_messages", [message], reason="Caller is abroad")

    assert response.status_code == HTTPStatus.FOUND
    message.refresh_from_db()
    assert message.status == Message.Status.CANCELLED
    assert CODE not in message.body
    assert message_deliver(message_id=message.pk).outcome == DeliveryResult.SKIPPED
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        message_sweep()  # sends what waits (the person's notice), never the cancelled message
    assert [m for m in outbox if m.recipient == "+16175550123"] == []
    [notice] = [m for m in outbox if m.recipient == person.notice_email]
    assert "Cancelled a message to you that had not been sent" in notice.body
    event = AuditEvent.objects.get(event="delivery.cancelled")
    assert (event.actor, event.subject, event.detail["reason"]) == (
        agent,
        person,
        "Caller is abroad",
    )


def test_a_message_being_sent_cannot_be_cancelled(person):
    message = queued(person)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, claimed_at=timezone.now()
    )

    with pytest.raises(MessageRefused, match="cannot be stopped"):
        message_cancel(message_id=message.pk, agent=None, reason="r")


def test_a_sent_or_failed_message_cannot_be_cancelled(person):
    message = failed(person)

    with pytest.raises(MessageRefused, match="Only a queued message"):
        message_cancel(message_id=message.pk, agent=None, reason="r")


# Permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["Service desk", "Identity administrators"])
def test_desk_and_identity_administrators_may_resend_and_cancel(client, person, group):
    client.force_login(staff_in(group))
    message = queued(person)

    page = client.get(LIST)
    run_action(client, "cancel_messages", [message])

    assert "resend_messages" in page.content.decode()
    assert "cancel_messages" in page.content.decode()
    assert Message.objects.get(pk=message.pk).status == Message.Status.CANCELLED


def test_staff_who_may_only_read_messages_are_not_offered_the_actions(client, person):
    reader = staff_in(None)
    reader.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(reader)
    message = queued(person)

    page = client.get(LIST)
    run_action(client, "cancel_messages", [message])

    assert page.status_code == HTTPStatus.OK
    assert "cancel_messages" not in page.content.decode()
    assert Message.objects.get(pk=message.pk).status == Message.Status.QUEUED
    assert not AuditEvent.objects.filter(event="delivery.cancelled").exists()


def test_staff_without_permissions_cannot_open_the_queue(client, person):
    client.force_login(staff_in(None))
    message = queued(person)

    assert client.get(LIST).status_code == HTTPStatus.FORBIDDEN
    assert run_action(client, "cancel_messages", [message]).status_code == HTTPStatus.FORBIDDEN
    assert Message.objects.get(pk=message.pk).status == Message.Status.QUEUED


# Races (PostgreSQL) ---------------------------------------------------------------------------


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_agents_resending_together_queue_it_once():
    message = Message.objects.create(
        channel="sms",
        recipient="+16175550123",
        body="Hi",
        purpose="notice",
        status=Message.Status.FAILED,
        last_error=ERROR,
    )

    def resend(_):
        try:
            message_resend(message_id=message.pk, agent=None, reason="r")
        except MessageRefused:
            return "refused"
        return "resent"

    results = in_threads(resend, 4)

    assert sorted(results) == ["refused"] * 3 + ["resent"]
    assert AuditEvent.objects.filter(event="delivery.resent").count() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_a_worker_either_stops_it_or_is_refused(outbox):
    body = f"Your HMS code is {CODE}."
    message = Message.objects.create(  # not enqueued: no task may send it before the race
        channel="sms",
        recipient="+16175550123",
        body=body,
        purpose="safecode.unlock",
        secret_spans=secret_spans(body, [CODE]),
        user=UserFactory(),
    )

    def work(i):
        if i == 0:
            return message_deliver(message_id=message.pk).outcome
        try:
            message_cancel(message_id=message.pk, agent=None, reason="r")
        except MessageRefused:
            return "refused"
        return "cancelled"

    results = sorted(in_threads(work, 2))
    final = Message.objects.get(pk=message.pk).status

    assert results in (["refused", "sent"], ["cancelled", "skipped"])
    assert (final == Message.Status.SENT) == (len(outbox) == 1)
    assert final in (Message.Status.SENT, Message.Status.CANCELLED)
