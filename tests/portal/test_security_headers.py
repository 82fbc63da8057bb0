"""Every response carries the browser-side defences, and no page needs inline code to work."""

from __future__ import annotations

from html.parser import HTMLParser
from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.portal.test_pages import registered_user

pytestmark = pytest.mark.django_db


def signed_out_pages():
    return [
        ("/", HTTPStatus.OK),
        (reverse("accounts:login"), HTTPStatus.OK),
        ("/no/such/page/", HTTPStatus.NOT_FOUND),
    ]


class InlineCodeFinder(HTMLParser):
    """Collects what a CSP of script-src 'self'; style-src 'self' would block."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        if "style" in names:
            self.found.append(f"style= attribute on <{tag}>")
        self.found.extend(f"{name}= handler on <{tag}>" for name in names if name.startswith("on"))


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.found


@pytest.mark.parametrize(("path", "status"), signed_out_pages())
def test_headers_defend_every_page(client, path, status):
    response = client.get(path)

    assert response.status_code == status
    csp = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(("path", "status"), signed_out_pages())
def test_pages_have_no_inline_script_or_style(client, path, status):
    response = client.get(path)

    assert response.status_code == status
    assert inline_code(response.content.decode()) == []


def test_hub_has_no_inline_script_or_style(client):
    client.force_login(registered_user())

    response = client.get("/")

    assert response.status_code == HTTPStatus.OK
    assert inline_code(response.content.decode()) == []


def test_error_pages_have_no_inline_script_or_style():
    from django.template import loader

    assert inline_code(loader.get_template("500.html").render()) == []


def test_finder_catches_inline_code():
    html = '<div style="color:red"><script>alert(1)</script><a onclick="x()">a</a></div>'

    assert inline_code(html) == [
        "style= attribute on <div>",
        "<script> without src",
        "onclick= handler on <a>",
    ]


@pytest.mark.django_db
def test_the_signed_in_home_page_is_not_cached(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(safecode_skips=1))
    client.post("/safecode/prompt/")
    response = client.get("/")
    assert "no-store" in response.headers.get("Cache-Control", "")
