"""The authenticator web app's own files: the page, the manifest that makes it installable,
its icons, and the service worker served with the app's scope."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from PIL import Image

pytestmark = pytest.mark.django_db


def test_the_app_page_is_public_strict_and_links_its_manifest(client):
    response = client.get(reverse("mobile:app"))
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert '<link rel="manifest" href="/m/manifest.webmanifest">' in page
    assert 'name="viewport"' in page
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "<script>" not in page  # no inline script: the policy would block it
    # A phone's browser gets no session from opening the app.
    assert "sessionid" not in response.cookies


def test_the_activation_page_is_the_same_page(client):
    app = client.get(reverse("mobile:app")).content
    activate = client.get(reverse("mobile:activate")).content
    strip = lambda html: html.replace(b"csrfmiddlewaretoken", b"")  # noqa: E731
    assert strip(app) == strip(activate)


def test_the_manifest_makes_the_app_installable(client):
    response = client.get(reverse("mobile:manifest"))
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["start_url"] == "/m/" and manifest["scope"] == "/m/"
    assert manifest["display"] == "standalone"
    assert manifest["name"] and manifest["short_name"]
    sizes = {}
    for icon in manifest["icons"]:
        path = finders.find(icon["src"].removeprefix("/static/"))
        assert path, icon["src"]
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert f"{image.width}x{image.height}" == icon["sizes"]
        sizes.setdefault(icon.get("purpose", "any"), set()).add(icon["sizes"])
    # What browsers ask of an installable app: 192 and 512 pixels, and a maskable icon.
    assert {"192x192", "512x512"} <= sizes["any"]
    assert "512x512" in sizes["maskable"]


def test_the_service_worker_is_served_with_the_apps_scope(client):
    response = client.get(reverse("mobile:service_worker"))
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/m/"
    assert "no-cache" in response["Cache-Control"]
    body = response.content.decode()
    assert 'addEventListener("push"' in body
    assert 'addEventListener("notificationclick"' in body


@pytest.mark.parametrize("name", ["app", "activate", "manifest", "service_worker"])
def test_the_app_files_answer_only_get(name):
    client = Client()
    assert client.post(reverse(f"mobile:{name}")).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_the_app_is_reachable_while_a_signed_in_requirement_waits(client, settings):
    """A person who still has to register a SafeCode contact can open the app on the phone
    they are signed in on: the app holds nothing of the account."""
    from tests.factories import UserFactory

    client.force_login(UserFactory())  # no SafeCode contact yet
    assert client.get(reverse("home")).status_code == HTTPStatus.FOUND
    assert client.get(reverse("mobile:app")).status_code == HTTPStatus.OK
