"""Unlock at /unlock/: username and CAPTCHA, a SafeCode, and the account unlocked.

Also the CAPTCHA itself (accounts.captcha): answered once, audio only with flite, and the test
shortcut that works only with DEBUG on.
"""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from captcha.models import CaptchaStore
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.checks import captcha_test_mode_check
from accounts.models import User
from audit.models import AuditEvent
from safecode.models import Channel, SafeCode
from tests.accounts.pages import LOGIN, UNLOCK
from tests.factories import (
    DEFAULT_PASSWORD,
    PHONE,
    SAFECODE_EMAIL,
    ChannelFactory,
    UserFactory,
    lock,
)
from tests.helpers import captcha_answer, code_sent_to, other_code

# Messages leave when the request's transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

SEND = reverse("accounts:unlock_send")
CODE = reverse("accounts:unlock_code")


def start(client, username: str):
    page = client.get(UNLOCK)
    return client.post(UNLOCK, {"username": username, **captcha_answer(page)})


def start_and_send(client, username: str, kind: str = Channel.Kind.PHONE):
    start(client, username)
    return client.post(SEND, {"kind": kind})


# The journey ------------------------------------------------------------------------------


def test_locked_account_is_unlocked_with_captcha_and_code(client, outbox):
    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)

    page = client.get(UNLOCK)
    assert page.status_code == HTTPStatus.OK
    assert b"Unlock your account" in page.content
    response = client.post(UNLOCK, {"username": user.username, **captcha_answer(page)})
    assert response.status_code == HTTPStatus.FOUND and response.url == SEND

    send_page = client.get(SEND)
    assert b"Text message to my SafeCode mobile phone" in send_page.content
    assert b"0123" not in send_page.content, "no masked number before the code is proven"
    response = client.post(SEND, {"kind": "phone"})
    assert response.status_code == HTTPStatus.FOUND and response.url == CODE
    code = code_sent_to(outbox, PHONE)

    done = client.post(CODE, {"code": code}, follow=True)
    assert done.status_code == HTTPStatus.OK
    assert b"Your account is unlocked" in done.content
    assert b"Sign in now" in done.content
    user.refresh_from_db()
    assert user.locked_at is None and user.failed_login_count == 0
    event = AuditEvent.objects.get(event="account.unlocked", subject=user)
    assert event.detail["how"] == "safecode"

    notices = [m for m in outbox if "unlocked" in (m.subject + m.body)]
    assert {m.recipient for m in notices} == {user.email, PHONE}

    response = client.post(LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == HTTPStatus.FOUND
    assert int(client.session["_auth_user_id"]) == user.pk


def test_code_by_email_when_the_account_has_a_safecode_email(client, outbox):
    user = UserFactory()
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    lock(user)
    start_and_send(client, user.username, kind="email")
    done = client.post(CODE, {"code": code_sent_to(outbox, SAFECODE_EMAIL)}, follow=True)
    assert b"Your account is unlocked" in done.content


def test_username_variants_and_harvard_id_name_the_same_account(client, outbox):
    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)
    start_and_send(client, f"  {user.person.huid} ")
    assert code_sent_to(outbox, PHONE)


def test_a_refused_sign_in_links_to_unlock_with_the_name_typed(client):
    user = UserFactory()
    lock(user)
    page = client.post(LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert f'href="{UNLOCK}?username={user.username}"'.encode() in page.content
    unknown = client.post(LOGIN, {"username": "no.such.person", "password": "guess"})
    assert f'href="{UNLOCK}?username=no.such.person"'.encode() in unknown.content
    form = client.get(UNLOCK, {"username": user.username})
    assert f'value="{user.username}"'.encode() in form.content


def test_sign_in_page_links_to_unlock_and_forgotten_password(client):
    page = client.get(LOGIN)
    assert f'href="{UNLOCK}"'.encode() in page.content
    assert f'href="{reverse("accounts:password_forgot")}"'.encode() in page.content


# Refusals ---------------------------------------------------------------------------------


def test_wrong_captcha_is_refused_and_spends_the_picture(client):
    page = client.get(UNLOCK)
    answer = captcha_answer(page)
    response = client.post(UNLOCK, {"username": "someone", **answer, "captcha_1": "wrong"})
    assert response.status_code == HTTPStatus.OK
    assert b"do not match the picture" in response.content
    assert not CaptchaStore.objects.filter(hashkey=answer["captcha_0"]).exists()
    again = client.post(UNLOCK, {"username": "someone", **answer})
    assert b"do not match the picture" in again.content, "a picture is answered once"


def test_later_steps_need_the_earlier_ones(client):
    assert client.get(SEND).url == UNLOCK
    assert client.post(SEND, {"kind": "phone"}).url == UNLOCK
    assert client.get(CODE).url == UNLOCK
    start(client, "someone")
    assert client.get(CODE).url == SEND, "no code page before a code was asked for"


@pytest.mark.parametrize(
    "case", ["unknown", "not_locked", "departmental", "no_channel", "other_kind", "inactive"]
)
def test_no_code_is_sent_unless_locked_personal_with_that_channel(client, outbox, case):
    user = UserFactory()
    if case != "no_channel":
        ChannelFactory(user=user)
    if case != "not_locked":
        lock(user)
    if case == "departmental":
        User.objects.filter(pk=user.pk).update(kind=User.Kind.DEPARTMENTAL)
    if case == "inactive":
        User.objects.filter(pk=user.pk).update(status=User.Status.DEACTIVATED)
    username = "nobody.here" if case == "unknown" else user.username
    kind = "email" if case == "other_kind" else "phone"

    response = start_and_send(client, username, kind=kind)

    assert response.url == CODE
    page = client.get(CODE)
    assert b"If this account is locked and has a SafeCode" in page.content
    assert not SafeCode.objects.exists()
    assert not outbox
    assert AuditEvent.objects.filter(event="unlock.code_not_sent").exists()


def test_service_desk_is_on_every_page_for_everyone(client, settings):
    settings.SERVICE_DESK_PHONE = "617-555-0199"
    settings.SERVICE_DESK_LOCATION = "Room 101, Gordon Hall"
    pages = [client.get(UNLOCK)]
    start(client, "dept.account")
    pages.append(client.get(SEND))
    client.post(SEND, {"kind": "phone"})
    pages.append(client.get(CODE))
    for page in pages:
        assert b"Departmental accounts, and accounts with no SafeCode" in page.content
        assert b"617-555-0199" in page.content
        assert b"Room 101, Gordon Hall" in page.content


def test_wrong_code_gets_one_message_and_the_flow_ends_after_five(client, outbox, settings):
    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)
    start_and_send(client, user.username)
    code = code_sent_to(outbox, PHONE)
    for _ in range(4):
        response = client.post(CODE, {"code": other_code(code)})
        assert b"That code is not right, or it has expired" in response.content
    last = client.post(CODE, {"code": other_code(code)})
    assert last.status_code == HTTPStatus.FOUND and last.url == UNLOCK
    assert b"Too many codes were asked for or tried. Start again." in client.get(last.url).content
    assert client.post(CODE, {"code": code}).url == UNLOCK
    user.refresh_from_db()
    assert user.is_locked


@pytest.mark.parametrize("typed", ["12345", "abcdef", "1234567", ""])
def test_malformed_code_asks_for_six_digits(client, typed):
    start_and_send(client, "someone")
    response = client.post(CODE, {"code": typed})
    assert response.status_code == HTTPStatus.OK
    assert b"Enter the 6-digit code" in response.content


def test_codes_are_sent_at_most_once_a_minute_and_three_times_a_flow(client, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    start_and_send(client, "someone")
    response = client.post(SEND, {"kind": "phone"})
    assert response.status_code == HTTPStatus.OK
    assert b"A new code can be sent once a minute" in response.content
    time_machine.shift(timedelta(seconds=61))
    assert client.post(SEND, {"kind": "email"}).url == CODE
    time_machine.shift(timedelta(seconds=61))
    assert client.post(SEND, {"kind": "phone"}).url == CODE
    time_machine.shift(timedelta(seconds=61))
    assert client.post(SEND, {"kind": "phone"}).url == UNLOCK


def test_a_code_for_another_purpose_does_not_unlock(client, outbox):
    from safecode.models import Purpose
    from safecode.services import safecode_issue

    user = UserFactory()
    channel = ChannelFactory(user=user)
    lock(user)
    safecode_issue(user=user, purpose=Purpose.PASSWORD_CHANGE, channel=channel)
    other = code_sent_to(outbox, PHONE)
    start_and_send(client, user.username, kind="email")
    response = client.post(CODE, {"code": other})
    assert b"That code is not right" in response.content
    user.refresh_from_db()
    assert user.is_locked


def test_flow_times_out(client, outbox, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)
    start_and_send(client, user.username)
    time_machine.shift(timedelta(minutes=31))
    assert client.post(CODE, {"code": code_sent_to(outbox, PHONE)}).url == UNLOCK


def test_unlock_service_is_audited_once_and_reset_counter(outbox):
    from accounts.services.unlock import account_unlock

    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)
    assert account_unlock(user=user, how="service_desk") is True
    assert account_unlock(user=user, how="service_desk") is False
    assert AuditEvent.objects.filter(event="account.unlocked", subject=user).count() == 1
    assert len([m for m in outbox if "unlocked" in m.body]) == 2


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    username=st.text(max_size=300),
    key=st.text(max_size=60),
    answer=st.text(max_size=60),
)
def test_hostile_start_input_never_fails_and_stores_nothing(client, username, key, answer):
    response = client.post(UNLOCK, {"username": username, "captcha_0": key, "captcha_1": answer})
    assert response.status_code == HTTPStatus.OK
    assert "flow:unlock" not in client.session
    assert not SafeCode.objects.exists()
    assert not AuditEvent.objects.exists()


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kind=st.text(max_size=40), code=st.text(max_size=60))
def test_hostile_send_and_code_input_never_fails(client, kind, code):
    start(client, "someone")
    response = client.post(SEND, {"kind": kind})
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
    response = client.post(CODE, {"code": code})
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
    assert not SafeCode.objects.exists()


# Lockout rules that unlock depends on (the counting itself is in test_signin.py) --------------


def test_the_two_previous_passwords_are_not_counted_the_third_is(client):
    from accounts.services.passwords import password_set

    user = UserFactory()
    for password in ["second passphrase here", "third passphrase here", "current passphrase"]:
        password_set(user=user, raw_password=password)
    for previous in ["third passphrase here", "second passphrase here"]:
        client.post(LOGIN, {"username": user.username, "password": previous})
        user.refresh_from_db()
        assert user.failed_login_count == 0, previous
    client.post(LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD})
    user.refresh_from_db()
    assert user.failed_login_count == 1, "three passwords back counts as a wrong one"


def test_a_lock_stays_until_unlocked_by_default(client, time_machine):
    user = UserFactory()
    time_machine.move_to(timezone.now(), tick=False)
    lock(user)
    time_machine.shift(timedelta(days=365))
    client.post(LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("after", "locked"),
    [(timedelta(minutes=30) - timedelta(seconds=1), True), (timedelta(minutes=30), False)],
)
def test_automatic_unlock_when_configured(client, settings, time_machine, after, locked):
    settings.ACCOUNTS_LOCKOUT_AUTO_UNLOCK_MINUTES = 30
    user = UserFactory()
    time_machine.move_to(timezone.now(), tick=False)
    lock(user)
    time_machine.shift(after)
    client.post(LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert ("_auth_user_id" in client.session) is not locked


def test_unlock_page_treats_a_lock_past_its_automatic_end_as_over(client, settings, time_machine):
    settings.ACCOUNTS_LOCKOUT_AUTO_UNLOCK_MINUTES = 30
    user = UserFactory()
    ChannelFactory(user=user)
    time_machine.move_to(timezone.now(), tick=False)
    lock(user)
    time_machine.shift(timedelta(minutes=31))
    start_and_send(client, user.username)
    assert not SafeCode.objects.exists()


# The CAPTCHA ------------------------------------------------------------------------------


def test_audio_alternative_only_where_flite_is_installed(client, settings):
    settings.CAPTCHA_FLITE_PATH = None
    page = client.get(UNLOCK)
    assert b"Listen to the characters" not in page.content
    assert b"Cannot read the picture?" in page.content
    settings.CAPTCHA_FLITE_PATH = "/usr/bin/flite"
    page = client.get(UNLOCK)
    assert b"Listen to the characters instead" in page.content
    assert re.search(rb'href="/captcha/audio/[0-9a-f]+\.wav"', page.content)


def test_captcha_answer_is_labelled_and_described(client):
    page = client.get(UNLOCK)
    assert b'<label for="id_captcha_1">Type the characters in the picture</label>' in page.content
    assert b'aria-describedby="id_captcha_helptext"' in page.content
    invalid = client.post(UNLOCK, {"username": "x", "captcha_0": "k", "captcha_1": "y"})
    assert b'aria-describedby="id_captcha_helptext id_captcha_error"' in invalid.content
    assert b'role="alert"' in invalid.content


def test_test_mode_answers_with_passed_only_with_debug(client, settings):
    settings.DEBUG = True
    settings.CAPTCHA_TEST_MODE = True
    page = client.get(UNLOCK)
    key = captcha_answer(page)["captcha_0"]
    response = client.post(UNLOCK, {"username": "u", "captcha_0": key, "captcha_1": "PASSED"})
    assert response.status_code == HTTPStatus.FOUND


def test_test_mode_without_debug_raises_at_use(client, settings):
    settings.DEBUG = False
    settings.CAPTCHA_TEST_MODE = True
    with pytest.raises(ImproperlyConfigured, match="CAPTCHA_TEST_MODE"):
        client.post(UNLOCK, {"username": "u", "captcha_0": "k", "captcha_1": "PASSED"})


def test_test_mode_without_debug_stops_startup(settings):
    settings.DEBUG = False
    settings.CAPTCHA_TEST_MODE = True
    errors = captcha_test_mode_check()
    assert [e.id for e in errors] == ["accounts.E001"]
    with pytest.raises(SystemCheckError, match=r"accounts\.E001"):
        call_command("check")
    settings.DEBUG = True
    assert captcha_test_mode_check() == []


def test_passed_is_an_ordinary_wrong_answer_without_test_mode(client, settings):
    settings.CAPTCHA_TEST_MODE = False
    page = client.get(UNLOCK)
    key = captcha_answer(page)["captcha_0"]
    response = client.post(UNLOCK, {"username": "u", "captcha_0": key, "captcha_1": "PASSED"})
    assert response.status_code == HTTPStatus.OK
    assert b"do not match the picture" in response.content
