"""Forgotten or expired password at /password/forgot/: who you are, CAPTCHA, SafeCode, new
password. It answers alike until the code is proven, unlocks the account, never signs in."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import User
from audit.models import AuditEvent
from safecode.models import Channel, SafeCode
from tests.accounts.pages import FORGOT, LOGIN
from tests.factories import (
    DEFAULT_PASSWORD,
    PHONE,
    SAFECODE_EMAIL,
    ChannelFactory,
    PersonFactory,
    UserFactory,
    lock,
)
from tests.helpers import captcha_answer, code_sent_to, other_code

# Messages leave when the request's transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

SEND = reverse("accounts:password_forgot_send")
CODE = reverse("accounts:password_forgot_code")
NEW = reverse("accounts:password_forgot_new")
NEW_PASSWORD = "copper lantern in the fog"


@pytest.fixture
def user():
    user = UserFactory()
    ChannelFactory(user=user)
    return user


def details(user, **override):
    data = {
        "login": user.username,
        "last_name": user.person.last_name,
        "huid": user.person.huid,
        "date_of_birth": "",
    }
    data.update(override)
    return data


def find(client, data):
    page = client.get(FORGOT)
    return client.post(FORGOT, {**data, **captcha_answer(page)})


def find_and_send(client, data, kind="phone"):
    find(client, data)
    return client.post(SEND, {"kind": kind})


def test_reset_by_username_and_harvard_id(client, user, outbox):
    page = client.get(FORGOT)
    assert page.status_code == HTTPStatus.OK
    assert b"Forgotten or expired password" in page.content
    response = client.post(FORGOT, {**details(user), **captcha_answer(page)})
    assert response.url == SEND
    assert client.post(SEND, {"kind": "phone"}).url == CODE
    key = client.session.session_key
    proven = client.post(CODE, {"code": code_sent_to(outbox, PHONE)})
    assert proven.url == NEW
    assert client.session.session_key != key
    new_page = client.get(NEW)
    assert b"Choose a new password" in new_page.content

    done = client.post(NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, follow=True)
    assert done.status_code == HTTPStatus.OK
    assert b"Your password is reset" in done.content
    assert b"VPN clients" in done.content
    assert "_auth_user_id" not in client.session, "a reset never signs in by itself"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.get(event="password.changed", subject=user).detail["how"] == "reset"
    assert client.get(NEW).url == reverse("accounts:password_forgot_done"), "the flow is over"

    response = client.post(LOGIN, {"username": user.username, "password": NEW_PASSWORD})
    assert response.status_code == HTTPStatus.FOUND


def test_reset_by_email_address_and_date_of_birth(client, outbox):
    user = UserFactory()
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    data = details(
        user,
        login=user.email.upper(),
        huid="",
        date_of_birth=user.person.date_of_birth.isoformat(),
    )
    find_and_send(client, data, kind="email")
    assert client.post(CODE, {"code": code_sent_to(outbox, SAFECODE_EMAIL)}).url == NEW


def test_a_reset_unlocks_the_account_and_one_notice_says_both(client, user, outbox):
    lock(user)
    find_and_send(client, details(user))
    client.post(CODE, {"code": code_sent_to(outbox, PHONE)})
    outbox.clear()
    client.post(NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    user.refresh_from_db()
    assert not user.is_locked and user.failed_login_count == 0
    assert AuditEvent.objects.get(event="account.unlocked", subject=user).detail["how"] == (
        "password_reset"
    )
    assert {m.recipient for m in outbox} == {user.email, PHONE}
    email = next(m for m in outbox if m.recipient == user.email)
    assert "reset" in email.body and "unlocked" in email.body
    sms = next(m for m in outbox if m.recipient == PHONE)
    assert "unlocked" in sms.body


def test_a_reset_ends_every_session(client, user, outbox):
    elsewhere = Client()
    elsewhere.force_login(user)
    find_and_send(client, details(user))
    client.post(CODE, {"code": code_sent_to(outbox, PHONE)})
    client.post(NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert elsewhere.get(reverse("accounts:preferences")).url.startswith(LOGIN)


@pytest.mark.parametrize(
    "case",
    [
        "unknown",
        "wrong_last_name",
        "wrong_huid",
        "wrong_birthday",
        "no_channel",
        "other_kind",
        "deactivated",
        "affiliate",
        "shared_email",
    ],
)
def test_no_code_unless_the_details_match_an_account_with_that_channel(client, outbox, case):
    user = UserFactory()
    if case != "no_channel":
        ChannelFactory(user=user)
    data = details(user)
    kind = "phone"
    if case == "unknown":
        data["login"] = "nobody.here"
    elif case == "wrong_last_name":
        data["last_name"] = "Someone-Else"
    elif case == "wrong_huid":
        data["huid"] = "99999999"
    elif case == "wrong_birthday":
        data.update(huid="", date_of_birth="1951-02-03")
    elif case == "other_kind":
        kind = "email"
    elif case == "deactivated":
        User.objects.filter(pk=user.pk).update(status=User.Status.DEACTIVATED)
    elif case == "affiliate":
        affiliate = UserFactory(person=None, kind=User.Kind.AFFILIATE, last_name="Guest")
        ChannelFactory(user=affiliate, address="+16175550999")
        data = {"login": affiliate.username, "last_name": "Guest", "huid": "12345678"}
    elif case == "shared_email":
        UserFactory(person=PersonFactory(), email=user.email)
        data["login"] = user.email

    response = find_and_send(client, data, kind=kind)

    assert response.url == CODE
    page = client.get(CODE)
    assert b"If the details you entered match an account" in page.content
    assert not SafeCode.objects.exists()
    assert not outbox
    wrong = client.post(CODE, {"code": "123456"})
    assert b"That code is not right, or it has expired" in wrong.content


def test_details_are_required_and_explained(client):
    page = client.get(FORGOT)
    response = client.post(
        FORGOT, {"login": "someone", "last_name": "Smith", **captcha_answer(page)}
    )
    assert response.status_code == HTTPStatus.OK
    assert b"Enter your Harvard ID, or your date of birth." in response.content
    page = client.get(FORGOT)
    response = client.post(
        FORGOT,
        {"login": "x", "last_name": "Smith", "huid": "1234", **captcha_answer(page)},
    )
    assert b"A Harvard ID is the 8 digits on your ID badge." in response.content


def test_the_captcha_is_required(client):
    response = client.post(
        FORGOT,
        {"login": "x", "last_name": "y", "huid": "12345678", "captcha_0": "", "captcha_1": ""},
    )
    assert b"Type the characters in the picture." in response.content
    assert client.get(SEND).url == FORGOT


def test_steps_cannot_be_skipped(client, user):
    assert client.get(SEND).url == FORGOT
    assert client.get(CODE).url == FORGOT
    assert client.post(NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).url == FORGOT
    find_and_send(client, details(user))
    assert client.get(NEW).url == CODE, "a code must be proven first"
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_new_password_follows_the_policy(client, user, outbox):
    find_and_send(client, details(user))
    client.post(CODE, {"code": code_sent_to(outbox, PHONE)})
    response = client.post(NEW, {"password1": DEFAULT_PASSWORD, "password2": DEFAULT_PASSWORD})
    assert b"You used this password recently." in response.content
    response = client.post(NEW, {"password1": "short", "password2": "short"})
    assert b"at least 12 characters" in response.content
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_an_account_deactivated_after_the_code_cannot_be_reset(client, user, outbox):
    find_and_send(client, details(user))
    client.post(CODE, {"code": code_sent_to(outbox, PHONE)})
    User.objects.filter(pk=user.pk).update(status=User.Status.DEACTIVATED)
    response = client.post(NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.url == FORGOT
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_five_wrong_codes_start_again(client, user, outbox):
    find_and_send(client, details(user))
    code = code_sent_to(outbox, PHONE)
    for _ in range(4):
        client.post(CODE, {"code": other_code(code)})
    assert client.post(CODE, {"code": other_code(code)}).url == FORGOT
    assert client.post(CODE, {"code": code}).url == FORGOT


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    login=st.text(max_size=300),
    last_name=st.text(max_size=200),
    huid=st.text(max_size=30),
    born=st.text(max_size=30),
    answer=st.text(max_size=40),
)
def test_hostile_input_never_fails_and_stores_nothing(client, login, last_name, huid, born, answer):
    data = {
        "login": login,
        "last_name": last_name,
        "huid": huid,
        "date_of_birth": born,
        "captcha_0": answer,
        "captcha_1": answer,
    }
    response = client.post(FORGOT, data)
    assert response.status_code == HTTPStatus.OK
    assert "flow:password_forgot" not in client.session
    assert not AuditEvent.objects.exists()
