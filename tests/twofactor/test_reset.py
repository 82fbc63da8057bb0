"""A forgotten password on an account with two-factor: the SafeCode, then a second factor,
then the new password. The SafeCode alone never resets such an account."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tests.accounts.pages import FORGOT, FORGOT_CODE, FORGOT_NEW, FORGOT_SEND
from tests.factories import DEFAULT_PASSWORD, PHONE
from tests.helpers import captcha_answer, code_sent_to
from tests.twofactor.conftest import app_passcode

pytestmark = pytest.mark.django_db(transaction=True)

CHECK = reverse("accounts:password_forgot_check")
RESET = reverse("twofactor:reset")
NEW_PASSWORD = "lantern by the old quay"
NEW_PASSWORDS = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}


def safecode_proven(client, user, outbox):
    page = client.get(FORGOT)
    details = {"login": user.username, "last_name": user.person.last_name, "huid": user.person.huid}
    client.post(FORGOT, {**details, **captcha_answer(page)})
    client.post(FORGOT_SEND, {"kind": "phone"})
    return client.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)})


def test_the_safecode_then_a_passcode_from_the_device_resets(client, user, device, outbox):
    assert safecode_proven(client, user, outbox).url == CHECK
    assert client.get(CHECK).url == RESET
    page = client.get(RESET)
    assert b"a SafeCode alone does not reset" in page.content
    assert b"My iPhone" in page.content

    passed = client.post(
        RESET, {"device": device.pk, "method": "passcode", "code": app_passcode(device)}
    )
    assert passed.url == CHECK
    assert client.get(CHECK).url == FORGOT_NEW
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_the_safecode_alone_never_reaches_the_new_password(client, user, device, outbox):
    safecode_proven(client, user, outbox)
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).url == CHECK
    wrong = client.post(RESET, {"device": device.pk, "method": "passcode", "code": "000000"})
    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert b"That passcode is not right" in wrong.content
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).url == CHECK
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert AuditEvent.objects.filter(event="twofactor.failed", subject=user).exists()


def test_the_page_knows_no_account_outside_a_waiting_reset(user, device):
    client = Client()
    assert client.get(RESET).url == FORGOT
    posted = client.post(
        RESET, {"device": device.pk, "method": "passcode", "code": app_passcode(device)}
    )
    assert posted.url == FORGOT
    assert "_auth_user_id" not in client.session


def test_an_account_without_a_device_goes_straight_to_the_new_password(client, user, outbox):
    assert safecode_proven(client, user, outbox).url == FORGOT_NEW


def test_the_number_of_an_app_phone_is_proven_by_its_first_passcode(user, outbox, time_machine):
    """A phone enrolled with its app offers texts and calls to the number the person typed;
    the first passcode that comes back from it proves the number."""
    from tests.twofactor.conftest import make_device
    from twofactor.models import PhoneDevice
    from twofactor.services import passcode_send, second_factor_verify

    device = make_device(user, name="Typed number", number="+16175550177")
    PhoneDevice.objects.filter(pk=device.phone_id).update(confirmed=False)
    device.refresh_from_db()
    assert device.methods == ["passcode", "sms", "call"]
    passcode_send(device=device, method="sms")
    code = code_sent_to(outbox, "+16175550177")
    wrong = second_factor_verify(user=user, device_id=device.pk, method="sms", code="000000")
    assert not wrong.ok and not PhoneDevice.objects.get(pk=device.phone_id).confirmed
    time_machine.move_to(timezone.now() + timedelta(seconds=5))  # past the wait after a failure
    result = second_factor_verify(user=user, device_id=device.pk, method="sms", code=code)
    assert result.ok and PhoneDevice.objects.get(pk=device.phone_id).confirmed
