"""The console's front page: the service desk's counts, each linking to the list it counts,
shown only to agents who may open that list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from delivery.models import Message
from servicedesk.dashboard import desk_dashboard
from tests.factories import UserFactory, lock
from tests.servicedesk.conftest import staff_in
from tests.twofactor.conftest import make_device
from twofactor.models import FraudReport, PushRequest

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
# 10:00 in New York (EST); local midnight was at 05:00 UTC.
NOW = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
LOCAL_MIDNIGHT = datetime(2026, 1, 15, 5, 0, tzinfo=UTC)


def at(moment, work):
    with time_machine.travel(moment, tick=False):
        return work()


def fraud_report(user, *, resolved: bool) -> FraudReport:
    device = make_device(user)
    push = PushRequest.objects.create(
        user=user, device=device, purpose="signin", number="42", expires_at=timezone.now()
    )
    return FraudReport.objects.create(
        user=user, push=push, resolved_at=timezone.now() if resolved else None
    )


@pytest.fixture
def queues():
    """Two locked accounts, one pending approval, a 'this wasn't me' report this week and one
    older, one open fraud report and one resolved, a failed delivery within 24 hours and one
    older, and a lockout after local midnight and one a second before it."""
    for account in (UserFactory(), UserFactory()):
        lock(account)
    UserFactory(status=User.Status.PENDING_APPROVAL)
    reporter = UserFactory()
    at(NOW - timedelta(days=2), lambda: audit_record(event="account.reported_not_me"))
    at(NOW - timedelta(days=8), lambda: audit_record(event="account.reported_not_me"))
    fraud_report(reporter, resolved=False)
    fraud_report(UserFactory(), resolved=True)
    for hours in (23, 25):
        message = Message.objects.create(
            channel="sms", recipient="+16175550123", body="x", purpose="n", status="failed"
        )
        Message.objects.filter(pk=message.pk).update(updated_at=NOW - timedelta(hours=hours))
    at(LOCAL_MIDNIGHT, lambda: audit_record(event="account.locked"))
    at(LOCAL_MIDNIGHT - timedelta(seconds=1), lambda: audit_record(event="account.locked"))


def shown(agent) -> dict[str, tuple[int, str]]:
    with time_machine.travel(NOW, tick=False):
        return {item.label: (item.count, item.url) for item in desk_dashboard(agent)}


@pytest.mark.parametrize("group", ["Service desk", "Identity administrators"])
def test_the_desk_sees_every_count(queues, group):
    counts = {label: count for label, (count, _) in shown(staff_in(group)).items()}

    assert counts == {
        "Locked accounts": 2,
        "Pending approvals": 1,
        "“This wasn't me” reports, last 7 days": 1,
        "Fraud reports open": 1,
        "Failed deliveries, last 24 hours": 1,
        "Lockouts today": 1,
    }


def test_each_link_lists_what_its_count_counts(client, queues):
    agent = staff_in("Service desk")
    client.force_login(agent)

    with time_machine.travel(NOW, tick=False):
        for label, (count, url) in shown(agent).items():
            response = client.get(url)
            assert response.status_code == HTTPStatus.OK, label
            assert response.context["cl"].result_count == count, label


def test_the_front_page_shows_the_section_with_its_links(client, queues):
    client.force_login(staff_in("Service desk"))

    with time_machine.travel(NOW, tick=False):
        body = client.get(INDEX).content.decode()

    assert "<caption>Service desk</caption>" in body
    assert 'href="/admin/servicedesk/deskaccount/?standing=locked"' in body
    assert 'href="/admin/servicedesk/deskaccount/?standing=pending"' in body
    assert "?resolved_at__isempty=1" in body


def test_only_counts_the_agent_may_follow_are_shown(client, queues):
    reader = staff_in(None)
    reader.user_permissions.add(Permission.objects.get(codename="view_message"))

    assert list(shown(reader)) == ["Failed deliveries, last 24 hours"]

    client.force_login(staff_in(None))
    body = client.get(INDEX).content.decode()
    assert "<caption>Service desk</caption>" not in body
    assert "Locked accounts" not in body


def test_the_counts_take_few_queries(queues, django_assert_max_num_queries):
    agent = staff_in("Service desk")
    agent.has_perm("servicedesk.view_deskaccount")  # the permission cache, loaded once a request

    with django_assert_max_num_queries(4):
        desk_dashboard(agent)
