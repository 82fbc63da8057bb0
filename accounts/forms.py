"""Input shape and validation of the accounts pages; no side effects."""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils import timezone

from accounts.captcha import PortalCaptchaField
from accounts.normalize import digits
from accounts.selectors import QUERY_MAX_LENGTH
from accounts.services.quiet_codes import ALL_CONTACTS
from accounts.services.recovery import RecoveryDetails
from portal.fields import PlainTextField
from safecode.addresses import email_domain, is_affiliate_domain
from safecode.forms import EmailAddressField
from safecode.models import Channel

# The oldest date of birth a person can type: older is a typing mistake, not a person.
OLDEST_AGE_YEARS = 120
DATE_OF_BIRTH_RANGE = (
    f"Check the date of birth: it cannot be in the future or more than {OLDEST_AGE_YEARS} "
    "years ago."
)


def captcha_answered(data) -> bool:
    """Whether a post carries an answer to a CAPTCHA (its key and a typed answer)."""
    return bool(data.get("captcha_0")) and "captcha_1" in data


class LoginForm(forms.Form):
    username = forms.CharField(
        label="Username or Harvard ID",
        max_length=150,
        help_text="Harvard PIN users may enter their 8-digit Harvard ID.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label="Password",
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, captcha: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if captcha:
            self.fields["captcha"] = PortalCaptchaField()

    @property
    def has_captcha(self) -> bool:
        return "captcha" in self.fields


class HarvardIdField(forms.CharField):
    default_error_messages = {"invalid": "A Harvard ID is the 8 digits on your ID badge."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return ""
        huid = digits(value)
        if len(huid) != 8:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return huid


def oldest_date_of_birth(today: date) -> date:
    """The same day ``OLDEST_AGE_YEARS`` years before ``today`` (28 February for 29 February)."""
    year = today.year - OLDEST_AGE_YEARS
    try:
        return today.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


class DateOfBirthField(forms.DateField):
    """A date of birth as typed: a real date, not in the future, at most 120 years ago.

    Every form that asks for a date of birth uses this field, so a date no one can have been
    born on is refused with a field error before anything is looked up or counted.
    """

    default_error_messages = {"invalid": "Enter the date as YYYY-MM-DD."}

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Date of birth")
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}))
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value is None:
            return
        today = timezone.localdate()
        if not oldest_date_of_birth(today) <= value <= today:
            raise forms.ValidationError(DATE_OF_BIRTH_RANGE, code="out_of_range")


class UnechoedTextInput(forms.TextInput):
    """A text box that shows what is typed but never writes a submitted value back into the
    page (like the SSN's), so a secret such as a guest key is in no re-rendered page, nor in
    the browser's form history: a refusal asks for it again."""

    def format_value(self, value):
        return None


class RegistrationDetailsForm(forms.Form):
    last_name = forms.CharField(label="Last name", max_length=100)
    huid = HarvardIdField(
        label="Harvard ID",
        required=False,
        help_text="The first eight digits of the number on your Harvard ID badge.",
    )
    guest_key = forms.CharField(
        label="Guest key",
        required=False,
        max_length=64,
        help_text="If your sponsor gave you a guest key, enter it instead of a Harvard ID.",
        widget=UnechoedTextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    date_of_birth = DateOfBirthField(
        required=False,
        help_text="For staff of affiliated hospitals without a Harvard ID.",
    )
    ssn = forms.CharField(
        label="Social Security number",
        required=False,
        max_length=20,
        help_text="Or, instead of the date of birth, your 9-digit SSN.",
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )

    def clean_ssn(self):
        raw = self.cleaned_data.get("ssn", "")
        if not raw:
            return ""
        number = digits(raw)
        if len(number) != 9:
            raise forms.ValidationError("An SSN has 9 digits.")
        return number

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("guest_key") and data.get("huid"):
            raise forms.ValidationError("Enter either your Harvard ID or a guest key, not both.")
        if data.get("guest_key") and (data.get("date_of_birth") or data.get("ssn")):
            raise forms.ValidationError(
                "A guest key goes with your last name only: leave the date of birth and SSN empty."
            )
        if not (
            data.get("huid")
            or data.get("guest_key")
            or data.get("date_of_birth")
            or data.get("ssn")
        ):
            raise forms.ValidationError(
                "Enter your Harvard ID, or a guest key, or (for affiliated-hospital staff) your "
                "date of birth or SSN."
            )
        return data


class NewPasswordMixin(forms.Form):
    """Two password fields checked against the project's policy for a given (unsaved) user."""

    password1 = forms.CharField(
        label="New password",
        strip=False,
        max_length=4096,
        help_text="At least 12 characters. Long phrases are good; any characters are fine.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="New password again",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def policy_user(self):
        raise NotImplementedError

    def clean(self):
        from django.contrib.auth.password_validation import validate_password

        from accounts.normalize import password_text

        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords are not the same.")
        elif p1 and not self.errors:
            try:
                validate_password(password_text(p1), user=self.policy_user())
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class UsernameField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Username")
        kwargs.setdefault("max_length", 60)
        kwargs.setdefault(
            "help_text",
            "3 to 30 characters: lowercase letters, digits, dots, underscores or hyphens.",
        )
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"})
        )
        super().__init__(**kwargs)

    def clean(self, value):
        from accounts.models import User, username_validator
        from accounts.normalize import username_key

        value = username_key(super().clean(value))
        username_validator(value)
        if User.objects.filter(username=value).exists():
            raise forms.ValidationError("That username is taken. Choose another.")
        return value


class RegistrationAccountForm(NewPasswordMixin):
    field_order = ["username", "password1", "password2"]
    username = UsernameField()

    def __init__(self, *args, person=None, first_name="", last_name="", **kwargs):
        """``person``: the directory record the account is for; a guest has none, and the
        names the sponsor gave are the context words the password may not contain."""
        self.person = person
        self.names = (first_name, last_name)
        super().__init__(*args, **kwargs)

    def policy_user(self):
        from accounts.models import User

        first_name, last_name = self.names
        return User(
            username=self.cleaned_data.get("username", ""),
            person=self.person,
            first_name=self.person.first_name if self.person else first_name,
            last_name=self.person.last_name if self.person else last_name,
        )


class CaptchaForm(forms.Form):
    """The security check that opens the expired-password journey."""

    captcha = PortalCaptchaField()


class ChangeStartForm(CaptchaForm):
    """The first page of a change: the current password first, then the CAPTCHA, so that a
    person who does not know it learns so before a picture and a text message."""

    field_order = ["current_password", "captcha"]
    current_password = forms.CharField(
        label="Current password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class NewPasswordForm(NewPasswordMixin):
    """The new password of a change, an expiry or a reset, checked against ``user``'s own
    details and history."""

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def policy_user(self):
        return self.user


class UnlockStartForm(forms.Form):
    username = forms.CharField(
        label="Username or Harvard ID",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    captcha = PortalCaptchaField()

    def subject(self) -> dict:
        """What the journey keeps of this page: who to look up once a code is asked for."""
        return {"login": self.cleaned_data["username"]}


class ForgotPasswordForm(forms.Form):
    login = forms.CharField(
        label="Username, Harvard ID or email address",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    last_name = forms.CharField(
        label="Last name",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    huid = HarvardIdField(
        label="Harvard ID",
        required=False,
        help_text="The first eight digits of the number on your Harvard ID badge.",
    )
    date_of_birth = DateOfBirthField(
        required=False, help_text="Instead of the Harvard ID, if you do not have one."
    )
    captcha = PortalCaptchaField()

    def clean(self):
        data = super().clean()
        complete = "huid" in data and "date_of_birth" in data
        if complete and not data["huid"] and not data["date_of_birth"]:
            self.add_error("huid", "Enter your Harvard ID, or your date of birth.")
        return data

    def subject(self) -> dict:
        """What the journey keeps of this page: the details to match once a code is asked
        for."""
        data = self.cleaned_data
        return RecoveryDetails(
            login=data["login"],
            last_name=data["last_name"],
            huid=data["huid"],
            date_of_birth=data["date_of_birth"],
        ).as_session()


class ChannelKindForm(forms.Form):
    """Where an unlock or reset code goes, named generically: no number or address is shown
    before the code is proven. Every SafeCode contact by default, so that a person who does
    not remember which one the account holds gets the code at the first try rather than after
    a minute's wait."""

    kind = forms.ChoiceField(
        label="Where should we send the code?",
        choices=[
            (ALL_CONTACTS, "All my SafeCode contacts"),
            (Channel.Kind.PHONE, "Text message to my SafeCode mobile phone"),
            (Channel.Kind.EMAIL, "Email to my SafeCode email address"),
        ],
        initial=ALL_CONTACTS,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose where the code goes.",
            "invalid_choice": "Choose where the code goes.",
        },
    )


class ConfirmPasswordForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, captcha: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if captcha:
            self.fields["captcha"] = PortalCaptchaField()


WHITEPAGES_TOO_LONG = f"Enter at most {QUERY_MAX_LENGTH} characters."


class WhitepagesSearchForm(forms.Form):
    """The search box and the optional department filter (GET, so results can be linked)."""

    q = forms.CharField(
        label="Name or department",
        required=False,
        max_length=QUERY_MAX_LENGTH,
        help_text='The start of a name ("smi", "Ana Sm", "Smith, A") or of a department.',
        error_messages={"max_length": WHITEPAGES_TOO_LONG},
    )
    department = forms.CharField(
        label="Department",
        required=False,
        max_length=QUERY_MAX_LENGTH,
        help_text="Only people whose department starts with this.",
        error_messages={"max_length": WHITEPAGES_TOO_LONG},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})
        self.fields["q"].widget.input_type = "search"


class AffiliateEmailForm(forms.Form):
    email = EmailAddressField(label="Your work email at an affiliated institution")

    def clean_email(self):
        from django.conf import settings

        email = self.cleaned_data["email"]
        if not is_affiliate_domain(email_domain(email)):
            allowed = [d.lower() for d in settings.AFFILIATE_EMAIL_DOMAINS]
            raise forms.ValidationError(
                "Use your email address at an affiliated institution ("
                + ", ".join(allowed)
                + "). For other cases, call the IT Service Desk."
            )
        return email


class AffiliateCompleteForm(NewPasswordMixin):
    field_order = ["first_name", "last_name", "username", "password1", "password2"]
    first_name = forms.CharField(label="First name", max_length=100)
    last_name = forms.CharField(label="Last name", max_length=100)
    username = UsernameField()

    def policy_user(self):
        from accounts.models import User

        return User(
            username=self.cleaned_data.get("username", ""),
            first_name=self.cleaned_data.get("first_name", ""),
            last_name=self.cleaned_data.get("last_name", ""),
        )


class AddressForm(forms.Form):
    street = PlainTextField(label="Street", max_length=200, required=False)
    city = PlainTextField(label="City", max_length=100, required=False)
    state = PlainTextField(label="State or region", max_length=100, required=False)
    postal_code = PlainTextField(label="Postal code", max_length=20, required=False)
    country = PlainTextField(label="Country", max_length=100, required=False)


class DirectoryChangeForm(forms.Form):
    field = forms.ChoiceField(
        label="What should HR change?",
        choices=[
            ("office_address", "Office address"),
            ("office_phone", "Office phone"),
            ("department", "Department"),
        ],
    )
    value = PlainTextField(label="New value", max_length=300)


class EmailChangeForm(forms.Form):
    email = EmailAddressField(
        label="New contact email",
        help_text="We send a link to this address; the change takes effect when you open it.",
    )
