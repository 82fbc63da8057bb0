"""The second step of sign-in: a passcode from the chosen device, once, in time.

Service tests call ``second_factor_verify`` as the page does; page tests go through the
sign-in as a person would, with the password first.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import User
from audit.models import AuditEvent
from tests.factories import ChannelFactory, UserFactory
from tests.helpers import other_code
from tests.twofactor.conftest import (
    LANDLINE_NUMBER,
    MOBILE_NUMBER,
    VERIFY,
    app_passcode,
    make_device,
    password_step,
    phone_passcode,
    second_step,
    signed_in_as,
)
from twofactor.models import Profile
from twofactor.services import passcode_send, second_factor_verify

pytestmark = pytest.mark.django_db

WRONG = "That passcode is not right, or it has expired."
LOGIN = reverse("accounts:login")
SECOND = timedelta(seconds=1)


def verify(user, device, code, method="passcode"):
    return second_factor_verify(user=user, device_id=device.pk, method=method, code=code)


# Which device, which time step -----------------------------------------------------------


def test_a_passcode_counts_only_for_the_device_it_was_posted_for(user, device):
    tablet = make_device(user, kind="tablet", name="My iPad")
    code = app_passcode(device)
    assert not verify(user, tablet, code).ok
    assert verify(user, device, code).ok


def test_a_passcode_of_another_persons_device_does_not_count(user, device):
    other = UserFactory()
    theirs = make_device(other, name="Their phone")
    assert not verify(user, theirs, app_passcode(theirs)).ok
    assert not verify(other, device, app_passcode(device)).ok


def test_a_passcode_replayed_in_the_same_time_step_is_refused(user, device):
    code = app_passcode(device)
    assert verify(user, device, code).ok
    assert not verify(user, device, code).ok


def test_a_replayed_passcode_gets_the_same_answer_as_a_wrong_one(client, user, device):
    with time_machine.travel(timezone.now(), tick=False):
        code = app_passcode(device)
        password_step(client, user)
        second_step(client, device, code=code)
        client.post(reverse("accounts:logout"))
        password_step(client, user)
        replayed = second_step(client, device, code=code)
    assert replayed.status_code == HTTPStatus.BAD_REQUEST
    assert WRONG in replayed.content.decode()
    assert signed_in_as(client) is None


@pytest.mark.parametrize("steps", [-1, 1])
def test_a_passcode_one_time_step_off_is_accepted(user, device, steps):
    assert verify(user, device, app_passcode(device, steps=steps)).ok


@pytest.mark.parametrize("steps", [-2, 2])
def test_a_passcode_two_time_steps_off_is_refused(user, device, steps):
    assert not verify(user, device, app_passcode(device, steps=steps)).ok


def test_after_a_wrong_passcode_the_device_waits_before_it_checks_again(user, device):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert not verify(user, device, other_code(app_passcode(device))).ok
        # django-otp's throttle: even the right passcode is refused for a second.
        assert not verify(user, device, app_passcode(device)).ok
        clock.shift(timedelta(seconds=2))
        assert verify(user, device, app_passcode(device)).ok


# Passcodes by text message and call -------------------------------------------------------


def test_a_texted_passcode_works_once(user, device):
    passcode_send(device=device, method="sms")
    code = phone_passcode(MOBILE_NUMBER)
    assert verify(user, device, code, "sms").ok
    assert not verify(user, device, code, "sms").ok


@pytest.mark.parametrize(
    ("after", "ok"),
    [(timedelta(minutes=10) - SECOND, True), (timedelta(minutes=10) + SECOND, False)],
)
def test_a_texted_passcode_expires_after_10_minutes(user, device, after, ok):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        passcode_send(device=device, method="sms")
        code = phone_passcode(MOBILE_NUMBER)
        clock.shift(after)
        assert verify(user, device, code, "sms").ok is ok


def test_only_the_newest_passcode_works(user, device):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        passcode_send(device=device, method="sms")
        first = phone_passcode(MOBILE_NUMBER)
        clock.shift(timedelta(minutes=2))
        passcode_send(device=device, method="call")
        newest = phone_passcode(MOBILE_NUMBER)
        if first != newest:
            assert not verify(user, device, first, "call").ok
            clock.shift(timedelta(seconds=2))  # past the throttle of the wrong one
        assert verify(user, device, newest, "call").ok


def test_the_app_passcode_does_not_count_as_a_texted_one(user, device):
    passcode_send(device=device, method="sms")
    assert not verify(user, device, app_passcode(device), "sms").ok


def test_a_landline_cannot_get_a_text_message(user, landline):
    assert "sms" not in landline.methods
    assert not verify(user, landline, "123456", "sms").ok


# Failures lock the account ----------------------------------------------------------------


def fail(user, device, times: int) -> list:
    return [verify(user, device, other_code(app_passcode(device))) for _ in range(times)]


def test_ten_wrong_passcodes_in_a_row_lock_the_account(user, device):
    results = fail(user, device, 10)
    assert [r.locked for r in results] == [False] * 9 + [True]
    user.refresh_from_db()
    assert user.is_locked
    lock = AuditEvent.objects.get(event="account.locked", subject=user)
    assert lock.detail["reason"] == "second_factor:passcode"
    failures = AuditEvent.objects.filter(event="twofactor.failed", subject=user)
    assert failures.count() == 10
    assert {event.detail["method"] for event in failures} == {"passcode"}


def test_the_lock_names_the_factor_that_failed(user, device):
    for _ in range(10):
        verify(user, device, "000000", "call")
    lock = AuditEvent.objects.get(event="account.locked", subject=user)
    assert lock.detail["reason"] == "second_factor:call"


def test_a_success_resets_the_count(user, device):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail(user, device, 9)
        clock.shift(timedelta(minutes=10))  # past django-otp's throttle
        assert verify(user, device, app_passcode(device)).ok
        assert Profile.objects.get(user=user).failed_count == 0
        assert not any(r.locked for r in fail(user, device, 9))
    user.refresh_from_db()
    assert not user.is_locked


def test_the_password_counter_is_not_the_second_factors(user, device):
    User.objects.filter(pk=user.pk).update(failed_login_count=3)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail(user, device, 2)
        clock.shift(timedelta(minutes=1))
        assert verify(user, device, app_passcode(device)).ok
    user.refresh_from_db()
    assert user.failed_login_count == 3


# The page ---------------------------------------------------------------------------------


def test_the_password_leads_to_the_second_step_and_no_further(client, user, device):
    response = password_step(client, user)
    assert response.url == VERIFY
    assert signed_in_as(client) is None


@pytest.mark.parametrize("path", ["/preferences/", "/admin/", "/twofactor/", "/twofactor/enroll/"])
def test_after_the_password_only_no_account_page_opens(client, user, device, path):
    password_step(client, user)
    response = client.get(path, follow=True)
    assert response.redirect_chain
    assert response.redirect_chain[-1][0].startswith(LOGIN)
    assert signed_in_as(client) is None


def test_the_page_lists_each_device_with_its_methods_default_first(client, user, device, landline):
    password_step(client, user)
    page = client.get(VERIFY).content.decode()
    assert page.index("My iPhone") < page.index("Desk phone")
    assert "(default)" in page
    assert "Enter a passcode" in page
    assert "Text me a passcode" in page
    assert page.count("Call me") == 2
    assert "read a 6-digit passcode twice" in page
    assert "•••-•••-0199" in page


def test_the_right_passcode_signs_in_verified_with_that_device(client, user, device):
    password_step(client, user, next="/preferences/")
    response = second_step(client, device)
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == "/preferences/"
    assert signed_in_as(client) == user.pk
    assert client.session["otp_device_id"] == device.totp.persistent_id
    assert client.get("/preferences/").status_code == HTTPStatus.OK


# Every statement is a round trip to PostgreSQL with its ORM work (figure 2 of bench/RESULTS.md):
# the pending account and the chosen device are read once, and the session's key is renamed
# rather than copied.
PASSCODE_SIGN_IN_STATEMENTS = 16


@pytest.mark.django_db(transaction=True)  # as in production: no test transaction around it
def test_the_right_passcode_signs_in_within_its_statement_budget(
    client, user, device, django_assert_max_num_queries
):
    password_step(client, user)
    client.get(VERIFY)
    with django_assert_max_num_queries(PASSCODE_SIGN_IN_STATEMENTS):
        response = second_step(client, device)
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in_as(client) == user.pk


def test_a_wrong_passcode_gets_one_answer(client, user, device):
    password_step(client, user)
    response = second_step(client, device, code=other_code(app_passcode(device)))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    page = response.content.decode()
    assert WRONG in page
    assert "<title>Error: " in page
    assert signed_in_as(client) is None


def test_a_code_that_is_not_six_digits_is_asked_again_without_counting(client, user, device):
    password_step(client, user)
    response = second_step(client, device, code="12a")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter the 6-digit code" in response.content.decode()
    assert not Profile.objects.filter(user=user, failed_count__gt=0).exists()


def test_text_me_a_passcode_then_enter_it(client, user, device):
    password_step(client, user)
    response = client.post(VERIFY, {"action": "send", "device": device.pk, "method": "sms"})
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "We sent a passcode to •••-•••-0142" in page
    assert "Passcode from the text message" in page
    # A reload still shows the field for it.
    assert "Passcode from the text message" in client.get(VERIFY).content.decode()
    response = second_step(client, device, method="sms", code=phone_passcode(MOBILE_NUMBER))
    assert response.status_code == HTTPStatus.FOUND
    assert client.session["otp_device_id"] == device.phone.persistent_id


def test_call_me_on_a_landline(client, user, landline):
    password_step(client, user)
    response = client.post(VERIFY, {"action": "send", "device": landline.pk, "method": "call"})
    assert "We sent a passcode to •••-•••-0199 by a phone call" in response.content.decode()
    response = second_step(client, landline, method="call", code=phone_passcode(LANDLINE_NUMBER))
    assert signed_in_as(client) == user.pk


def test_asking_again_within_a_minute_says_to_wait_and_sends_nothing(client, user, device):
    password_step(client, user)
    send = {"action": "send", "device": device.pk, "method": "sms"}
    client.post(VERIFY, send)
    from delivery.models import Message

    sent = Message.objects.filter(recipient=MOBILE_NUMBER).count()
    response = client.post(VERIFY, send)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Wait a moment before asking again" in response.content.decode()
    assert Message.objects.filter(recipient=MOBILE_NUMBER).count() == sent


def test_ten_wrong_passcodes_lock_and_end_the_sign_in(client, user, device):
    password_step(client, user)
    for _ in range(9):
        second_step(client, device, code="000000")
    response = second_step(client, device, code="000000")
    page = response.content.decode()
    assert "Your account is locked" in page
    assert reverse("accounts:unlock") in page
    assert "IT Service Desk" in page
    assert signed_in_as(client) is None
    assert client.get(VERIFY).url == LOGIN


def test_when_i_log_in_call_me_places_the_call_on_arrival(client, user, device):
    Profile.objects.create(user=user, login_action=Profile.LoginAction.CALL)
    password_step(client, user)
    page = client.get(VERIFY).content.decode()
    assert "We sent a passcode to •••-•••-0142 by a phone call, as your settings ask" in page
    from delivery.models import Message

    assert (
        Message.objects.filter(recipient=MOBILE_NUMBER, purpose="twofactor.passcode_call").count()
        == 1
    )
    client.get(VERIFY)  # a reload does not call again
    assert (
        Message.objects.filter(recipient=MOBILE_NUMBER, purpose="twofactor.passcode_call").count()
        == 1
    )
    second_step(client, device, method="call", code=phone_passcode(MOBILE_NUMBER))
    assert signed_in_as(client) == user.pk


def test_without_the_call_setting_nothing_is_sent_on_arrival(client, user, device):
    from delivery.models import Message

    before = Message.objects.filter(recipient=MOBILE_NUMBER).count()
    password_step(client, user)
    client.get(VERIFY)
    assert Message.objects.filter(recipient=MOBILE_NUMBER).count() == before


# Time limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "served"),
    [(timedelta(minutes=10) - SECOND, True), (timedelta(minutes=10) + SECOND, False)],
)
def test_the_second_step_waits_10_minutes_after_the_password(client, user, device, after, served):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        password_step(client, user)
        clock.shift(after)
        page = client.get(VERIFY)
        response = second_step(client, device)
    if served:
        assert page.status_code == HTTPStatus.OK
        assert signed_in_as(client) == user.pk
    else:
        assert page.url == LOGIN
        assert response.url == LOGIN
        assert signed_in_as(client) is None


def test_a_timed_out_sign_in_says_so(client, user, device):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        password_step(client, user)
        clock.shift(timedelta(minutes=11))
        response = client.get(VERIFY, follow=True)
    assert "Your sign-in timed out. Sign in again." in response.content.decode()


def test_the_page_without_a_pending_sign_in_goes_to_the_sign_in(client):
    response = client.get(VERIFY)
    assert response.url == LOGIN


def test_an_account_without_a_device_is_not_asked(client, user):
    response = password_step(client, user)
    assert response.url != VERIFY
    assert signed_in_as(client) == user.pk


def test_the_sign_in_page_of_one_browser_does_not_serve_another(client, user, device):
    password_step(client, user)
    assert Client().get(VERIFY).url == LOGIN


# Hostile input ----------------------------------------------------------------------------

TEXT = st.text(max_size=40) | st.sampled_from(
    [
        "",
        "0",
        "-1",
        "99999999999999999999999",
        "1e5",
        "%s",
        "%(x)s",
        "passcode",
        "sms",
        "call",
        "send",
        "\x00",
        "１２３４５６",
        "<script>",
    ]
)


@given(device_field=TEXT, method=TEXT, code=TEXT, action=TEXT, remember=TEXT)
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_nothing_typed_on_the_second_step_answers_500(
    client, user, device, device_field, method, code, action, remember
):
    if "signin:pending" not in client.session:
        password_step(client, user)
    data = {
        "device": device_field,
        "method": method,
        "code": code,
        "action": action,
        "remember": remember,
    }
    response = client.post(VERIFY, data)
    assert response.status_code < 500
    if response.status_code == HTTPStatus.FOUND and signed_in_as(client) is not None:
        client.post(reverse("accounts:logout"))


def test_a_device_id_of_another_person_is_refused(client, user, device):
    other = UserFactory()
    ChannelFactory(user=other)
    theirs = make_device(other, name="Their phone")
    password_step(client, user)
    response = client.post(
        VERIFY, {"device": theirs.pk, "method": "passcode", "code": app_passcode(theirs)}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert signed_in_as(client) is None
    response = client.post(VERIFY, {"action": "send", "device": theirs.pk, "method": "sms"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
