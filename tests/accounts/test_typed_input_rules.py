"""What a person types is held to one rule wherever it is typed.

A date of birth is a real day, not in the future and at most 120 years ago, on every form that
asks for one; an out-of-range date is a field error, and nothing is looked up or counted. An
email address is checked by one rule (``safecode.addresses.normalize_email``) on the SafeCode,
contact-email and affiliate sign-up forms: address literals and the like get the same error
everywhere, and no link is sent.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import EmailToken, RegistrationAttempt, RegistrationCode
from accounts.services.profile import email_change_start
from audit.models import AuditEvent
from safecode.addresses import EMAIL_INVALID
from safecode.models import Channel
from tests.accounts.pages import FORGOT
from tests.accounts.test_preferences import prove
from tests.factories import PersonFactory, UserFactory
from tests.helpers import captcha_answer

pytestmark = pytest.mark.django_db(transaction=True)

REGISTER = reverse("accounts:register")
ADDRESS = reverse("accounts:address")
EMAIL_CHANGE = reverse("accounts:email_change")
SAFECODE = reverse("safecode:manage")
AFFILIATE = reverse("accounts:register_affiliate")

# 10:00 in Boston on 4 March 2025: "today" is the same day in UTC and in the portal's zone.
NOW = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
TODAY = date(2025, 3, 4)
TOMORROW = date(2025, 3, 5)
OLDEST = date(1905, 3, 4)  # exactly 120 years before TODAY
TOO_OLD = date(1905, 3, 3)
AGO_130_YEARS = date(1895, 3, 4)
DOB_RANGE_ERROR = "Check the date of birth: it cannot be in the future or more than 120 years ago."
MATCHED_PAGE = "If the details you entered match our records"


def field_error(response, name: str) -> str:
    """The error shown under a field, as a person reads it ('' when there is none)."""
    match = re.search(
        rf'<div class="field__error" id="id_{name}_error">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    if not match:
        return ""
    text = re.sub(r"<[^>]+>", " ", match.group(1)).replace("Error:", "")
    return " ".join(html.unescape(text).split())


@pytest.fixture
def today(time_machine):
    time_machine.move_to(NOW, tick=False)
    return TODAY


# Date of birth: registration ------------------------------------------------------------------


def register_with_birthday(client, person, born: date):
    return client.post(
        REGISTER,
        {
            "last_name": person.last_name,
            "huid": "",
            "guest_key": "",
            "date_of_birth": born.isoformat(),
            "ssn": "",
        },
        follow=True,
    )


@pytest.mark.parametrize("born", [TOMORROW, date(2031, 1, 1), TOO_OLD, AGO_130_YEARS])
def test_registration_refuses_an_impossible_date_of_birth_and_looks_nothing_up(
    client, outbox, today, born
):
    # Someone on file with that very date: a look-up would match and mail a code.
    person = PersonFactory(date_of_birth=born)

    response = register_with_birthday(client, person, born)

    assert response.status_code == HTTPStatus.OK
    assert field_error(response, "date_of_birth") == DOB_RANGE_ERROR
    assert MATCHED_PAGE not in response.content.decode()
    assert not RegistrationAttempt.objects.exists()
    assert not RegistrationCode.objects.exists()
    assert not AuditEvent.objects.exists()
    assert not outbox


@pytest.mark.parametrize("born", [TODAY, OLDEST, date(1980, 2, 29)])
def test_registration_accepts_a_date_of_birth_up_to_the_edges_of_the_range(
    client, outbox, today, born
):
    person = PersonFactory(date_of_birth=born)

    response = register_with_birthday(client, person, born)

    assert field_error(response, "date_of_birth") == ""
    assert MATCHED_PAGE in response.content.decode()
    assert [m.recipient for m in outbox] == [person.email]


def test_the_oldest_date_of_birth_on_a_29_february_is_the_28th(client, time_machine):
    # 1900 was not a leap year, so 120 years before 29 February 2020 is 28 February 1900.
    time_machine.move_to(datetime(2020, 2, 29, 15, 0, tzinfo=UTC), tick=False)
    person = PersonFactory(date_of_birth=date(1900, 2, 28))

    accepted = register_with_birthday(client, person, date(1900, 2, 28))
    refused = register_with_birthday(client, person, date(1900, 2, 27))

    assert field_error(accepted, "date_of_birth") == ""
    assert field_error(refused, "date_of_birth") == DOB_RANGE_ERROR


# Date of birth: forgotten password --------------------------------------------------------------


@pytest.mark.parametrize("born", [TOMORROW, AGO_130_YEARS])
def test_forgotten_password_refuses_an_impossible_date_of_birth_and_starts_nothing(
    client, outbox, today, born
):
    user = UserFactory(person=PersonFactory(date_of_birth=born))
    page = client.get(FORGOT)

    response = client.post(
        FORGOT,
        {
            "login": user.username,
            "last_name": user.person.last_name,
            "huid": "",
            "date_of_birth": born.isoformat(),
            **captcha_answer(page),
        },
    )

    assert response.status_code == HTTPStatus.OK
    assert field_error(response, "date_of_birth")
    assert "flow:password_forgot" not in client.session
    assert not outbox


# Email: one rule on every form ------------------------------------------------------------------

REFUSED_EVERYWHERE = [
    "a@[127.0.0.1]",
    "jane@[10.0.0.7]",
    "a@[IPv6:::1]",
    "root@localhost",
    '"jane"@example.org',
]


@pytest.fixture
def signed_in(client):
    user = UserFactory()
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.EMAIL,
        address=f"{user.username}@example.org",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    client.force_login(user)
    return user


@pytest.mark.parametrize("typed", REFUSED_EVERYWHERE)
def test_the_contact_email_refuses_what_the_safecode_form_refuses_with_the_same_error(
    client, signed_in, outbox, typed
):
    old = signed_in.email

    contact = client.post(EMAIL_CHANGE, {"email": typed})
    safecode = client.post(SAFECODE, {"phone": "", "carrier": "", "email": typed})

    assert contact.status_code == HTTPStatus.BAD_REQUEST
    assert safecode.status_code == HTTPStatus.BAD_REQUEST
    assert field_error(contact, "email") == field_error(safecode, "email") == EMAIL_INVALID
    assert not EmailToken.objects.exists()
    assert Channel.objects.filter(user=signed_in).count() == 1
    assert not outbox
    signed_in.refresh_from_db()
    assert signed_in.email == old


def test_the_contact_email_is_stored_as_the_safecode_form_would_store_it(client, signed_in, outbox):
    prove(client, outbox)
    client.post(EMAIL_CHANGE, {"email": " Jane.Doe@Example.ORG. "})

    token = EmailToken.objects.get(purpose=EmailToken.Purpose.EMAIL_CHANGE)
    assert token.email == "Jane.Doe@example.org"
    assert [m.recipient for m in outbox] == ["Jane.Doe@example.org"]


def test_the_contact_email_service_refuses_an_address_literal_whoever_calls_it(outbox):
    user = UserFactory()

    with pytest.raises(ValidationError):
        email_change_start(user=user, new_email="a@[127.0.0.1]")

    assert not EmailToken.objects.exists()
    assert not outbox


@pytest.mark.parametrize("typed", ["pat@[127.0.0.1]", "pat@localhost", '"pat"@partners.org'])
def test_the_affiliate_sign_up_refuses_them_with_the_same_error(client, outbox, typed):
    response = client.post(AFFILIATE, {"email": typed})

    assert field_error(response, "email") == EMAIL_INVALID
    assert not EmailToken.objects.exists()
    assert not outbox
