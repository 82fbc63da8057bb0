"""The QR code of the activate page, read as a phone's camera would read it: the SVG the server
serves is drawn to a bitmap and decoded with zxing-cpp, and the key it carries must give
(pyotp) the passcode that confirms the device.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
import zxingcpp
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageDraw

from tests.factories import DEFAULT_PASSWORD, PHONE, ChannelFactory, UserFactory
from tests.helpers import code_sent_to, prove_it_is_you
from twofactor.models import Device

pytestmark = pytest.mark.django_db(transaction=True)

START = reverse("twofactor:enroll")
TYPE = reverse("twofactor:enroll_type")
INSTALL = reverse("twofactor:enroll_install")
ACTIVATE = reverse("twofactor:enroll_activate")
QR = reverse("twofactor:enroll_qr")
DONE = reverse("twofactor:enroll_done")

# One dark module of qrcode's SVG path image: "M4,4H5V5H4z".
MODULE = re.compile(r"M(\d+),(\d+)H(\d+)V(\d+)H\1z")
PIXELS_PER_MODULE = 8


def rasterise(svg: str) -> Image.Image:
    """Draw the served SVG (a white ground and one path of square modules) to a bitmap.

    Only the shapes this SVG uses are understood; the whole path must be made of them, so a
    change in how the server draws the code fails here instead of decoding something else.
    """
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    path = re.search(r'<path d="([^"]+)"', svg).group(1)
    modules = MODULE.findall(path)
    assert MODULE.sub("", path) == "", "the QR path holds shapes other than square modules"
    image = Image.new("L", (size * PIXELS_PER_MODULE, size * PIXELS_PER_MODULE), 255)
    draw = ImageDraw.Draw(image)
    for x, y, right, bottom in modules:
        draw.rectangle(
            [
                int(x) * PIXELS_PER_MODULE,
                int(y) * PIXELS_PER_MODULE,
                int(right) * PIXELS_PER_MODULE - 1,
                int(bottom) * PIXELS_PER_MODULE - 1,
            ],
            fill=0,
        )
    return image


def scan(svg: str) -> str:
    found = zxingcpp.read_barcodes(rasterise(svg))
    # The reader may find one code twice (as it does for some keys); never two different ones.
    texts = {barcode.text for barcode in found}
    assert len(texts) == 1, "no QR code could be read" if not found else f"codes: {texts}"
    assert {barcode.format for barcode in found} == {zxingcpp.BarcodeFormat.QRCode}
    return texts.pop()


@pytest.fixture
def person():
    account = UserFactory()
    ChannelFactory(user=account)
    return account


@pytest.fixture
def at_activate(client, person, outbox) -> Client:
    """Signed in, proven, and at the activate page of a new tablet."""
    client.force_login(person)
    prove_it_is_you(client, DEFAULT_PASSWORD, read_code=lambda: code_sent_to(outbox, PHONE))
    client.post(START)
    client.post(TYPE, {"kind": "tablet"})
    assert client.post(INSTALL).url == ACTIVATE
    return client


def test_the_served_qr_code_scans_to_a_key_that_confirms_the_device(at_activate, person):
    page = at_activate.get(ACTIVATE)
    assert f'src="{QR}"'.encode() in page.content and b'alt="QR code' in page.content
    response = at_activate.get(QR)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Cache-Control"] == "no-store"

    uri = scan(response.content.decode())
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == f"/Harvard Medical School:{person.username}"
    query = parse_qs(parts.query)
    assert query["issuer"] == ["Harvard Medical School"]
    assert (query["digits"], query["period"], query["algorithm"]) == (["6"], ["30"], ["SHA1"])
    # The key typed by hand is the same key.
    shown = re.search(rb'<code class="secret"[^>]*>([A-Z2-7 ]+)</code>', page.content).group(1)
    assert shown.decode().replace(" ", "") == query["secret"][0]

    code = pyotp.parse_uri(uri).now()
    assert at_activate.post(ACTIVATE, {"code": code}).url == DONE
    device = Device.objects.get(user=person)
    assert device.is_confirmed and device.totp.confirmed


def test_a_code_from_another_key_does_not_confirm_the_device(at_activate, person):
    uri = scan(at_activate.get(QR).content.decode())
    stranger = pyotp.TOTP(pyotp.random_base32())
    assert stranger.secret != pyotp.parse_uri(uri).secret
    page = at_activate.post(ACTIVATE, {"code": stranger.now()})
    assert page.status_code == HTTPStatus.OK
    assert not Device.objects.filter(user=person, confirmed_at__isnull=False).exists()


def test_the_qr_code_is_only_for_the_run_at_the_activate_stage(at_activate, person, outbox):
    # Another session of the same account has no run: no code.
    other = Client()
    other.force_login(person)
    assert other.get(QR).status_code == HTTPStatus.FOUND
    # Once the device is confirmed the run has moved on, and the code is gone.
    uri = scan(at_activate.get(QR).content.decode())
    at_activate.post(ACTIVATE, {"code": pyotp.parse_uri(uri).now()})
    response = at_activate.get(QR)
    assert response.status_code == HTTPStatus.FOUND and response["Content-Type"] != "image/svg+xml"


def test_the_activation_link_page_shows_the_same_code(at_activate, person, outbox):
    served = scan(at_activate.get(QR).content.decode())
    at_activate.post(ACTIVATE, {"action": "email"})
    body = [m.body for m in outbox if m.recipient == person.email][-1]
    path = re.search(r"https?://[^/]+(/twofactor/activate/[A-Za-z0-9_-]+/)", body).group(1)
    page = Client().post(path)
    svg = re.search(r"<svg.*?</svg>", page.content.decode(), re.S).group(0)
    assert scan(svg) == served
