"""Signatures made by the portal's authenticator app with WebCrypto.

The app signs with ECDSA P-256 / SHA-256 (``crypto.subtle.sign``), which gives the raw 64-byte
``r || s`` form (IEEE P1363); the ``cryptography`` library verifies the DER form of RFC 3279,
so the two halves are re-encoded before the check. The public key arrives as a DER
SubjectPublicKeyInfo (``exportKey("spki")``), base64url. Nothing here raises on bad input: a
key that is not a P-256 public key, or a signature of the wrong shape, simply does not verify.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

P256_RAW_SIGNATURE_BYTES = 64
# A P-256 SubjectPublicKeyInfo is 91 bytes; anything far larger is not one.
MAX_KEY_CHARS = 200
MAX_SIGNATURE_CHARS = 100


def b64url_decode(text: str) -> bytes | None:
    """Bytes of unpadded base64url ``text``, or None when it is not that."""
    if not isinstance(text, str) or not text.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def app_public_key(text: str) -> ec.EllipticCurvePublicKey | None:
    """The P-256 public key in ``text`` (SPKI, DER, base64url), or None."""
    if not isinstance(text, str) or len(text) > MAX_KEY_CHARS:
        return None
    der = b64url_decode(text)
    if not der:
        return None
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return key


def raw_signature_to_der(raw: bytes) -> bytes | None:
    """WebCrypto's ``r || s`` as the DER ``SEQUENCE { r, s }`` that ``cryptography`` checks."""
    if len(raw) != P256_RAW_SIGNATURE_BYTES:
        return None
    half = P256_RAW_SIGNATURE_BYTES // 2
    r = int.from_bytes(raw[:half], "big")
    s = int.from_bytes(raw[half:], "big")
    if not r or not s:
        return None
    return encode_dss_signature(r, s)


def app_signature_valid(*, public_key: str, message: str, signature: str) -> bool:
    """Whether ``signature`` (raw r||s, base64url) is the app's signature of ``message``."""
    key = app_public_key(public_key)
    if key is None or not isinstance(signature, str) or len(signature) > MAX_SIGNATURE_CHARS:
        return False
    raw = b64url_decode(signature)
    der = raw_signature_to_der(raw) if raw is not None else None
    if der is None:
        return False
    try:
        key.verify(der, message.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def message_lines(*parts: object) -> str:
    """The signed message: its parts, one a line (none of them may hold a newline)."""
    return "\n".join(str(part) for part in parts)
