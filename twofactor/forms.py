"""Two-factor forms: the shape of what a person sends, and nothing else.

``PasscodeForm`` and ``SendPasscodeForm`` serve both the second step of sign-in and the
step-up before a change ("Confirm with your device"): one device and one method, chosen by the
person, never a code tried against every device. They are rendered once per device and
method, with ``auto_id`` naming the pair, by ``twofactor/components/choose_method.html``.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from safecode.forms import ONE_TIME_CODE_ATTRS, CodeField
from twofactor.models import Device, Profile

CHOOSE_DEVICE = "Choose one of your devices."
CHOOSE_METHOD = "Choose how to get a passcode."

METHOD_LABELS = {
    "webauthn": "Use security key",
    "push": "Send me a push",
    "passcode": "Enter a passcode",
    "sms": "Text me a passcode",
    "call": "Call me",
}
CODE_HEADINGS = {
    "passcode": "Enter a passcode",
    "sms": "Enter the passcode from the text message",
    "call": "Enter the passcode from the call",
}
CODE_LABELS = {
    "passcode": "Passcode from the app",
    "sms": "Passcode from the text message",
    "call": "Passcode from the call",
}


def form_id(device_id: int, method: str) -> str:
    """The ``auto_id`` of the forms for one device and method, so that each field of a page
    with several devices has its own id."""
    return f"id_device{device_id}_{method}_%s"


class _DeviceChoice(forms.Form):
    """The device and method a form is for, checked against the person's own devices."""

    device = forms.TypedChoiceField(
        coerce=int,
        widget=forms.HiddenInput,
        error_messages={"required": CHOOSE_DEVICE, "invalid_choice": CHOOSE_DEVICE},
    )
    method = forms.ChoiceField(
        choices=[(name, label) for name, label in METHOD_LABELS.items()],
        widget=forms.HiddenInput,
        error_messages={"required": CHOOSE_METHOD, "invalid_choice": CHOOSE_METHOD},
    )
    methods: tuple[str, ...] = ("passcode", "sms", "call")

    def __init__(self, *args, devices, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.devices = {device.pk: device for device in devices}
        self.fields["device"].choices = [(pk, str(device)) for pk, device in self.devices.items()]
        self.fields["method"].choices = [(name, METHOD_LABELS[name]) for name in self.methods]

    def clean(self):
        cleaned = super().clean()
        device = self.devices.get(cleaned.get("device"))
        method = cleaned.get("method")
        if device is not None and method and method not in device.methods:
            raise ValidationError(CHOOSE_METHOD, code="method")
        cleaned["device_obj"] = device
        return cleaned

    @property
    def chosen(self) -> tuple[int | None, str]:
        """The device id and method as sent, even when the form is invalid, so that a page can
        show the errors beside the device they are about."""
        raw_device = str(self.data.get(self.add_prefix("device"), ""))
        digits = raw_device.isascii() and raw_device.isdigit()
        device_id = int(raw_device) if digits and len(raw_device) < 12 else None
        return device_id, str(self.data.get(self.add_prefix("method"), ""))


class PasscodeForm(_DeviceChoice):
    """A passcode for the chosen device: from the app, or one sent by text message or call."""

    code = CodeField(
        label="Passcode",
        widget=forms.TextInput(attrs=ONE_TIME_CODE_ATTRS),
    )
    remember = forms.BooleanField(
        label="Remember me for 30 days",
        required=False,
        help_text="Only on a browser nobody else uses. You will still be asked before changes.",
    )

    def __init__(self, *args, devices, remember: bool = True, method: str = "", **kwargs):
        super().__init__(*args, devices=devices, **kwargs)
        if not remember:
            del self.fields["remember"]
        if method in CODE_LABELS:
            self.fields["code"].label = CODE_LABELS[method]


class SendPasscodeForm(_DeviceChoice):
    """Send a passcode to the chosen device's phone, by text message or by a call, or a push
    to its authenticator app."""

    methods = ("push", "sms", "call")


class RenameForm(forms.Form):
    name = forms.CharField(
        label="New name",
        max_length=64,
        error_messages={
            "required": "Enter a name for the device.",
            "max_length": "Enter a name of at most 64 characters.",
        },
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name or not name.isprintable():
            raise ValidationError("Enter a name for the device.", code="invalid")
        return name


class LoginActionForm(forms.Form):
    """What happens when the person signs in: choose a method each time, or a push or a call
    to the default device straight away (each offered only when that device can)."""

    action = forms.ChoiceField(
        label="When I sign in",
        choices=Profile.LoginAction.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose what happens when you sign in.",
            "invalid_choice": "Choose what happens when you sign in.",
        },
    )

    def __init__(self, *args, default_device: Device | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.default_device = default_device
        methods = default_device.methods if default_device is not None else []
        offered = {Profile.LoginAction.ASK: True}
        offered[Profile.LoginAction.PUSH] = "push" in methods
        offered[Profile.LoginAction.CALL] = "call" in methods
        # Only what the default device can do is shown; a post of anything else is refused
        # by ``clean_action`` with the reason.
        self.fields["action"].widget.choices = [
            (value, label) for value, label in Profile.LoginAction.choices if offered.get(value)
        ]

    def clean_action(self) -> str:
        action = self.cleaned_data["action"]
        device = self.default_device
        if action == Profile.LoginAction.CALL and (device is None or device.phone_id is None):
            raise ValidationError("Your default device cannot receive calls.", code="no_phone")
        if action == Profile.LoginAction.PUSH and (device is None or "push" not in device.methods):
            raise ValidationError(
                "Your default device does not have the authenticator app.", code="no_app"
            )
        return action


# Enrollment (twofactor.views.enroll) ---------------------------------------------------------

SECURITY_KEY = "key"
CHOOSE_KIND = "Choose the type of device you are adding."
CHOOSE_PHONE_TYPE = "Choose the type of phone."
NUMBER_CORRECT = "Check the number, then tick “This number is correct”."
NUMBER_INVALID = (
    "Enter a valid phone number, such as 617-555-0123. Outside the US and Canada, start with + "
    "and the country code."
)
NUMBER_LANDLINE = (
    "That is a landline number. Go back and choose Landline, or enter a mobile phone number."
)
NUMBER_NOT_PHONE = (
    "That number cannot take passcodes (toll-free, premium-rate, pager and shared-cost numbers "
    "are refused). Enter a mobile phone or landline number."
)
NUMBER_EXTENSION = "A passcode call cannot reach an extension. Enter a direct number."
_MAX_NUMBER_INPUT = 40


def _number_types(kind: str) -> set:
    """The numbering-plan types a device of ``kind`` may have. US numbers are mostly
    FIXED_LINE_OR_MOBILE, which the plan cannot tell apart, so both kinds accept them."""
    import phonenumbers

    types = phonenumbers.PhoneNumberType
    mobile = {types.MOBILE, types.FIXED_LINE_OR_MOBILE, types.PERSONAL_NUMBER, types.VOIP}
    return mobile | {types.FIXED_LINE} if kind == Device.Kind.LANDLINE else mobile


def normalize_device_number(raw: str, *, kind: str) -> str:
    """A typed phone number as E.164, for a device of ``kind``.

    Read as SafeCode reads numbers (``safecode.addresses``): a number without a country code
    is in ``SAFECODE_PHONE_REGION``, and only numbers of ``SAFECODE_PHONE_COUNTRIES`` are
    taken, by the number's own region, since the portal pays for every text and call it
    sends there (SMS pumping targets exactly the countries nobody expects).
    """
    import unicodedata

    import phonenumbers

    from safecode.addresses import phone_countries_text
    from safecode.app_settings import app_settings as safecode_settings

    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text or len(text) > _MAX_NUMBER_INPUT or not text.isprintable():
        raise ValidationError(NUMBER_INVALID, code="invalid")
    try:
        number = phonenumbers.parse(text, safecode_settings.PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(NUMBER_INVALID, code="invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(NUMBER_INVALID, code="invalid")
    if number.extension:
        raise ValidationError(NUMBER_EXTENSION, code="extension")
    number_type = phonenumbers.number_type(number)
    if number_type not in _number_types(kind):
        landline = number_type == phonenumbers.PhoneNumberType.FIXED_LINE
        raise ValidationError(
            NUMBER_LANDLINE if landline else NUMBER_NOT_PHONE,
            code="landline" if landline else "not_phone",
        )
    if phonenumbers.region_code_for_number(number) not in safecode_settings.PHONE_COUNTRIES:
        raise ValidationError(
            "Two-factor passcodes go only to numbers in these countries: "
            f"{phone_countries_text()}. For a number elsewhere, choose Tablet and use an "
            "authenticator app, or call the IT Service Desk.",
            code="country",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class DeviceKindForm(forms.Form):
    """Step 1: what kind of device is being added."""

    kind = forms.ChoiceField(
        label="What type of device are you adding?",
        choices=[
            (Device.Kind.MOBILE, "Mobile phone (recommended)"),
            (Device.Kind.TABLET, "Tablet (iPad, Android tablet)"),
            (Device.Kind.LANDLINE, "Landline"),
            (SECURITY_KEY, "Security key (YubiKey or similar)"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": CHOOSE_KIND, "invalid_choice": CHOOSE_KIND},
    )


class DeviceNumberForm(forms.Form):
    """Step 2, for a mobile phone or a landline: the number, and "This number is correct"."""

    number = forms.CharField(
        label="Phone number",
        error_messages={"required": NUMBER_INVALID},
        widget=forms.TextInput(
            attrs={"autocomplete": "tel", "inputmode": "tel", "maxlength": str(_MAX_NUMBER_INPUT)}
        ),
    )
    correct = forms.BooleanField(
        label="This number is correct",
        error_messages={"required": NUMBER_CORRECT},
    )

    def __init__(self, *args, kind: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["number"].validators = []  # one message whatever is wrong with it
        from safecode.addresses import phone_countries_text

        self.fields["number"].help_text = (
            f"A number in one of these countries: {phone_countries_text()}. Outside the US "
            "and Canada, start with + and the country code."
        )
        if kind == Device.Kind.LANDLINE:
            self.fields["number"].label = "Landline number"
        else:
            self.fields["number"].label = "Mobile phone number"

    def clean_number(self) -> str:
        return normalize_device_number(self.cleaned_data["number"], kind=self.kind)


class PhoneTypeForm(forms.Form):
    """Step 3, for a mobile phone: what it runs."""

    phone_type = forms.ChoiceField(
        label="What type of phone is it?",
        choices=Device.PhoneType.choices,
        widget=forms.RadioSelect,
        error_messages={"required": CHOOSE_PHONE_TYPE, "invalid_choice": CHOOSE_PHONE_TYPE},
    )


class OwnershipSendForm(forms.Form):
    """How to get the passcode that proves a number already in use is the person's."""

    method = forms.ChoiceField(
        label="How should we send the passcode?",
        choices=[("sms", "Text me a passcode"), ("call", "Call me")],
        widget=forms.RadioSelect,
        error_messages={"required": CHOOSE_METHOD, "invalid_choice": CHOOSE_METHOD},
    )

    def __init__(self, *args, kind: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if kind == Device.Kind.LANDLINE:
            self.fields["method"].choices = [("call", "Call me")]
        self.initial.setdefault("method", self.fields["method"].choices[0][0])


class EnrollPasscodeForm(forms.Form):
    """The passcode that confirms a new device: from the app, or from a text or a call."""

    code = CodeField(
        label="Passcode",
        widget=forms.TextInput(attrs=ONE_TIME_CODE_ATTRS),
    )

    def __init__(self, *args, method: str = "passcode", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].label = CODE_LABELS.get(method, "Passcode")


# Security keys and passkeys (twofactor.security_keys) ----------------------------------------

KEY_NO_ANSWER = (
    "Your browser sent no answer from the key. Select the button again and touch your key when "
    "it blinks (this needs JavaScript), or choose another way."
)
KEY_UNREADABLE = "The answer from the key could not be read. Try again."
# A browser's answer is a few kilobytes; anything much larger is not one.
MAX_CREDENTIAL_LENGTH = 64_000


class CredentialField(forms.CharField):
    """The JSON of a WebAuthn answer (``credential.toJSON()``), put in a hidden field by
    static/js/webauthn.js: a JSON object of a bounded size. What is inside is for
    py_webauthn to judge (``twofactor.security_keys``)."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("error_messages", {"required": KEY_NO_ANSWER})
        super().__init__(**kwargs)

    def clean(self, value):
        import json

        value = super().clean(value)
        if len(value) > MAX_CREDENTIAL_LENGTH:
            raise ValidationError(KEY_UNREADABLE, code="too_long")
        try:
            data = json.loads(value)
        except (ValueError, RecursionError):
            raise ValidationError(KEY_UNREADABLE, code="not_json") from None
        if not isinstance(data, dict):
            raise ValidationError(KEY_UNREADABLE, code="not_object")
        return value


class SecurityKeyForm(_DeviceChoice):
    """The answer of the chosen device's security key, at sign-in, step-up or reset."""

    methods = ("webauthn",)
    credential = CredentialField()
    remember = PasscodeForm.base_fields["remember"]

    def __init__(self, *args, devices, remember: bool = True, **kwargs) -> None:
        super().__init__(*args, devices=devices, **kwargs)
        if not remember:
            del self.fields["remember"]


class SecurityKeyRegisterForm(RenameForm):
    """The wizard's key stage: a name for the key, and its answer to the registration."""

    credential = CredentialField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].label = "Name this key"
        self.fields["name"].initial = "Security key"
        self.fields["name"].help_text = "So that you can tell it from your other devices."


BYPASS_FORMAT_MESSAGE = "Enter the 9-digit bypass code"


class BypassCodeForm(forms.Form):
    """A bypass code the service desk read out: 9 digits, spaces, dashes and full-width
    digits accepted. Whatever is wrong with its shape, the only message is
    ``BYPASS_FORMAT_MESSAGE``."""

    code = forms.CharField(
        label="Bypass code",
        help_text="The 9 digits the IT Service Desk gave you.",
        error_messages={"required": BYPASS_FORMAT_MESSAGE},
        widget=forms.TextInput(attrs={**ONE_TIME_CODE_ATTRS, "size": "11", "maxlength": "32"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].validators = []  # no second, differently worded error

    def clean_code(self) -> str:
        from twofactor.bypass import normalize_bypass_code

        text = self.cleaned_data["code"]
        code = normalize_bypass_code(text) if len(text) <= 64 else None
        if code is None:
            raise ValidationError(BYPASS_FORMAT_MESSAGE, code="format")
        return code
