"""Verify the caller: the agent sees match / no match per kind, never a stored value; a check
is recorded and audited; a code read back verifies; checks are throttled; it needs its
permission."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from safecode.models import Channel, Purpose, SafeCode
from servicedesk.actions import verified_call
from servicedesk.models import CallerCheck
from servicedesk.verification import (
    CallerAnswers,
    CallerCheckThrottled,
    caller_check,
    caller_code_send,
)
from tests.factories import PHONE, ChannelFactory, PersonFactory, UserFactory

pytestmark = pytest.mark.django_db

SSN = "900-12-7719"
BORN = date(1984, 7, 21)


@pytest.fixture
def account():
    person = PersonFactory(ssn=SSN, date_of_birth=BORN, huid="12345678")
    return UserFactory(person=person)


@pytest.fixture
def sending(django_capture_on_commit_callbacks):
    """Messages leave on commit; inside the test's transaction, run those callbacks."""
    return django_capture_on_commit_callbacks


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def verify(client, account, do="check", **fields):
    data = {"do": do, **{f"verify-{name}": value for name, value in fields.items()}}
    return client.post(reverse("admin:servicedesk_verify", args=[account.pk]), data)


def said(response) -> list[str]:
    """The messages this response added (earlier unread ones are left out)."""
    return [str(m) for m in get_messages(response.wsgi_request)._queued_messages]


def sent_code(outbox) -> str:
    return re.search(r"\b(\d{6})\b", outbox[-1].body).group(1)


def test_the_agent_sees_match_and_no_match_never_the_stored_values(desk, account):
    response = verify(desk, account, huid="12345678", date_of_birth="07/22/1984")
    assert response.status_code == HTTPStatus.FOUND and response.url == page(account)
    shown = said(response)
    assert shown[0] == "Harvard ID: matches · Date of birth: does not match"
    followed = desk.get(page(account)).content.decode()
    for stored in ("1984-07-21", "07/21/1984", "July 21, 1984", "7719", "900127719"):
        assert stored not in followed and all(stored not in text for text in shown)
    check = CallerCheck.objects.get(account=account)
    assert check.results == {"huid": True, "date_of_birth": False}
    assert not check.verified


def test_ssn_last4_is_compared_with_its_keyed_hash(desk, account):
    account.person.refresh_from_db()
    assert account.person.ssn_last4_hash and "7719" not in account.person.ssn_last4_hash
    assert said(verify(desk, account, ssn_last4="7719"))[0] == "Last 4 of SSN: matches"
    assert said(verify(desk, account, ssn_last4="9177"))[0] == "Last 4 of SSN: does not match"


def test_all_three_details_verify_the_call_and_stand_in_for_a_reason(desk, agent, account):
    response = verify(desk, account, huid="12345678", date_of_birth="1984-07-21", ssn_last4="7719")
    shown = said(response)
    assert shown[0] == "Harvard ID: matches · Date of birth: matches · Last 4 of SSN: matches"
    assert any("The caller is verified" in text for text in shown)
    call = verified_call(agent=agent, account=account)
    assert call is not None and call.verified
    event = AuditEvent.objects.get(event="desk.caller_checked")
    assert event.actor == agent and event.subject == account
    assert event.detail["kinds"] == ["huid", "date_of_birth", "ssn_last4"]
    assert event.detail["results"] == {"huid": True, "date_of_birth": True, "ssn_last4": True}
    assert event.detail["verified"] is True
    assert "12345678" not in str(event.detail) and "7719" not in str(event.detail)


def test_harvard_id_and_date_of_birth_alone_do_not_verify(desk, agent, account):
    verify(desk, account, huid="12345678", date_of_birth="1984-07-21")
    assert CallerCheck.objects.get().results == {"huid": True, "date_of_birth": True}
    assert verified_call(agent=agent, account=account) is None


def test_a_code_read_back_verifies_once(desk, agent, account, outbox, sending):
    channel = ChannelFactory(user=account)
    with sending(execute=True):
        response = verify(desk, account, do="send", channel=channel.pk)
    assert "Sent a code to mobile phone •••-•••-0123" in said(response)[0]
    assert outbox[-1].recipient == PHONE
    code = sent_code(outbox)
    row = SafeCode.objects.get(user=account)
    assert row.purpose == Purpose.CALLER_VERIFY and code not in row.code_hash
    shown = said(verify(desk, account, code=code))
    assert shown[0] == "SafeCode: matches"
    assert verified_call(agent=agent, account=account) is not None
    # The code worked once.
    assert said(verify(desk, account, code=code))[0] == "SafeCode: does not match"


def test_a_right_code_with_a_wrong_detail_is_not_verified(desk, agent, account, outbox, sending):
    channel = ChannelFactory(user=account)
    with sending(execute=True):
        verify(desk, account, do="send", channel=channel.pk)
    verify(desk, account, code=sent_code(outbox), date_of_birth="1990-01-01")
    assert CallerCheck.objects.get().results == {"date_of_birth": False, "code": True}
    assert verified_call(agent=agent, account=account) is None


def test_another_agents_code_does_not_verify_for_me(agent, account, outbox, sending):
    other = UserFactory(is_staff=True)
    channel = ChannelFactory(user=account)
    with sending(execute=True):
        caller_code_send(agent=other, account=account, channel_id=channel.pk)
    outcome = caller_check(
        agent=agent, account=account, answers=CallerAnswers(code=sent_code(outbox))
    )
    assert outcome.results == {"code": False} and not outcome.verified


def test_the_code_goes_only_to_a_verified_channel_of_the_account(desk, account, outbox, sending):
    pending = ChannelFactory(user=account, status=Channel.Status.PENDING, address="+16175550999")
    someone_elses = ChannelFactory()
    with sending(execute=True):
        for channel in (pending, someone_elses):
            verify(desk, account, do="send", channel=channel.pk)
    assert not outbox and not SafeCode.objects.exists()


def test_safecode_limits_apply_to_caller_codes(desk, account, outbox, sending):
    channel = ChannelFactory(user=account)
    with sending(execute=True):
        verify(desk, account, do="send", channel=channel.pk)
        again = said(verify(desk, account, do="send", channel=channel.pk))
    assert again[0].startswith("No code was sent: A new code can be sent once a minute.")
    assert len(outbox) == 1


def test_details_not_on_file_are_not_checked(desk, agent):
    account = UserFactory(person=PersonFactory(date_of_birth=None, ssn=""))
    shown = said(verify(desk, account, date_of_birth="1984-07-21", ssn_last4="7719"))
    assert shown[0] == (
        "Date of birth: none on file, not checked · Last 4 of SSN: none on file, not checked"
    )
    assert verified_call(agent=agent, account=account) is None


def test_nothing_typed_is_not_a_check(desk, account):
    assert said(verify(desk, account))[0].startswith("Type what the caller says")
    assert not CallerCheck.objects.exists()


def test_badly_typed_details_are_refused_without_a_check(desk, account):
    shown = said(verify(desk, account, huid="1234", code="12ab"))
    assert "Harvard ID: A Harvard ID is 8 digits." in shown
    assert "Code the caller reads back: Enter the 6-digit code" in shown
    assert not CallerCheck.objects.exists()


def test_five_checks_an_hour_per_agent_and_account(desk, agent, account):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            verify(desk, account, huid="87654321")
        response = verify(desk, account, huid="12345678")
    assert response.status_code == HTTPStatus.FOUND
    assert "times in the last hour" in said(response)[0]
    assert CallerCheck.objects.filter(agent=agent, account=account).count() == 5
    # Another account, and another agent, have their own counts.
    other_account = UserFactory()
    with time_machine.travel(start, tick=False):
        assert caller_check(agent=agent, account=other_account, answers=CallerAnswers(huid="1"))
        other_agent = UserFactory(is_staff=True)
        caller_check(agent=other_agent, account=account, answers=CallerAnswers(huid="1"))
    # One second before the hour is up: still refused; one second after: a check again.
    just_before = start + timedelta(hours=1) - timedelta(seconds=1)
    with time_machine.travel(just_before, tick=False), pytest.raises(CallerCheckThrottled):
        caller_check(agent=agent, account=account, answers=CallerAnswers(huid="12345678"))
    with time_machine.travel(start + timedelta(hours=1, seconds=1), tick=False):
        outcome = caller_check(agent=agent, account=account, answers=CallerAnswers(huid="12345678"))
    assert outcome.results == {"huid": True}


@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_take_no_more_than_five():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    # A transactional test may run after another emptied the groups: no group needed here.
    agent = UserFactory(is_staff=True)
    account = UserFactory()
    errors: list[BaseException] = []
    throttled: list[int] = []
    barrier = threading.Barrier(8)

    def one():
        from django.db import connections

        try:
            barrier.wait()
            caller_check(agent=agent, account=account, answers=CallerAnswers(huid="12345678"))
        except CallerCheckThrottled:
            throttled.append(1)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert CallerCheck.objects.filter(agent=agent, account=account).count() == 5
    assert len(throttled) == 3


def test_without_the_permission_it_is_forbidden(client, account):
    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="view_deskaccount"))
    client.force_login(agent)
    assert verify(client, account, huid="12345678").status_code == HTTPStatus.FORBIDDEN
    assert not CallerCheck.objects.exists()
    assert "verify-huid" not in client.get(page(account)).content.decode()


def test_it_is_a_post(desk, account):
    url = reverse("admin:servicedesk_verify", args=[account.pk])
    assert desk.get(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_the_panel_offers_the_form_with_masked_channels(desk, account):
    ChannelFactory(user=account)
    text = desk.get(page(account)).content.decode()
    assert 'name="verify-huid"' in text and 'name="verify-ssn_last4"' in text
    assert "Mobile phone •••-•••-0123" in text and PHONE not in text
    assert "Send a code to the caller" in text and ">Check</button>" in text
