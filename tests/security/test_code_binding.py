"""A SafeCode works only in the browser session and flow that asked for it.

The attack: session A asks for a reset code; session B, for the same account, asks too but its
send is quietly refused (a minute between codes), then types A's code. B must not get to set
the password; A's code keeps working in A.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.accounts.pages import (
    FORGOT,
    FORGOT_CODE,
    FORGOT_NEW,
    FORGOT_SEND,
    UNLOCK,
    UNLOCK_CODE,
    UNLOCK_SEND,
)
from tests.factories import DEFAULT_PASSWORD, PHONE, ChannelFactory, UserFactory, lock
from tests.helpers import captcha_answer, code_sent_to

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "copper lantern in the fog"


@pytest.fixture
def user():
    user = UserFactory()
    ChannelFactory(user=user)
    return user


def start_forgot(client: Client, user) -> None:
    page = client.get(FORGOT)
    details = {
        "login": user.username,
        "last_name": user.person.last_name,
        "huid": user.person.huid,
        "date_of_birth": "",
    }
    client.post(FORGOT, {**details, **captcha_answer(page)})
    assert client.post(FORGOT_SEND, {"kind": "phone"}).url == FORGOT_CODE


def test_a_reset_code_asked_for_in_one_session_does_not_work_in_another(user, outbox):
    victim, attacker = Client(), Client()
    start_forgot(victim, user)
    code = code_sent_to(outbox, PHONE)
    sent = len(outbox)
    start_forgot(attacker, user)
    assert len(outbox) == sent, "the second send is refused (a minute between codes)"

    refused = attacker.post(FORGOT_CODE, {"code": code})
    assert refused.status_code == 200
    assert attacker.get(FORGOT_NEW).url == FORGOT_CODE
    stolen = attacker.post(FORGOT_NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert stolen.url == FORGOT_CODE
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)

    # The session that asked for the code still finishes with it.
    assert victim.post(FORGOT_CODE, {"code": code}).url == FORGOT_NEW


def test_a_new_run_of_the_flow_in_the_same_session_needs_its_own_code(user, outbox):
    client = Client()
    start_forgot(client, user)
    code = code_sent_to(outbox, PHONE)
    start_forgot(client, user)  # starts again; its own send is refused within the minute
    assert client.post(FORGOT_CODE, {"code": code}).status_code == 200
    assert client.get(FORGOT_NEW).url == FORGOT_CODE


def test_an_unlock_code_asked_for_in_one_session_does_not_unlock_from_another(user, outbox):
    lock(user)
    victim, attacker = Client(), Client()
    for client in (victim, attacker):
        page = client.get(UNLOCK)
        client.post(UNLOCK, {"username": user.username, **captcha_answer(page)})
        client.post(UNLOCK_SEND, {"kind": "phone"})
    code = code_sent_to(outbox, PHONE)
    assert b"is unlocked" not in attacker.post(UNLOCK_CODE, {"code": code}, follow=True).content
    user.refresh_from_db()
    assert user.is_locked
    assert b"is unlocked" in victim.post(UNLOCK_CODE, {"code": code}, follow=True).content
