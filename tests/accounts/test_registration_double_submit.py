""" "Create my account" sent twice at the same moment, from one browser (PostgreSQL).

A double click without the site's script, or a slow network, sends the form twice with the
same session. Both requests must end signed in to the one account; neither answers with an
error that leaves the person signed out.
"""

from __future__ import annotations

import threading
from http import HTTPStatus

import pytest
from django.db import connection, connections
from django.test import Client

from accounts.models import User
from accounts.services.registration import (
    REPEAT_WINDOW,
    UsernameTaken,
    registration_create_account,
)
from tests.accounts.pages import REGISTER
from tests.accounts.pages import REGISTER_ACCOUNT as ACCOUNT
from tests.accounts.pages import REGISTER_CODE as CODE
from tests.factories import PersonFactory
from tests.helpers import code_sent_to

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "quiet lantern over the river"


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row-level concurrency is tested on PostgreSQL only; run with DATABASE_URL=...",
)
def test_two_simultaneous_presses_make_one_account_and_both_sign_in(outbox):
    person = PersonFactory()
    first = Client()
    first.post(REGISTER, {"last_name": person.last_name, "huid": person.huid})
    assert first.post(CODE, {"code": code_sent_to(outbox, person.email)}).url == ACCOUNT
    second = Client()
    second.cookies = first.cookies  # the same browser: one session cookie
    form = {"username": "twice.pressed", "password1": PASSWORD, "password2": PASSWORD}
    barrier = threading.Barrier(2)
    responses, errors = {}, []

    def press(name: str, client: Client) -> None:
        try:
            connections["default"].ensure_connection()
            barrier.wait(timeout=30)
            responses[name] = client.post(ACCOUNT, form)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=press, args=item) for item in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert User.objects.filter(person=person).count() == 1
    for response in responses.values():
        assert response.status_code == HTTPStatus.FOUND, response.content[:300]
        assert b"already has an account" not in response.content


def test_only_the_same_form_moments_later_gets_the_account(rf, time_machine):
    person = PersonFactory()
    request = rf.post(ACCOUNT)
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    user = registration_create_account(
        person_id=person.pk, username="once.only", password=PASSWORD, request=request
    )
    again = {"person_id": person.pk, "request": request}
    assert registration_create_account(**again, username="once.only", password=PASSWORD) == user
    with pytest.raises(UsernameTaken):
        registration_create_account(**again, username="once.only", password="another " + PASSWORD)
    with pytest.raises(UsernameTaken):
        registration_create_account(**again, username="someone.else", password=PASSWORD)
    time_machine.shift(REPEAT_WINDOW)
    time_machine.shift(1)
    with pytest.raises(UsernameTaken):
        registration_create_account(**again, username="once.only", password=PASSWORD)
    assert User.objects.filter(person=person).count() == 1
