"""The audit trail in the console: read-only, filtered by account, agent, event and date,
exported as CSV with formulas defused, details as labelled fields, times in one zone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
import time_machine
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import audit_record
from tests.factories import UserFactory
from tests.servicedesk.conftest import staff_in

pytestmark = pytest.mark.django_db

LIST = reverse("admin:audit_auditevent_changelist")
EXPORT = reverse("admin:audit_auditevent_export")
# 15:30 UTC in January is 10:30 in New York (EST, UTC-5).
MOMENT = datetime(2026, 1, 15, 15, 30, tzinfo=UTC)


@pytest.fixture
def agent():
    return staff_in("Service desk", username="desk.agent")


@pytest.fixture
def person():
    return UserFactory(username="pat.person")


def exported(response) -> list[list[str]]:
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("group", ["Service desk", "Identity administrators"])
def test_desk_and_identity_administrators_read_the_trail_and_export_it(client, group):
    client.force_login(staff_in(group))
    audit_record(event="test.event")

    assert client.get(LIST).status_code == HTTPStatus.OK
    assert len(exported(client.get(EXPORT))) == 2


def test_staff_without_the_permission_get_403_for_the_trail_and_its_export(client):
    client.force_login(staff_in(None))
    audit_record(event="test.event")

    assert client.get(LIST).status_code == HTTPStatus.FORBIDDEN
    assert client.get(EXPORT).status_code == HTTPStatus.FORBIDDEN


def test_the_trail_cannot_be_changed_from_the_console(desk, agent):
    event = audit_record(event="test.event", subject=agent)

    change = desk.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"event": "x"})
    delete = desk.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"})

    assert change.status_code == HTTPStatus.FORBIDDEN
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.get(pk=event.pk).event == "test.event"


def test_the_link_from_a_persons_page_lists_only_their_events(desk, person):
    other = UserFactory(username="someone.else")
    audit_record(event="mine.event", subject=person)
    audit_record(event="theirs.event", subject=other)

    response = desk.get(LIST, {"subject__id__exact": person.pk})

    assert response.status_code == HTTPStatus.OK
    assert [e.event for e in response.context["cl"].result_list] == ["mine.event"]
    assert "pat.person" in response.content.decode()  # the chosen account, named


def test_an_account_with_no_events_shows_none_not_everything(desk):
    audit_record(event="someone.event", subject=UserFactory())

    response = desk.get(LIST, {"subject__id__exact": 999_999})

    assert response.status_code == HTTPStatus.OK
    assert list(response.context["cl"].result_list) == []


def test_filters_by_agent_event_and_period(desk, agent, person):
    with time_machine.travel(datetime(2026, 1, 14, 12, 0, tzinfo=UTC), tick=False):
        audit_record(event="desk.unlock", subject=person, actor=agent)
    with time_machine.travel(MOMENT, tick=False):
        audit_record(event="desk.unlock", subject=person, actor=agent, reason="today's")
        audit_record(event="desk.disable", subject=person, actor=UserFactory(is_staff=True))
        audit_record(event="account.locked", subject=person)

        by_agent = desk.get(LIST, {"actor__id__exact": agent.pk}).context["cl"].result_list
        by_event = desk.get(LIST, {"event": "account.locked"}).context["cl"].result_list
        today = desk.get(LIST, {"created_at__within": "today", "event": "desk.unlock"})

    assert {e.event for e in by_agent} == {"desk.unlock"} and len(by_agent) == 2
    assert [e.event for e in by_event] == ["account.locked"]
    assert [e.detail.get("reason") for e in today.context["cl"].result_list] == ["today's"]


def test_a_lookup_outside_the_filters_is_refused(desk, person):
    audit_record(event="x", subject=person)

    response = desk.get(LIST, {"user_agent__icontains": "Firefox"})

    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_the_export_is_the_filtered_list_with_the_desks_columns(desk, agent, person):
    with time_machine.travel(MOMENT, tick=False):
        audit_record(
            event="desk.unlock",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=person,
            actor=agent,
            reason="Caller verified",
            verified_call=None,
            done="Unlocked the account.",
        )
        audit_record(event="other.event", subject=UserFactory())

    rows = exported(desk.get(EXPORT, {"subject__id__exact": person.pk}))

    assert rows[0] == [
        "Time (America/New_York)",
        "Event",
        "Outcome",
        "Account",
        "Agent",
        "IP address",
        "Details",
    ]
    assert rows[1:] == [
        [
            "2026-01-15 10:30:00 EST",
            "desk.unlock",
            "Success",
            "pat.person",
            "desk.agent",
            "",
            "Reason: Caller verified; What was done: Unlocked the account.; Verified call: —",
        ]
    ]
    assert AuditEvent.objects.filter(event="audit.exported", actor=agent).exists()


def test_the_export_defuses_cells_a_spreadsheet_would_run(desk):
    attacker = UserFactory(username='=HYPERLINK("http://evil")')
    audit_record(event="+1+1", subject=attacker, actor=UserFactory(username="@SUM(A1)"))
    AuditEvent.objects.create(event="-2", ip="192.0.2.1", detail={"note": "=cmd|' /C calc'!A0"})

    rows = exported(desk.get(EXPORT))[1:]

    assert [rows[0][1], rows[0][5], rows[0][6]] == ["'-2", "192.0.2.1", "Note: =cmd|' /C calc'!A0"]
    assert rows[1][1:5] == ["'+1+1", "Information", '\'=HYPERLINK("http://evil")', "'@SUM(A1)"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_exporting_the_selected_events_is_an_action(desk, person):
    chosen = audit_record(event="chosen.event", subject=person)
    audit_record(event="not.chosen")

    response = desk.post(
        LIST, {"action": "export_csv", "_selected_action": [chosen.pk], "index": 0}
    )

    rows = exported(response)
    assert [row[1] for row in rows[1:]] == ["chosen.event"]


def test_details_are_labelled_fields_with_times_in_the_settings_zone(desk, person):
    with time_machine.travel(MOMENT, tick=False):
        event = audit_record(
            event="safecode.issued",
            subject=person,
            channel="***-***-0123",
            purpose="unlock",
            replaced=1,
            expires_at=datetime(2026, 1, 15, 15, 40, tzinfo=UTC).isoformat(),
            verified_call=True,
        )

    response = desk.get(reverse("admin:audit_auditevent_change", args=[event.pk]))

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "<dt>Channel</dt><dd>***-***-0123</dd>" in body
    assert "<dt>Purpose</dt><dd>unlock</dd>" in body
    assert "<dt>Expires</dt><dd>Jan. 15, 2026, 10:40 a.m.</dd>" in body
    assert "<dt>Verified call</dt><dd>Yes</dd>" in body
    assert "Jan. 15, 2026, 10:30 a.m." in body  # when it happened, in New York time
    assert '"expires_at"' not in body and "{&quot;" not in body  # no raw JSON
    assert "15:40" not in body


def test_the_list_shows_times_in_the_settings_zone_whatever_the_server_clock(desk, person):
    with time_machine.travel(MOMENT, tick=False):
        audit_record(event="test.event", subject=person)

    body = desk.get(LIST).content.decode()

    assert "Jan. 15, 2026, 10:30 a.m." in body
    assert 'href="' + EXPORT in body  # the "Export CSV" button
