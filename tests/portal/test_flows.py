"""The stage controller (portal.flows) as a person, or someone typing URLs, meets it.

Every journey runs on it: a stage cannot be skipped by URL, a finished stage's form posted
again does no work twice, a run ends when left idle and when it is simply too old, and a sign-in
waiting for a stage opens no account page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import User
from audit.models import AuditEvent
from portal.flows import TIMED_OUT
from tests.accounts.pages import (
    CHANGE,
    CHANGE_CODE,
    CHANGE_NEW,
    CHANGE_SEND,
    FORGOT,
    FORGOT_CODE,
    FORGOT_DONE,
    FORGOT_NEW,
    FORGOT_SEND,
    LOGIN,
    REGISTER,
    REGISTER_ACCOUNT,
    REGISTER_CODE,
    UNLOCK,
    UNLOCK_CODE,
    UNLOCK_DONE,
    UNLOCK_SEND,
)
from tests.factories import (
    DEFAULT_PASSWORD,
    PHONE,
    ChannelFactory,
    PersonFactory,
    UserFactory,
    lock,
)
from tests.helpers import captcha_answer, code_sent_to, other_code

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "willow smoke over harbour"
NEW_PASSWORDS = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def locked_user():
    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)
    return user


def unlock_until_code(client, username: str) -> None:
    page = client.get(UNLOCK)
    assert client.post(UNLOCK, {"username": username, **captcha_answer(page)}).url == UNLOCK_SEND
    assert client.post(UNLOCK_SEND, {"kind": "phone"}).url == UNLOCK_CODE


def forgot_until_code(client, user) -> None:
    page = client.get(FORGOT)
    details = {"login": user.username, "last_name": user.person.last_name, "huid": user.person.huid}
    assert client.post(FORGOT, {**details, **captcha_answer(page)}).url == FORGOT_SEND
    assert client.post(FORGOT_SEND, {"kind": "phone"}).url == FORGOT_CODE


# No stage can be skipped by URL -----------------------------------------------------------


@pytest.mark.parametrize(
    ("later", "method"),
    [
        (UNLOCK_SEND, "get"),
        (UNLOCK_CODE, "post"),
        (UNLOCK_DONE, "get"),
        (FORGOT_CODE, "post"),
        (FORGOT_NEW, "post"),
        (FORGOT_DONE, "get"),
        (REGISTER_CODE, "post"),
        (REGISTER_ACCOUNT, "post"),
    ],
)
def test_without_a_run_every_later_stage_leads_to_the_first(client, later, method):
    data = {"code": "123456", "username": "intruder", **NEW_PASSWORDS}
    response = getattr(client, method)(later, data)
    first = {"unlock": UNLOCK, "password": FORGOT, "register": REGISTER}
    expected = next(url for prefix, url in first.items() if later.strip("/").startswith(prefix))
    assert response.status_code == HTTPStatus.FOUND and response.url == expected
    assert not User.objects.filter(username="intruder").exists()


def test_a_later_stage_leads_to_the_stage_the_run_waits_for(client, locked_user, outbox):
    page = client.get(UNLOCK)
    client.post(UNLOCK, {"username": locked_user.username, **captcha_answer(page)})
    # Waiting for "send": the code page and the end are out of reach,
    assert client.get(UNLOCK_CODE).url == UNLOCK_SEND
    assert client.post(UNLOCK_CODE, {"code": "000000"}).url == UNLOCK_SEND
    assert client.get(UNLOCK_DONE).url == UNLOCK_SEND
    client.post(UNLOCK_SEND, {"kind": "phone"})
    # and waiting for the code, the send page may be visited again to ask for a new one.
    assert client.get(UNLOCK_SEND).status_code == HTTPStatus.OK
    assert client.get(UNLOCK_DONE).url == UNLOCK_CODE
    locked_user.refresh_from_db()
    assert locked_user.is_locked


def test_the_new_password_needs_a_proven_code_in_the_same_run(client, outbox):
    user = UserFactory()
    ChannelFactory(user=user)
    forgot_until_code(client, user)
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).url == FORGOT_CODE
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_a_signed_in_change_cannot_jump_to_the_new_password(outbox):
    user = UserFactory()
    ChannelFactory(user=user)
    client = Client()
    client.force_login(user)
    assert client.post(CHANGE_NEW, NEW_PASSWORDS).url == CHANGE
    assert client.post(CHANGE_CODE, {"code": "000000"}).url == CHANGE
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_the_change_journey_is_for_a_signed_in_account_only(client):
    """Its SafeCode pages are shared with the expired journey, which has no session yet."""
    for page in (CHANGE_SEND, CHANGE_CODE):
        response = client.post(page, {"channel": "1", "code": "123456"})
        assert response.status_code == HTTPStatus.FOUND
        assert response.url.startswith(f"{LOGIN}?next=")


# A finished stage posted again does nothing twice ------------------------------------------


def test_an_unlock_code_posted_twice_unlocks_once(client, locked_user, outbox):
    unlock_until_code(client, locked_user.username)
    code = code_sent_to(outbox, PHONE)
    first = client.post(UNLOCK_CODE, {"code": code})
    again = client.post(UNLOCK_CODE, {"code": code})
    assert first.url == again.url == UNLOCK_DONE
    page = client.get(UNLOCK_DONE)
    assert f"The account {locked_user.username} is unlocked".encode() in page.content
    assert AuditEvent.objects.filter(event="account.unlocked", subject=locked_user).count() == 1


def test_a_new_password_posted_twice_resets_once(client, outbox):
    user = UserFactory()
    ChannelFactory(user=user)
    forgot_until_code(client, user)
    client.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)})
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).url == FORGOT_DONE
    again = client.post(FORGOT_NEW, {"password1": "x", "password2": "y"})
    assert again.url == FORGOT_DONE, "no form error, no second reset"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(event="password.changed", subject=user).count() == 1


def test_create_my_account_pressed_twice_creates_one_account_and_signs_in(client, outbox):
    person = PersonFactory()
    client.post(REGISTER, {"last_name": person.last_name, "huid": person.huid})
    code = code_sent_to(outbox, person.email)
    assert client.post(REGISTER_CODE, {"code": code}).url == REGISTER_ACCOUNT
    form = {"username": "new.person", **NEW_PASSWORDS}

    first = client.post(REGISTER_ACCOUNT, form)
    again = client.post(REGISTER_ACCOUNT, form, follow=True)

    assert first.status_code == HTTPStatus.FOUND
    assert again.status_code == HTTPStatus.OK
    assert User.objects.filter(person=person).count() == 1
    user = User.objects.get(person=person)
    assert int(client.session["_auth_user_id"]) == user.pk
    assert b"already has an account" not in again.content
    assert b"That username is taken" not in again.content


# Deadlines: idle and absolute --------------------------------------------------------------


def test_a_run_left_idle_starts_again_with_a_message(client, locked_user, outbox, time_machine):
    time_machine.move_to(START, tick=False)
    unlock_until_code(client, locked_user.username)
    time_machine.move_to(START + timedelta(minutes=30) - SECOND, tick=False)
    assert client.get(UNLOCK_CODE).status_code == HTTPStatus.OK
    time_machine.move_to(START + timedelta(minutes=30), tick=False)
    response = client.get(UNLOCK_CODE, follow=True)
    assert response.redirect_chain[-1][0] == UNLOCK
    assert TIMED_OUT.encode() in response.content


def test_a_busy_run_still_ends_at_its_absolute_deadline(
    client, locked_user, outbox, time_machine, settings
):
    """Wrong codes keep a run from going idle; they do not keep it alive beyond its lifetime."""
    settings.ACCOUNTS_RECOVERY_CODE_ATTEMPTS = 100
    time_machine.move_to(START, tick=False)
    unlock_until_code(client, locked_user.username)
    code = code_sent_to(outbox, PHONE)
    for minutes in (25, 50, 75, 100):
        time_machine.move_to(START + timedelta(minutes=minutes), tick=False)
        wrong = client.post(UNLOCK_CODE, {"code": other_code(code)})
        assert b"That code is not right" in wrong.content
    time_machine.move_to(START + timedelta(minutes=120) - SECOND, tick=False)
    assert client.get(UNLOCK_CODE).status_code == HTTPStatus.OK
    time_machine.move_to(START + timedelta(minutes=120), tick=False)
    late = client.post(UNLOCK_CODE, {"code": code}, follow=True)
    assert late.redirect_chain[-1][0] == UNLOCK
    assert TIMED_OUT.encode() in late.content
    locked_user.refresh_from_db()
    assert locked_user.is_locked


# A pending sign-in opens nothing -----------------------------------------------------------


def _plain_paths(patterns, prefix: str = "") -> list[str]:
    """Every URL of the portal that takes no argument."""
    paths = []
    for pattern in patterns:
        route = str(pattern.pattern)
        if "<" in route or "(?P" in route or route.startswith("^"):
            continue
        if isinstance(pattern, URLResolver):
            paths += _plain_paths(pattern.url_patterns, prefix + route)
        elif isinstance(pattern, URLPattern):
            paths.append("/" + prefix + route)
    return paths


def test_a_sign_in_waiting_for_its_expired_password_opens_no_account_page(outbox):
    user = UserFactory(password_changed_at=datetime(2020, 1, 1, tzinfo=UTC))
    ChannelFactory(user=user)
    client = Client()
    response = client.post(LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.url == reverse("accounts:password_expired")
    assert "_auth_user_id" not in client.session

    opened = []
    for path in _plain_paths(get_resolver().url_patterns):
        page = client.get(path)
        if page.status_code == HTTPStatus.OK and user.username.encode() in page.content:
            opened.append(path)
        if page.status_code == HTTPStatus.OK and path.startswith(("/preferences", "/safecode")):
            opened.append(path)
    assert opened == [], f"reachable while the sign-in waits: {opened}"
    assert "_auth_user_id" not in client.session


# A path that skips stages ----------------------------------------------------------------


def test_done_with_a_later_stage_skips_the_ones_between_and_they_stay_out_of_reach():
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.test import RequestFactory

    from portal.flows import Flow, Stage

    flow = Flow(
        "skipping",
        [
            Stage("start", "accounts:unlock", "Start"),
            Stage("middle", "accounts:unlock_send", "Middle"),
            Stage("last", "accounts:unlock_code", "Last"),
            Stage("end", "accounts:unlock_done", "End"),
        ],
        idle=lambda: timedelta(minutes=5),
        lifetime=lambda: timedelta(minutes=30),
    )
    request = RequestFactory().get("/")
    request.session = SessionStore()
    run = flow.run(request)
    run.begin()

    response = run.done("start", next_stage="last", choice="short")
    assert response.url == UNLOCK_CODE and run.current == "last"
    assert run.get("choice") == "short"
    # The stage passed over is not done: asked for, it leads to the one the run waits for.
    assert run.refusal(flow.stage("middle")).url == UNLOCK_CODE
    assert run.refusal(flow.stage("last")) is None
    with pytest.raises(ValueError):
        run.done("last", next_stage="middle")
    # Without next_stage, done goes on to the next stage as before.
    assert run.done("last").url == UNLOCK_DONE and run.current == "end"
