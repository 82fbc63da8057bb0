"""Normalisation of what people type: usernames and names."""

from __future__ import annotations

import re
import unicodedata

from django.utils.crypto import salted_hmac

_DASHES = dict.fromkeys(
    map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-"
)
_SPACES = re.compile(r"\s+")


def username_key(raw: str) -> str:
    """One key per username, whatever the case, width or surrounding spaces."""
    return unicodedata.normalize("NFKC", raw or "").strip().casefold()


def sign_in_name(login: str) -> str:
    """What a typed sign-in name stands for, as the account lookup reads it
    (``accounts.selectors.find_user_by_login``): a Harvard ID, however it is spaced or
    hyphenated, as its 8 digits; anything else as its username key. Every way of typing one
    name gives one value, so the rules counted per name cannot be dodged by retyping it."""
    huid = digits(login or "")
    return huid if len(huid) == 8 else username_key(login or "")


def login_key(login: str) -> str:
    """A keyed hash of a typed sign-in name (``sign_in_name``), so that failures per name (and
    browsers known for a name) are counted without storing the name."""
    return salted_hmac("portal.signin.login", sign_in_name(login), algorithm="sha256").hexdigest()


def name_key(raw: str) -> str:
    """A name as matched against the directory: no case, accents, extra spaces or dash variants."""
    text = unicodedata.normalize("NFKC", raw or "").translate(_DASHES)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = _SPACES.sub(" ", text).strip().casefold()
    return re.sub(r"\s*-\s*", "-", text)


def digits(raw: str) -> str:
    """ASCII digits of what was typed (full-width digits included), spaces and dashes dropped."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = re.sub(r"[\s\-]", "", text)
    return text if text.isascii() and text.isdigit() else ""


def password_text(raw: str) -> str:
    """A password as hashed and checked: NFKC-normalised, never truncated (NIST 800-63B)."""
    return unicodedata.normalize("NFKC", raw or "")
