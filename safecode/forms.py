"""SafeCode forms: the shape of what a person types, and nothing else.

``SendCodeForm`` and ``CodeForm`` are meant for reuse by every flow that asks for a code
(unlock, password change, forgotten or expired password); render them with
``safecode/components/send_code.html`` and ``safecode/components/enter_code.html``.
``EmailAddressField`` is the one field for an email address a person types, wherever it is.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from safecode.addresses import (
    check_phone_country,
    email_domain,
    is_affiliate_domain,
    is_institution_domain,
    normalize_email,
    normalize_phone,
    personal_email_error,
    phone_countries_text,
)
from safecode.app_settings import app_settings
from safecode.codes import normalize_code
from safecode.errors import CODE_FORMAT_MESSAGE
from safecode.models import Channel
from safecode.selectors import channel_list_verified

NEED_ONE = "Enter a mobile phone number, a personal email address, or both."


class EmailAddressField(forms.CharField):
    """An email address as a person types it, checked and normalised by ``normalize_email``.

    Every form that takes an address to write to (SafeCode, the contact email, the affiliate
    sign-up) uses this field, so one rule decides what an address is: no address literals such
    as ``a@[127.0.0.1]`` or ``root@localhost``, no quoted local parts, the domain in IDNA and
    lowercase. Whatever is wrong with a typed address, the message is ``EMAIL_INVALID``.
    """

    widget = forms.EmailInput

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validators = []  # normalize_email bounds the length, with its own message
        self.widget.attrs.setdefault("maxlength", "254")
        self.widget.attrs.setdefault("autocomplete", "email")
        self.widget.attrs.setdefault("spellcheck", "false")

    def clean(self, value) -> str:
        text = super().clean(value)
        if not text:
            return ""
        return normalize_email(text)


class ChannelForm(forms.Form):
    """Register or replace the SafeCode phone and/or personal email."""

    phone = forms.CharField(
        label="Mobile phone number",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    carrier = forms.ChoiceField(
        label="Mobile carrier",
        required=False,
        choices=[("", "Not sure, or prefer not to say"), *Channel.Carrier.choices],
    )
    email = EmailAddressField(
        label="Personal email address",
        required=False,
        help_text=(
            "An address outside the institution: personal, or at an affiliated hospital "
            "(recommended if you have one)."
        ),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        help_text = (
            "A mobile phone that can receive text messages, in one of these countries: "
            f"{phone_countries_text()}."
        )
        if set(app_settings.PHONE_COUNTRIES) - {"US", "CA"}:
            help_text += " Outside the US and Canada, start with + and the country code."
        self.fields["phone"].help_text = help_text
        self.user = user
        self.verified = {c.kind: c for c in channel_list_verified(user)}

    def clean_phone(self) -> str:
        raw = self.cleaned_data.get("phone", "")
        if not raw.strip():
            return ""
        phone = normalize_phone(raw)
        check_phone_country(phone)
        current = self.verified.get(Channel.Kind.PHONE)
        if current is not None and current.address == phone.e164:
            raise ValidationError("That number is already your SafeCode phone.", code="same")
        return phone.e164

    def clean_email(self) -> str:
        address = self.cleaned_data.get("email", "")
        if not address:
            return ""
        if is_institution_domain(email_domain(address)):
            raise ValidationError(personal_email_error(), code="institution")
        current = self.verified.get(Channel.Kind.EMAIL)
        if current is not None and current.address.lower() == address.lower():
            raise ValidationError("That address is already your SafeCode email.", code="same")
        return address

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not cleaned.get("phone") and not cleaned.get("email"):
            raise ValidationError(NEED_ONE, code="required")
        return cleaned

    @property
    def email_is_affiliate(self) -> bool:
        address = self.cleaned_data.get("email", "") if hasattr(self, "cleaned_data") else ""
        return bool(address) and is_affiliate_domain(email_domain(address))


# How a box for a one-time code is drawn: the phone offers the code it received, with digits.
ONE_TIME_CODE_ATTRS = {
    "autocomplete": "one-time-code",
    "inputmode": "numeric",
    "autocapitalize": "off",
    "spellcheck": "false",
    "size": "8",
}


class CodeField(forms.CharField):
    """A code as typed. Whatever is wrong with it, the only message is "Enter the 6-digit code"."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("error_messages", {"required": CODE_FORMAT_MESSAGE})
        super().__init__(**kwargs)
        self.validators = []  # no second, differently worded error (null characters, length)
        self.widget.attrs["maxlength"] = "32"

    def clean(self, value) -> str:
        text = super().clean(value)
        code = normalize_code(text) if len(text) <= 64 else None
        if code is None:
            raise ValidationError(CODE_FORMAT_MESSAGE, code="format")
        return code


class CodeForm(forms.Form):
    """Enter the 6-digit code. Spaces, dashes and full-width digits are accepted."""

    code = CodeField(
        label="6-digit code",
        widget=forms.TextInput(attrs=ONE_TIME_CODE_ATTRS),
    )


class _ChannelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Channel) -> str:
        if obj.kind == Channel.Kind.PHONE:
            return f"Text message to {obj.masked}"
        return f"Email to {obj.masked}"


class SendCodeForm(forms.Form):
    """Choose which verified channel gets the code (where both a phone and an email exist)."""

    channel = _ChannelChoiceField(
        label="Where should we send the code?",
        queryset=Channel.objects.none(),
        empty_label=None,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose where the code goes.",
            "invalid_choice": "Choose where the code goes.",
        },
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        queryset = channel_list_verified(user)
        self.fields["channel"].queryset = queryset
        first = queryset.first()
        if first is not None and "channel" not in self.initial:
            self.initial["channel"] = first.pk
