"""Print a new VAPID key pair for Web Push, in the environment's format.

The public key is the P-256 point the browser subscribes with (``applicationServerKey``), the
private key the scalar the portal signs its pushes with; both base64url without padding, as
``TWOFACTOR_VAPID_PUBLIC_KEY`` and ``TWOFACTOR_VAPID_PRIVATE_KEY`` expect. The pair goes to
standard output only, so it can be appended to an environment file; nothing is stored.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management.base import BaseCommand


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def vapid_key_pair() -> tuple[str, str]:
    """A fresh (public, private) pair: the uncompressed point (65 bytes) and the scalar
    (32 bytes), base64url."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    public = private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    scalar = private_key.private_numbers().private_value.to_bytes(32, "big")
    return b64url(public), b64url(scalar)


class Command(BaseCommand):
    help = (
        "Print a new VAPID key pair for Web Push as TWOFACTOR_VAPID_PUBLIC_KEY and "
        "TWOFACTOR_VAPID_PRIVATE_KEY. Keep the private key secret; replacing a pair in use "
        "ends every phone's subscription until its app subscribes again."
    )

    def handle(self, *args, **options):
        public, private = vapid_key_pair()
        self.stdout.write(f"TWOFACTOR_VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"TWOFACTOR_VAPID_PRIVATE_KEY={private}")
