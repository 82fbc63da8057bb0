"""Change your password at /preferences/security/password/: the current password and a
CAPTCHA, a SafeCode, then the new password twice."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import PasswordHistory
from accounts.services.passwords import password_set
from audit.models import AuditEvent
from safecode.models import Channel
from tests.factories import DEFAULT_PASSWORD, PHONE, SAFECODE_EMAIL, ChannelFactory, UserFactory
from tests.helpers import captcha_answer, code_sent_to, other_code

# Messages leave when the request's transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

START = reverse("accounts:password_change")
SEND = reverse("accounts:password_change_send")
CODE = reverse("accounts:password_change_code")
NEW = reverse("accounts:password_change_new")
DONE = reverse("accounts:password_changed")
NEW_PASSWORD = "violet harbour morning tide"


@pytest.fixture
def user():
    user = UserFactory()
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    return user


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def start(client, current=DEFAULT_PASSWORD):
    page = client.get(START)
    return client.post(START, {"current_password": current, **captcha_answer(page)})


def prove_code(client, user, outbox, address=SAFECODE_EMAIL):
    assert start(client).url == SEND
    channel = Channel.objects.get(user=user, address=address)
    assert client.post(SEND, {"channel": channel.pk}).url == CODE
    return client.post(CODE, {"code": code_sent_to(outbox, address)})


def change(client, new=NEW_PASSWORD, again=None):
    return client.post(NEW, {"password1": new, "password2": again or new})


def test_change_through_captcha_and_safecode(signed_in, user, outbox):
    page = signed_in.get(START)
    assert page.status_code == HTTPStatus.OK
    assert b"Change your password" in page.content
    assert b"Type the characters in the picture" in page.content
    # The current password is asked for first, before the picture and the SafeCode.
    assert page.content.index(b"Current password") < page.content.index(b"Type the characters")
    signed_in.post(START, {"current_password": DEFAULT_PASSWORD, **captcha_answer(page)})
    send_page = signed_in.get(SEND)
    assert b"Email to m***@example.org" in send_page.content
    channel = Channel.objects.get(user=user)
    signed_in.post(SEND, {"channel": channel.pk})
    code_page = signed_in.get(CODE)
    assert b"We sent a code to m***@example.org" in code_page.content
    before = signed_in.session.session_key
    proven = signed_in.post(CODE, {"code": code_sent_to(outbox, SAFECODE_EMAIL)})
    assert proven.status_code == HTTPStatus.FOUND and proven.url == NEW
    assert signed_in.session.session_key != before, "the step-up rotates the session key"

    response = change(signed_in)
    assert response.status_code == HTTPStatus.FOUND and response.url == DONE
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert check_password(DEFAULT_PASSWORD, PasswordHistory.objects.get(user=user).password)
    assert AuditEvent.objects.get(event="password.changed", subject=user).detail["how"] == "change"

    done = signed_in.get(DONE)
    for place in (b"VPN clients", b"Wi-Fi", b"Email programs", b"Mobile devices"):
        assert place in done.content
    assert signed_in.get(reverse("accounts:preferences")).status_code == HTTPStatus.OK


def test_a_change_ends_every_other_session(signed_in, user, outbox):
    elsewhere = Client()
    elsewhere.force_login(user)
    assert elsewhere.get(reverse("accounts:preferences")).status_code == HTTPStatus.OK
    prove_code(signed_in, user, outbox)
    change(signed_in)
    assert elsewhere.get(reverse("accounts:preferences")).url.startswith(reverse("accounts:login"))
    assert signed_in.get(reverse("accounts:preferences")).status_code == HTTPStatus.OK


def test_a_change_is_notified_to_the_account_email_and_every_safecode_channel(
    signed_in, user, outbox
):
    ChannelFactory(user=user)
    prove_code(signed_in, user, outbox)
    outbox.clear()
    change(signed_in)
    recipients = {m.recipient for m in outbox}
    assert recipients == {user.email, SAFECODE_EMAIL, PHONE}
    email = next(m for m in outbox if m.recipient == user.email)
    assert "password was changed" in email.subject
    assert "VPN clients" in email.body
    assert NEW_PASSWORD not in email.body


def test_steps_cannot_be_skipped(signed_in, user, outbox):
    assert signed_in.get(SEND).url == START
    assert signed_in.get(CODE).url == START
    assert signed_in.get(NEW).url == START
    assert change(signed_in).url == START
    start(signed_in)
    # The run waits for a code to be asked for: later pages lead back to that one.
    assert signed_in.get(NEW).url == SEND, "the password and CAPTCHA alone are not enough"
    assert signed_in.get(CODE).url == SEND
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_wrong_code_says_so_and_a_resend_is_offered(signed_in, user, outbox):
    start(signed_in)
    signed_in.post(SEND, {"channel": Channel.objects.get(user=user).pk})
    response = signed_in.post(CODE, {"code": other_code(code_sent_to(outbox, SAFECODE_EMAIL))})
    assert response.status_code == HTTPStatus.OK
    assert b"That code is not right" in response.content
    assert f'href="{SEND}"'.encode() in response.content


def test_signed_out_people_are_sent_to_sign_in(client):
    response = client.get(START)
    assert response.status_code == HTTPStatus.FOUND
    assert response.url.startswith(reverse("accounts:login"))


def test_without_safecode_the_page_says_how_to_get_it(client):
    from safecode.requirements import SKIP_SESSION_KEY

    user = UserFactory()
    client.force_login(user)
    user.refresh_from_db()
    session = client.session
    session[SKIP_SESSION_KEY] = user.last_login.isoformat()
    session.save()
    page = client.get(START)
    assert page.status_code == HTTPStatus.OK
    assert b"has no verified SafeCode" in page.content
    assert b"Register for SafeCode" in page.content
    assert b"Type the characters" not in page.content


def test_wrong_current_password_is_refused_first_and_not_counted_toward_lockout(
    signed_in, user, outbox
):
    for _ in range(2):
        response = start(signed_in, current="not my password at all")
        assert b"That is not your current password." in response.content
        assert signed_in.get(SEND).url == START, "no SafeCode before the current password"
    third = start(signed_in, current="not my password at all")
    assert third.url == START, "three wrong current passwords end the flow"
    assert not outbox, "no code was sent"
    user.refresh_from_db()
    assert user.failed_login_count == 0 and not user.is_locked
    assert user.check_password(DEFAULT_PASSWORD)
    assert AuditEvent.objects.filter(event="password.change_failed", subject=user).count() == 3


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short pass", "It must contain at least 12 characters."),
        ("1q2w3e4r5t6y7u8i", "This password is too common."),
        ("{username} is my login", "Your password must not contain your username."),
        ("{first} loves blue boats", "Your password must not contain your name."),
        ("badge {huid} forever", "Your password must not contain your Harvard ID."),
        (DEFAULT_PASSWORD, "You used this password recently."),
        ("my HMS lab password", "Your password must not contain the institution"),
    ],
)
def test_policy_says_exactly_what_is_wrong(signed_in, user, outbox, new, message):
    prove_code(signed_in, user, outbox)
    typed = new.format(username=user.username, first=user.person.first_name, huid=user.person.huid)
    response = change(signed_in, new=typed)
    assert response.status_code == HTTPStatus.OK
    assert message.encode() in response.content
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_none_of_the_last_five_passwords_comes_back_the_sixth_may(signed_in, user, outbox):
    old = [f"old passphrase number {n}" for n in range(5)]
    for password in old:
        password_set(user=user, raw_password=password)
    password_set(user=user, raw_password=DEFAULT_PASSWORD)
    signed_in.force_login(user)
    prove_code(signed_in, user, outbox)
    for password in [*old[1:], DEFAULT_PASSWORD]:
        response = change(signed_in, new=password)
        assert b"You used this password recently." in response.content, password
    assert change(signed_in, new=old[0]).url == DONE, "the sixth one back is allowed again"


def test_the_two_new_passwords_must_match(signed_in, user, outbox):
    prove_code(signed_in, user, outbox)
    response = change(signed_in, again=NEW_PASSWORD + "!")
    assert b"The two passwords are not the same." in response.content


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    current=st.text(max_size=200),
    new=st.text(max_size=200),
    captcha=st.text(max_size=60),
    channel=st.text(max_size=20),
)
def test_hostile_input_never_fails_and_changes_nothing(client, current, new, captcha, channel):
    user = UserFactory()
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    client.force_login(user)
    for url, data in [
        (START, {"current_password": current, "captcha_0": captcha, "captcha_1": captcha}),
        (SEND, {"channel": channel}),
        (CODE, {"code": captcha}),
        (NEW, {"password1": new, "password2": new + "x"}),
    ]:
        assert client.post(url, data).status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert not PasswordHistory.objects.filter(user=user).exists()
