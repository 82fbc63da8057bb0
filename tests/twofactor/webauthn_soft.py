"""A security key in software, for tests: real WebAuthn answers without a browser.

``SoftKey`` holds a P-256 key pair (ECDSA with SHA-256, COSE alg -7) and a signature counter.
``register(options)`` answers ``navigator.credentials.create()`` with "none" attestation: an
attestation object (CBOR) whose authenticator data carries the rpIdHash, the flags, the
counter and the attested credential data (AAGUID, credential id, COSE public key), and a
clientDataJSON of type ``webauthn.create``. ``assert_(options)`` answers
``navigator.credentials.get()``: authenticator data without credential data, a clientDataJSON
of type ``webauthn.get``, and a signature over ``authData || sha256(clientDataJSON)``.

Both return the JSON a browser's ``credential.toJSON()`` gives, which py_webauthn's
``parse_registration_credential_json`` / ``parse_authentication_credential_json`` read. Every
part can be bent (origin, RP id, challenge, counter) to play an attacker or a cloned key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from base64 import urlsafe_b64encode

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SoftKey:
    """One credential on one authenticator."""

    def __init__(
        self,
        *,
        origin: str,
        rp_id: str,
        resident: bool = False,
        user_verified: bool = True,
        counter: bool = True,
    ) -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.resident = resident
        self.user_verified = user_verified
        self.counts = counter
        self.sign_count = 0
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.aaguid = bytes(16)
        self.user_handle: str | None = None

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.user_verified else 0) | extra

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()

    def _next_count(self, sign_count: int | None) -> int:
        if sign_count is not None:
            return sign_count
        if self.counts:
            self.sign_count += 1
        return self.sign_count

    def register(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
    ) -> str:
        """The answer to the registration ``options`` (the JSON the portal gave)."""
        self.user_handle = options["user"]["id"]
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        credential_data = (
            self.aaguid
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self.cose_public_key()
        )
        auth_data = (
            rp_hash
            + bytes([self._flags(AT)])
            + self.sign_count.to_bytes(4, "big")
            + credential_data
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        return json.dumps(
            {
                "id": self.id,
                "rawId": self.id,
                "type": "public-key",
                "authenticatorAttachment": "cross-platform",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation),
                    "transports": ["usb"],
                },
                "clientExtensionResults": {"credProps": {"rk": self.resident}},
            }
        )

    def assert_(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        sign_count: int | None = None,
    ) -> str:
        """The answer to the authentication ``options``; ``sign_count`` sets the counter
        reported instead of the next one (a cloned key reports one already seen)."""
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        count = self._next_count(sign_count)
        auth_data = rp_hash + bytes([self._flags()]) + count.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": self.id,
                "rawId": self.id,
                "type": "public-key",
                "authenticatorAttachment": "cross-platform",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": self.user_handle if self.resident else None,
                },
                "clientExtensionResults": {},
            }
        )

    def clone(self) -> SoftKey:
        """A copy of this key made at this moment: the same credential and counter, counting
        on its own from here."""
        twin = SoftKey(
            origin=self.origin,
            rp_id=self.rp_id,
            resident=self.resident,
            user_verified=self.user_verified,
            counter=self.counts,
        )
        twin.private_key, twin.credential_id = self.private_key, self.credential_id
        twin.sign_count, twin.user_handle = self.sign_count, self.user_handle
        return twin
