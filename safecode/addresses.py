"""Phone numbers and email addresses as SafeCode channels: normalise, check, mask.

Every check that decides whether an address may be registered lives here, so the forms and
the services agree. Errors are ``ValidationError`` with messages meant for the person.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
import pycountry
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from safecode.app_settings import app_settings

PHONE_INVALID = "Enter a valid mobile phone number, such as 617-555-0123."
PHONE_LANDLINE = (
    "That is a landline number. SafeCode needs a mobile phone that can receive text messages."
)
PHONE_NOT_SMS = (
    "That number cannot receive text messages (toll-free, premium-rate, pager or shared-cost "
    "numbers are refused). Enter a mobile phone number."
)
PHONE_EXTENSION = "Text messages cannot reach an extension. Enter a mobile phone number."
EMAIL_INVALID = "Enter a valid email address, such as jane.doe@gmail.com."

# Types that can receive a text message. US numbers are mostly FIXED_LINE_OR_MOBILE: the
# numbering plan does not tell them apart, so they are accepted.
_SMS_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.VOIP,
}
_MAX_PHONE_INPUT = 40
# The dot-atom form of RFC 5322: no quoted local parts, which mail systems treat inconsistently.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOTS = re.compile("[\u3002\uff0e\uff61]")
_email_validator = EmailValidator(message=EMAIL_INVALID, allowlist=())


@dataclass(frozen=True)
class Phone:
    e164: str
    region: str


def normalize_phone(raw: str, *, region: str | None = None) -> Phone:
    """A typed phone number as E.164, refused unless it can receive text messages.

    Numbers without a country code are read in ``region`` (``SAFECODE_PHONE_REGION``, US).
    """
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text or len(text) > _MAX_PHONE_INPUT or not text.isprintable():
        raise ValidationError(PHONE_INVALID, code="invalid")
    try:
        number = phonenumbers.parse(text, region or app_settings.PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(PHONE_INVALID, code="invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(PHONE_INVALID, code="invalid")
    if number.extension:
        raise ValidationError(PHONE_EXTENSION, code="extension")
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise ValidationError(PHONE_LANDLINE, code="landline")
    if kind not in _SMS_TYPES:
        raise ValidationError(PHONE_NOT_SMS, code="not_sms")
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(number) or "",
    )


def country_name(region: str) -> str:
    """``GB`` -> ``United Kingdom``; a code ISO 3166 does not know is shown as is.

    From pycountry's ISO 3166 table (its common name where it has one: "South Korea"), not
    phonenumbers' geocoder, which loads the place names of every prefix in every language, about
    100 MB in each process, to name a handful of countries.
    """
    country = pycountry.countries.get(alpha_2=region.upper())
    if country is None:
        return region
    return getattr(country, "common_name", None) or country.name


def phone_countries_text() -> str:
    """The countries whose numbers may be registered, as a person reads them."""
    return ", ".join(country_name(region) for region in app_settings.PHONE_COUNTRIES)


def phone_country_error() -> str:
    return (
        "SafeCode texts only mobile numbers in these countries: "
        f"{phone_countries_text()}. For a number elsewhere, call the IT Service Desk at "
        f"{settings.SERVICE_DESK_PHONE}, or use a personal email address instead."
    )


def check_phone_country(phone: Phone) -> None:
    """Refuse a number outside the countries SafeCode texts (``SAFECODE_PHONE_COUNTRIES``).

    The region is the number's own, not its calling code: +1 also serves Jamaica, the Bahamas
    and the other countries of the North American Numbering Plan, and a text there costs what
    any international text does (SMS pumping targets exactly such numbers).
    """
    if phone.region not in app_settings.PHONE_COUNTRIES:
        raise ValidationError(phone_country_error(), code="country")


def ascii_domain(domain: str) -> str:
    """A domain as compared and stored: IDNA (punycode), lowercase, no trailing dot.

    Full-width letters and ideographic dots fold to their ASCII forms, so ``ＨＭＳ。harvard。edu``
    and ``HMS.Harvard.EDU.`` are both ``hms.harvard.edu``. Raises ``ValueError`` when the
    domain cannot be encoded.
    """
    text = _DOTS.sub(".", unicodedata.normalize("NFKC", domain or "")).strip().rstrip(".")
    if not text:
        raise ValueError("empty domain")
    try:
        encoded = text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError("domain cannot be encoded") from exc
    return encoded.lower()


def _domain_in(domain: str, domains: list[str]) -> bool:
    for entry in domains:
        try:
            listed = ascii_domain(entry)
        except ValueError:
            continue
        if domain == listed or domain.endswith("." + listed):
            return True
    return False


def is_institution_domain(domain: str) -> bool:
    """Whether ``domain`` (already ASCII) is one of the institution's, or a subdomain of one."""
    return _domain_in(domain, settings.INSTITUTION_EMAIL_DOMAINS)


def is_affiliate_domain(domain: str) -> bool:
    return _domain_in(domain, settings.AFFILIATE_EMAIL_DOMAINS)


def normalize_email(raw: str) -> str:
    """A typed email address with its domain in ASCII, lowercase, without a trailing dot.

    The local part is kept as typed (``Jane.Doe+safecode``): mail systems may treat case and
    plus-addressing as significant, and the person should receive mail where they said.
    """
    text = unicodedata.normalize("NFC", raw or "").strip()
    if not text or len(text) > 254 or not text.isprintable() or any(c.isspace() for c in text):
        raise ValidationError(EMAIL_INVALID, code="invalid")
    local, sep, domain = text.rpartition("@")
    if not sep or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise ValidationError(EMAIL_INVALID, code="invalid")
    if domain.startswith("["):  # address literals: no mailbox a person reads
        raise ValidationError(EMAIL_INVALID, code="invalid")
    try:
        domain = ascii_domain(domain)
    except ValueError:
        raise ValidationError(EMAIL_INVALID, code="invalid") from None
    address = f"{local}@{domain}"
    if len(address) > 254:
        raise ValidationError(EMAIL_INVALID, code="invalid")
    _email_validator(address)
    return address


def personal_email_error() -> str:
    domains = ", ".join(settings.INSTITUTION_EMAIL_DOMAINS)
    return (
        f"SafeCode needs an address outside {settings.INSTITUTION_SHORT_NAME}: an address at "
        f"{domains} (or any of their subdomains) stops working when your account does, which "
        "is when you would need SafeCode. Use a personal address or one at an affiliated "
        "hospital."
    )


def email_domain(address: str) -> str:
    return address.rpartition("@")[2]


def display_domain(domain: str) -> str:
    """An ASCII domain as a person would read it (IDN labels decoded)."""
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


def mask_phone(e164: str) -> str:
    """``***-***-1234``: enough to recognise one's own number, not to learn it."""
    digits = "".join(ch for ch in e164 if ch.isdigit())
    return f"***-***-{digits[-4:]}"


def mask_email(address: str) -> str:
    """``j***@gmail.com``: the first character of the mailbox and the domain."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{display_domain(domain)}"
