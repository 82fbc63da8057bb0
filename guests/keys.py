"""Guest keys: generated, shown, typed back and stored.

A key is 20 symbols drawn with ``secrets`` from an alphabet of 30 that has no look-alikes (no
0, O, 1, I, L; no U, which reads aloud like "you"), so about 98 bits, shown in five groups of
four that are easy to read out over the phone: ``K7QM-3XTP-9WHC-A4ND-RF2E``. What a guest types
is folded to that form: any case, spaces or hyphens anywhere, full-width characters.

The key itself is never stored: the database holds an HMAC-SHA256 under ``SECRET_KEY`` with a
purpose of its own, so a dump of the table yields nothing that can be redeemed, and a key is
found by its digest.
"""

from __future__ import annotations

import math
import secrets
import unicodedata

from django.utils.crypto import salted_hmac

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 20
GROUP = 4
ENTROPY_BITS = LENGTH * math.log2(len(ALPHABET))

_SEPARATORS = " \t\r\n-\u00a0\u2010\u2011\u2012\u2013\u2014"


def generate_key() -> str:
    """A new key, in its shown form (groups joined by hyphens)."""
    return format_key("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))


def format_key(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP] for i in range(0, len(symbols), GROUP))


def normalize_key(typed: str) -> str | None:
    """The key's symbols as typed, or None when it cannot be a key (then nothing is looked up)."""
    text = unicodedata.normalize("NFKC", typed or "").upper()
    text = "".join(ch for ch in text if ch not in _SEPARATORS)
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def hash_key(symbols: str) -> str:
    """The stored form of a key (its normalised symbols)."""
    return salted_hmac("portal.guests.key", symbols, algorithm="sha256").hexdigest()
