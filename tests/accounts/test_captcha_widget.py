"""The CAPTCHA widget as the page serves it: a control for a new picture with its no-script
fallback, the answer box right after the picture's controls and the service desk's phone after
the box, and the refresh address open to people who are not signed in."""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from pathlib import Path

import pytest
from captcha.models import CaptchaStore
from django.urls import reverse

pytestmark = pytest.mark.django_db

UNLOCK = reverse("accounts:unlock")
REFRESH = reverse("captcha-refresh")
DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def widget(client) -> str:
    body = client.get(UNLOCK).content.decode()
    match = re.search(r'<div class="captcha-widget".*?\n</div>', body, re.DOTALL)
    assert match, "no CAPTCHA widget on the page"
    return match.group(0)


def position(html: str, pattern: str) -> int:
    match = re.search(pattern, html)
    assert match, pattern
    return match.start()


def test_the_widget_offers_a_new_picture_with_and_without_the_script(client):
    html = widget(client)

    # The script's button, shown by the script, asks the refresh address for a new picture.
    assert re.search(
        rf'<button type="button"[^>]*data-captcha-refresh="{REFRESH}" hidden>'
        r"Show a new picture</button>",
        html,
    )
    # Without the script, a link that loads the page again, with a new picture.
    assert re.search(r'<a [^>]*href=""[^>]*>Show a new picture</a>', html)
    # Somewhere for the script to say that the picture changed.
    assert re.search(r'<p class="visually-hidden" role="status"[^>]*></p>', html)


def test_the_answer_box_comes_right_after_the_picture_and_the_desk_phone_after_it(client, settings):
    settings.CAPTCHA_FLITE_PATH = "/usr/bin/flite"
    html = widget(client)

    picture = position(html, r'<img [^>]*class="captcha"')
    new_picture = position(html, r">Show a new picture</button>")
    listen = position(html, r">Listen to the characters instead</a>")
    box = position(html, r'<input type="text" name="captcha_1"')
    desk = position(html, r'href="tel:')

    assert picture < new_picture < box
    assert picture < listen < box
    assert box < desk


def test_without_audio_the_desk_phone_still_follows_the_box(client, settings):
    settings.CAPTCHA_FLITE_PATH = None
    html = widget(client)

    assert "Listen to the characters" not in html
    assert position(html, r'name="captcha_1"') < position(html, r'href="tel:')
    assert "Cannot read the picture?" in html


def test_the_refresh_address_gives_anyone_a_new_picture(client):
    old_key = re.search(r'name="captcha_0" value="([0-9a-f]+)"', widget(client)).group(1)

    response = client.get(REFRESH, headers={"x-requested-with": "XMLHttpRequest"})

    assert response.status_code == HTTPStatus.OK
    picture = json.loads(response.content)
    assert picture["key"] != old_key
    assert picture["image_url"] == reverse("captcha-image", kwargs={"key": picture["key"]})
    assert CaptchaStore.objects.filter(hashkey=picture["key"]).exists()
    image = client.get(picture["image_url"])
    assert image.status_code == HTTPStatus.OK
    assert image["Content-Type"] == "image/png"


def test_the_production_image_installs_a_speech_synthesiser_for_the_audio():
    """The settings offer the audio alternative where /usr/bin/flite exists; Debian's flite
    package installs it there."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    installs = [
        line
        for line in text.splitlines()
        if line.startswith("RUN") and re.search(r"apt-get install\b.*\bflite\b", line)
    ]

    assert installs
