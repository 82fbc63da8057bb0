"""The portal's authenticator app as a test drives it: a P-256 key pair made with
``cryptography``, signatures in WebCrypto's raw ``r || s`` form, and the app's JSON calls.

It signs exactly the messages the app's JavaScript signs (``static/mobile/app.js``), so a test
that passes here passes for the same reason the phone's calls do.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.urls import reverse


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_sign(key: ec.EllipticCurvePrivateKey, message: str) -> str:
    """Sign as WebCrypto does: ECDSA P-256 / SHA-256, the raw 64-byte r || s, base64url."""
    der = key.sign(message.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def spki(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64url(der)


@dataclass
class SoftApp:
    client: object
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    app_id: int | None = None
    totp_secret: str = ""

    def post(self, name: str, body: dict):
        response = self.client.post(
            reverse(f"mobile:{name}"), data=json.dumps(body), content_type="application/json"
        )
        return response

    def activate(self, token: str, *, platform: str = "Chrome on Android"):
        body = {
            "token": token,
            "public_key": spki(self.key),
            "platform": platform,
            "signature": raw_sign(self.key, f"portal-authenticator-activate\n{token}"),
        }
        response = self.post("api_activate", body)
        if response.status_code == 200:
            data = response.json()
            self.app_id = data["app_id"]
            self.totp_secret = data["totp"]["secret"]
        return response

    def passcode(self, *, at: float | None = None) -> str:
        """The 6-digit passcode the app shows (RFC 6238, from the secret it was given)."""
        from django_otp.oath import TOTP

        key = base64.b32decode(self.totp_secret + "=" * (-len(self.totp_secret) % 8))
        totp = TOTP(key, step=30, digits=6)
        totp.time = time.time() if at is None else at
        return f"{totp.token():06d}"

    def poll(self, *, ts: int | None = None):
        ts = int(time.time()) if ts is None else ts
        message = f"portal-authenticator-poll\n{self.app_id}\n{ts}"
        return self.post(
            "api_requests",
            {"app_id": self.app_id, "ts": ts, "signature": raw_sign(self.key, message)},
        )

    def decision_body(self, request_id, decision: str, number: str = "", nonce: str = ""):
        nonce = nonce or b64url(secrets.token_bytes(16))
        message = f"portal-authenticator-decision\n{request_id}\n{number}\n{decision}\n{nonce}"
        return {
            "app_id": self.app_id,
            "request_id": str(request_id),
            "number": number,
            "decision": decision,
            "nonce": nonce,
            "signature": raw_sign(self.key, message),
        }

    def decide(self, request_id, decision: str, number: str = ""):
        return self.post("api_decide", self.decision_body(request_id, decision, number))


def activated_device(user, *, name: str = "My iPhone", client=None):
    """A device of ``user`` activated in the authenticator app and confirmed with the app's
    first passcode, five minutes ago (so that no passcode a test types now is a replay);
    returns (device, app)."""
    from datetime import timedelta
    from http import HTTPStatus

    import time_machine
    from django.test import Client
    from django.utils import timezone

    from twofactor.models import Device
    from twofactor.push import app_activation_link
    from twofactor.services import device_confirm, device_start

    device = device_start(
        user=user, kind=Device.Kind.MOBILE, name=name, phone_type="iphone", app=True
    )
    app = SoftApp(client or Client())
    response = app.activate(app_activation_link(device=device))
    assert response.status_code == HTTPStatus.OK, response.content
    earlier = timezone.now() - timedelta(minutes=5)
    with time_machine.travel(earlier, tick=False):
        assert device_confirm(device=device, method="passcode", code=app.passcode())
    return Device.objects.select_related("app", "totp").get(pk=device.pk), app
