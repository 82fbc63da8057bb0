"""An expired password on an account with no SafeCode: register one, then replace the password.

The person has just given the right (expired) password; instead of a dead end ("call the
desk"), they register a phone or email, confirm it with the code sent to it, and go on.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from safecode.models import Channel
from tests.accounts.pages import EXPIRED
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import captcha_answer, code_sent_to, post_login

pytestmark = pytest.mark.django_db(transaction=True)

REGISTER = reverse("accounts:password_expired_safecode")
SEND = reverse("accounts:password_expired_send")
CODE = reverse("accounts:password_expired_code")
NEW = reverse("accounts:password_expired_new")
NEW_PASSWORD = "amber kettle under snow"
PHONE = "+16175550142"


@pytest.fixture
def expired():
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(password_changed_at=timezone.now() - timedelta(days=400))
    return user


def test_register_a_safecode_then_replace_the_expired_password(client, expired, outbox):
    assert post_login(client, expired.username, DEFAULT_PASSWORD).url == EXPIRED
    assert client.get(EXPIRED).url == REGISTER
    page = client.get(REGISTER)
    assert b"Register a SafeCode contact" in page.content
    assert "_auth_user_id" not in client.session, "nothing of the account before the new password"

    client.post(REGISTER, {"action": "register", "phone": PHONE, "carrier": "", "email": ""})
    wrong = client.post(REGISTER, {"action": "confirm", "code": "000000"})
    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    confirmed = client.post(REGISTER, {"action": "confirm", "code": code_sent_to(outbox, PHONE)})
    assert confirmed.url == EXPIRED
    assert Channel.objects.get(user=expired).status == Channel.Status.VERIFIED

    captcha_page = client.get(EXPIRED)
    assert client.post(EXPIRED, captcha_answer(captcha_page)).url == SEND
    channel = Channel.objects.get(user=expired)
    assert client.post(SEND, {"channel": channel.pk}).url == CODE
    assert client.post(CODE, {"code": code_sent_to(outbox, PHONE)}).url == NEW
    done = client.post(NEW, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == HTTPStatus.FOUND
    assert int(client.session["_auth_user_id"]) == expired.pk
    expired.refresh_from_db()
    assert expired.check_password(NEW_PASSWORD)


def test_the_page_needs_a_pending_sign_in(client, expired):
    response = client.get(REGISTER)
    assert response.url == reverse("accounts:login")
    forged = client.post(REGISTER, {"action": "register", "phone": PHONE, "carrier": ""})
    assert forged.url == reverse("accounts:login")
    assert not Channel.objects.exists()
