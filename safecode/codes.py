"""The primitives of every one-time code: generate, normalise, hash, compare.

Codes are stored only as keyed hashes (HMAC-SHA256 under SECRET_KEY with a purpose-specific
salt), so a database dump reveals no usable code, and compared in constant time.
"""

from __future__ import annotations

import secrets
import unicodedata

from django.utils.crypto import constant_time_compare, salted_hmac

CODE_LENGTH = 6


def generate_code(length: int = CODE_LENGTH) -> str:
    """A uniformly random code of ``length`` digits, leading zeros kept."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def normalize_code(raw: str, length: int = CODE_LENGTH) -> str | None:
    """What a person typed, as ASCII digits; None when it is not a ``length``-digit code.

    Spaces, dashes and full-width digits are accepted (NFKC folds them), leading zeros kept.
    """
    text = unicodedata.normalize("NFKC", raw or "")
    text = "".join(ch for ch in text if ch not in " \t\r\n-\u00a0")
    if len(text) != length or not (text.isascii() and text.isdigit()):
        return None
    return text


def hash_code(code: str, *, salt: str) -> str:
    return salted_hmac(f"portal.code.{salt}", code, algorithm="sha256").hexdigest()


def code_matches(code: str, digest: str, *, salt: str) -> bool:
    return constant_time_compare(hash_code(code, salt=salt), digest)


def generate_token() -> str:
    """An unguessable URL-safe token for emailed links."""
    return secrets.token_urlsafe(32)
