"""Whatever a person or an attacker types, no page answers 500 and nothing bad is stored."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

hostile_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "' OR 1=1 --",
            "<script>alert(1)</script>",
            "../../etc/passwd",
            "𝟙𝟚𝟛𝟜𝟝𝟞",
            "１２３４５６",
            "\u202e123456",
            "%00",
            "A" * 5000,
            "1" * 9,
            "  ",
            "9999-99-99",
            "0000-00-00",
        ]
    ),
)

PUBLIC_FORMS = {
    "accounts:login": ["username", "password", "next"],
    "accounts:register": ["last_name", "huid", "guest_key", "date_of_birth", "ssn"],
    "accounts:register_affiliate": ["email"],
}

FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("name", sorted(PUBLIC_FORMS))
@FUZZ
@given(data=st.data())
def test_public_forms_never_answer_500(name, data):
    client = Client(raise_request_exception=False)
    fields = {field: data.draw(hostile_text, label=field) for field in PUBLIC_FORMS[name]}
    response = client.post(reverse(name), fields)
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert not User.objects.exists()


@FUZZ
@given(code=hostile_text)
def test_registration_code_entry_never_answers_500(code):
    client = Client(raise_request_exception=False)
    client.post(
        reverse("accounts:register"),
        {
            "last_name": "Nobody",
            "huid": "99999999",
            "guest_key": "",
            "date_of_birth": "",
            "ssn": "",
        },
    )
    response = client.post(reverse("accounts:register_code"), {"code": code})
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR


@FUZZ
@given(token=st.text(min_size=1, max_size=200).filter(lambda t: not set(t) & set("/?#%")))
def test_emailed_link_tokens_never_answer_500(token):
    client = Client(raise_request_exception=False)
    response = client.get(f"/register/affiliate/{token}/")
    assert response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.BAD_REQUEST)


@FUZZ
@given(section=hostile_text, value=hostile_text)
def test_my_address_never_answers_500(section, value):
    from django.utils import timezone

    from safecode.models import Channel

    user = UserFactory()
    Channel.objects.create(
        user=user,
        kind="email",
        address="x@example.org",
        status="verified",
        verified_at=timezone.now(),
    )
    client = Client(raise_request_exception=False)
    client.force_login(user)
    home = reverse("accounts:address_edit", kwargs={"kind": "home"})
    for url, data in (
        (f"/preferences/address/{quote(section, safe='')}/", {"street": value}),
        (reverse("accounts:directory_change"), {"field": value, "value": value}),
        (reverse("accounts:email_change"), {"email": value}),
        (home, {"street": value, "postal_code": value}),
    ):
        response = client.post(url, data)
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert client.get(reverse("accounts:address"), {"edit": value}).status_code == HTTPStatus.OK
