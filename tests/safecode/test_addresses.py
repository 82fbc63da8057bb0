"""Which phone numbers and email addresses can be SafeCode channels, and how they are shown."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safecode.addresses import mask_email, mask_phone, normalize_email, normalize_phone
from safecode.forms import ChannelForm, CodeForm
from safecode.models import Channel

# Email ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("jane.doe@gmail.com", "jane.doe@gmail.com"),
        ("  Jane.Doe+safecode@Gmail.COM ", "Jane.Doe+safecode@gmail.com"),
        ("jane@example.com.", "jane@example.com"),
        ("jane@bücher.de", "jane@xn--bcher-kva.de"),
        ("jane@BÜCHER.DE", "jane@xn--bcher-kva.de"),
        ("jane@partners.org", "jane@partners.org"),
        ("jane@bidmc.harvard.edu", "jane@bidmc.harvard.edu"),
        ("jane@notmed.harvard.edu", "jane@notmed.harvard.edu"),
        ("jane@harvard.edu", "jane@harvard.edu"),
    ],
)
def test_personal_and_affiliate_addresses_are_accepted(user, typed, stored):
    form = ChannelForm({"email": typed}, user=user)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["email"] == stored


@pytest.mark.parametrize(
    "typed",
    [
        "jane@hms.harvard.edu",
        "JANE@HMS.HARVARD.EDU",
        "jane@hms.harvard.edu.",
        "jane@hms.harvard.edu..",
        "jane@lab.hms.harvard.edu",
        "jane@Dept.Lab.HSDM.Harvard.Edu",
        "jane+safecode@med.harvard.edu",
        "jane@ｈｍｓ.harvard.edu",  # full-width letters
        "jane@hms。harvard。edu",  # ideographic full stops
        "jane@HMS．HARVARD．EDU",  # full-width full stops
    ],
)
def test_institution_addresses_and_their_subdomains_are_refused(user, typed):
    form = ChannelForm({"email": typed}, user=user)

    assert not form.is_valid()
    assert "needs an address outside HMS" in form.errors["email"][0]
    assert "hms.harvard.edu" in form.errors["email"][0]


@override_settings(INSTITUTION_EMAIL_DOMAINS=["bücher.example"])
@pytest.mark.parametrize(
    "typed",
    ["x@bücher.example", "x@BÜCHER.EXAMPLE.", "x@xn--bcher-kva.example", "x@a.bücher.example"],
)
def test_idn_institution_domains_are_compared_in_punycode(user, typed):
    form = ChannelForm({"email": typed}, user=user)

    assert not form.is_valid()


@pytest.mark.parametrize(
    "typed",
    [
        "jane",
        "@gmail.com",
        "jane@",
        "jane@@gmail.com",
        '"jane"@gmail.com',
        "jane doe@gmail.com",
        "jane@localhost",
        "jane@[127.0.0.1]",
        "jane@gmail..com",
        "jane@-gmail.com",
        "jane@gmail.com\nBcc: x@evil.example",
        "jane@" + "a" * 64 + ".com",
        "jäne@gmail.com",
    ],
)
def test_malformed_addresses_are_refused(typed):
    with pytest.raises(ValidationError):
        normalize_email(typed)


# Phone ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "e164", "region"),
    [
        ("617-555-0123", "+16175550123", "US"),
        ("(617) 555-0123", "+16175550123", "US"),
        ("+1 617 555 0123", "+16175550123", "US"),
        ("１６１７５５５０１２３", "+16175550123", "US"),
        ("+33 6 12 34 56 78", "+33612345678", "FR"),
        ("+44 7400 123456", "+447400123456", "GB"),
    ],
)
def test_mobile_numbers_are_stored_in_e164(typed, e164, region):
    phone = normalize_phone(typed)

    assert (phone.e164, phone.region) == (e164, region)


@pytest.mark.parametrize("typed", ["+44 20 7946 0958", "+49 30 123456"])
def test_landlines_are_refused(typed):
    with pytest.raises(ValidationError, match="landline"):
        normalize_phone(typed)


@pytest.mark.parametrize("typed", ["+1 800 555 1212", "+1 900 555 0123"])
def test_numbers_that_cannot_take_texts_are_refused(typed):
    with pytest.raises(ValidationError, match="cannot receive text messages"):
        normalize_phone(typed)


@pytest.mark.parametrize(
    "typed", ["", "123", "phone", "+999 1234 5678", "617-555-012", "+1" + "5" * 60, "617\x00555"]
)
def test_invalid_numbers_are_refused(typed):
    with pytest.raises(ValidationError, match="valid mobile phone number"):
        normalize_phone(typed)


def test_extensions_are_refused():
    with pytest.raises(ValidationError, match="extension"):
        normalize_phone("617-555-0123 ext. 12")


def test_carrier_is_optional_and_from_the_list(user):
    assert ChannelForm({"phone": "617-555-0123"}, user=user).is_valid()
    assert ChannelForm({"phone": "617-555-0123", "carrier": "att"}, user=user).is_valid()
    assert not ChannelForm({"phone": "617-555-0123", "carrier": "acme"}, user=user).is_valid()


def test_at_least_one_channel_is_needed(user):
    form = ChannelForm({"phone": " ", "email": ""}, user=user)

    assert not form.is_valid()
    assert form.non_field_errors() == [
        "Enter a mobile phone number, a personal email address, or both."
    ]


# Masking ----------------------------------------------------------------------------------------


def test_channels_are_shown_masked():
    assert mask_phone("+16175550123") == "***-***-0123"
    assert mask_phone("+33612345678") == "***-***-5678"
    assert mask_email("jane.doe@gmail.com") == "j***@gmail.com"
    assert mask_email("jane@xn--bcher-kva.de") == "j***@bücher.de"
    assert Channel(kind=Channel.Kind.PHONE, address="+16175550123").masked == "***-***-0123"


# Hostile input ----------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80).map(lambda s: f"{s}@{s}"),
    st.sampled_from(
        [
            "\x00",
            "a@b@c",
            "x@" + "a." * 200 + "com",
            "+" + "9" * 300,
            "‮moc.liamg@enaj",
            "jane@xn--",
            "jane@xn--zz.com",
            "617 555 0123" * 10,
            "<script>alert(1)</script>@x.com",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phone=hostile_text, email=hostile_text, carrier=hostile_text)
def test_channel_form_never_crashes(phone, email, carrier):
    form = ChannelForm({"phone": phone, "email": email, "carrier": carrier}, user=_Nobody())
    form.is_valid()


@settings(max_examples=300, deadline=None)
@given(code=hostile_text)
def test_code_form_never_crashes_and_keeps_only_six_digits(code):
    form = CodeForm({"code": code})
    if form.is_valid():
        assert len(form.cleaned_data["code"]) == 6
        assert form.cleaned_data["code"].isascii() and form.cleaned_data["code"].isdigit()
    else:
        assert form.errors["code"] == ["Enter the 6-digit code"]


class _Nobody:
    """An account with no channel, without touching the database."""

    pk = None
    is_authenticated = True


@pytest.fixture(autouse=True)
def _no_verified_channels(monkeypatch, request):
    """Forms built with ``_Nobody`` read no channel (hypothesis runs without a database)."""
    if "user" in request.fixturenames:
        return
    from django.db.models import QuerySet

    monkeypatch.setattr(
        "safecode.forms.channel_list_verified", lambda user: QuerySet(model=Channel).none()
    )
