"""SafeCode texts only numbers in the allowed countries: the United States and Canada, plus
any country ``SAFECODE_PHONE_COUNTRIES`` names. Others get a field error naming the service desk."""

from __future__ import annotations

import html
import re
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse

from safecode.app_settings import app_settings
from safecode.models import Channel
from safecode.services import channel_register

MANAGE = reverse("safecode:manage")
JAMAICA = "+1 876 210 1234"
BAHAMAS = "+1 242 359 1234"
UK = "+44 7400 123456"
CANADA = "+1 416 555 0123"


def phone_error(response) -> str:
    """The error shown under the phone field, as a person reads it ('' when there is none)."""
    match = re.search(
        r'<div class="field__error" id="id_phone_error">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    return html.unescape(re.sub(r"<[^>]+>|\s+", " ", match.group(1))).strip() if match else ""


def register_phone(client, django_capture_on_commit_callbacks, typed: str):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(MANAGE, {"phone": typed, "carrier": "", "email": ""})


@pytest.mark.parametrize(
    "typed",
    [JAMAICA, "876-210-1234", "(876) 210-1234", BAHAMAS, UK, "+33 6 12 34 56 78"],
    ids=["jamaica", "jamaica-without-country-code", "jamaica-dialled", "bahamas", "uk", "france"],
)
def test_numbers_outside_the_us_and_canada_are_refused_with_the_service_desk_number(
    signed_in, django_capture_on_commit_callbacks, outbox, settings, typed
):
    settings.SERVICE_DESK_PHONE = "617-555-0199"

    response = register_phone(signed_in, django_capture_on_commit_callbacks, typed)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = phone_error(response)
    assert "SafeCode texts only mobile numbers in these countries: United States, Canada" in error
    assert "call the IT Service Desk at 617-555-0199" in error
    assert not Channel.objects.exists()
    assert not outbox


def test_a_canadian_number_is_accepted(signed_in, user, django_capture_on_commit_callbacks, outbox):
    response = register_phone(signed_in, django_capture_on_commit_callbacks, CANADA)

    channel = Channel.objects.get(user=user)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("safecode:verify", args=[channel.pk])
    assert (channel.address, channel.region) == ("+14165550123", "CA")
    assert outbox[-1].recipient == "+14165550123"


@override_settings(SAFECODE_PHONE_COUNTRIES=["GB"])
def test_a_country_named_in_the_setting_is_accepted_and_the_others_still_refused(
    signed_in, user, django_capture_on_commit_callbacks
):
    page = signed_in.get(MANAGE).content.decode()
    assert "in one of these countries: United States, Canada, United Kingdom." in page
    assert "Outside the US and Canada, start with + and the country code." in page

    refused = register_phone(signed_in, django_capture_on_commit_callbacks, JAMAICA)
    assert "United States, Canada, United Kingdom" in phone_error(refused)
    assert not Channel.objects.exists()

    accepted = register_phone(signed_in, django_capture_on_commit_callbacks, UK)
    assert accepted.status_code == HTTPStatus.FOUND
    channel = Channel.objects.get(user=user)
    assert (channel.address, channel.region) == ("+447400123456", "GB")


def test_the_page_says_which_countries_can_be_texted(signed_in):
    page = signed_in.get(MANAGE).content.decode()

    assert "in one of these countries: United States, Canada." in page
    assert "start with + and the country code" not in page


def test_the_service_refuses_a_number_abroad_whoever_calls_it(user):
    with pytest.raises(ValidationError) as refused:
        channel_register(user=user, phone=JAMAICA)

    assert refused.value.code == "country"
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ([], ("US", "CA")),
        (["gb", " FR ", ""], ("US", "CA", "GB", "FR")),
        ("JM,pr", ("US", "CA", "JM", "PR")),
        (["CA", "US"], ("US", "CA")),
    ],
)
def test_the_setting_adds_to_the_united_states_and_canada(settings, configured, expected):
    settings.SAFECODE_PHONE_COUNTRIES = configured

    countries = app_settings.PHONE_COUNTRIES

    assert countries == expected
