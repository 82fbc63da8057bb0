"""The QR code and the typed key that set up an authenticator app.

Both are drawn on the server from the device's ``otpauth://`` URI (django-otp's
``TOTPDevice.config_url``: issuer ``OTP_TOTP_ISSUER``, account the username), so the key
never reaches a third-party QR service or a script in the page.
"""

from __future__ import annotations

from base64 import b32encode

import qrcode
import qrcode.constants
import qrcode.image.svg
from django_otp.plugins.otp_totp.models import TOTPDevice


def qr_svg(data: str) -> str:
    """``data`` as a QR code in SVG: dark squares on a white ground, with the four-module
    quiet zone scanners need, sized in modules (``viewBox``) so it scales without blur."""
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathFillImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=4,
    )
    return image.to_string(encoding="unicode")


def totp_key_text(device: TOTPDevice) -> str:
    """The key as an app asks for it when typed by hand: base32, in groups of four."""
    key = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))
