from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AppendOnlyError, AuditEvent
from audit.services import audit_record
from portal.http import client_ip
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_record_takes_ip_user_agent_and_actor_from_the_request():
    actor = UserFactory()
    subject = UserFactory()
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="Firefox/140")
    request.user = actor
    event = audit_record(
        event="test.event", outcome="success", subject=subject, request=request, n=1
    )
    event.refresh_from_db()
    assert (event.actor, event.subject, event.ip, event.user_agent) == (
        actor,
        subject,
        "192.0.2.7",
        "Firefox/140",
    )
    assert event.detail == {"n": 1}


def test_events_cannot_be_changed_or_deleted():
    event = audit_record(event="test.event")
    event.event = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(event="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).event == "test.event"


def test_admin_shows_events_read_only_even_to_superusers(admin_client):
    event = audit_record(event="test.event")
    changelist = admin_client.get(reverse("admin:audit_auditevent_changelist"))
    assert changelist.status_code == HTTPStatus.OK
    assert b"test.event" in changelist.content
    assert (
        admin_client.get(reverse("admin:audit_auditevent_add")).status_code == HTTPStatus.FORBIDDEN
    )
    detail = admin_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert b'name="_save"' not in detail.content
    delete = admin_client.post(
        reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
    )
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_client_ip_ignores_forwarded_for_without_a_trusted_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_ip(request) == "10.0.0.5"


def test_client_ip_takes_the_hop_the_trusted_proxy_added(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    spoofed = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"
    )
    assert client_ip(spoofed) == "203.0.113.9"
    garbage = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert client_ip(garbage) == "10.0.0.5"
