"""The browser-side defences on every page the resolver knows, signed out and signed in, and
the CSRF check on every route that takes a POST.

- Every GET page (its URL arguments filled with real objects and tokens, and journey pages
  reached part-way through their journey): a Content-Security-Policy whose scripts need no
  'unsafe-inline' nor 'unsafe-eval', X-Frame-Options DENY (or frame-ancestors 'none'), a
  Referrer-Policy and X-Content-Type-Options nosniff.
- With production's settings, read from ``portal.settings.production`` (which takes them from
  ``portal.settings.hardened``) in a process of its own: HSTS on HTTPS, plain HTTP redirected,
  and session and CSRF cookies Secure, HttpOnly (the session's) and named ``__Host-``.
- Every POST route of the catalogue (``tests.security.routes``), posted without a token by a
  browser that enforces CSRF: 403, except the phone app's API, which is exempt on purpose.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from functools import cache
from http import HTTPStatus
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD
from tests.security import routes

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]

# The pages ---------------------------------------------------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_defended(response, where: str) -> None:
    """The headers every answer of the portal carries, whatever its status."""
    csp = response.get("Content-Security-Policy")
    assert csp, f"{where}: no Content-Security-Policy"
    directives = csp_directives(csp)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts, f"{where}: the CSP does not restrict scripts: {csp}"
    assert "'unsafe-inline'" not in scripts, f"{where}: {csp}"
    assert "'unsafe-eval'" not in scripts, f"{where}: {csp}"
    assert "*" not in scripts and "data:" not in scripts, f"{where}: {csp}"
    framing_denied = response.get("X-Frame-Options") == "DENY" or directives.get(
        "frame-ancestors"
    ) == ["'none'"]
    assert framing_denied, f"{where}: the page may be framed"
    assert response.get("Referrer-Policy"), f"{where}: no Referrer-Policy"
    assert response.get("X-Content-Type-Options") == "nosniff", f"{where}: no nosniff"


GET_ROUTES = [route for route in routes.all_routes() if route.accepts_get]
PAGES = [route for route in GET_ROUTES if not routes.is_admin(route.name)]
ADMIN_PAGES = [route for route in GET_ROUTES if routes.is_admin(route.name)]


def page_path(route: routes.Route) -> tuple[str, Client | None]:
    """The path of ``route`` with real arguments, and, for a page of the catalogue, the
    browser that reached it (part-way through its journey)."""
    entry = routes.CATALOGUE.get(route.name)
    if entry is not None:
        reached = entry.reach()
        return reached.path, reached.client
    if route.name == "twofactor:push_status":
        return reverse(route.name, args=[uuid.uuid4()]), None
    assert "<" not in route.route and "(?P" not in route.route, f"fill the arguments of {route}"
    return reverse(route.name), None


@pytest.mark.parametrize("route", PAGES, ids=lambda r: r.name)
def test_every_page_carries_the_headers(route):
    path, reached = page_path(route)
    visitors = {"signed out": Client(), "signed in": routes.signed_in(routes.member())}
    if reached is not None:
        visitors["reached"] = reached
    for who, client in visitors.items():
        response = client.get(path)
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (who, path)
        assert_defended(response, f"{path} ({who}, {response.status_code})")


@pytest.mark.parametrize("route", ADMIN_PAGES, ids=lambda r: r.name)
def test_every_admin_page_carries_the_headers(route):
    path = routes.admin_url(route)
    for who, client in {
        "signed out": Client(),
        "signed in": routes.signed_in(routes.member()),
    }.items():
        response = client.get(path)
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (who, path)
        assert_defended(response, f"{path} ({who}, {response.status_code})")


def test_the_check_refuses_a_page_without_its_defences():
    from django.http import HttpResponse

    bare = HttpResponse("page")
    inline = HttpResponse("page")
    inline["Content-Security-Policy"] = "default-src 'self'; script-src 'self' 'unsafe-inline'"
    for response in (bare, inline):
        with pytest.raises(AssertionError):
            assert_defended(response, "a page")


# Production's settings ---------------------------------------------------------------------------

PRODUCTION_NAMES = [
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_REDIRECT_EXEMPT",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "CSRF_COOKIE_NAME",
    "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
]

PROBE = f"""
import json
from django.conf import settings
print(json.dumps({{name: getattr(settings, name) for name in {PRODUCTION_NAMES!r}}}))
"""


@cache
def production_settings() -> dict:
    """The security settings production runs with, loaded the way a deployment loads them:
    a fresh process whose environment holds only what production needs."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "portal.example.edu",
        "DATABASE_URL": "sqlite:////nonexistent/portal.sqlite3",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "SMS_BACKEND": "twilio",
        "EMAIL_BACKEND": "smtp",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    if values["SECURE_PROXY_SSL_HEADER"] is not None:
        values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


@pytest.fixture
def production():
    values = production_settings()
    with override_settings(**values):
        yield values


def https() -> Client:
    return Client(REMOTE_ADDR="10.30.0.1", **{"wsgi.url_scheme": "https"})


def test_production_reads_its_settings_from_the_hardened_module():
    """The values are production's own, not this suite's (which runs on plain HTTP)."""
    values = production_settings()
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert values["SESSION_COOKIE_NAME"].startswith("__Host-")


@pytest.mark.parametrize("path", ["/", "/login/", "/help/", "/m/", "/no/such/page/"])
def test_production_answers_https_with_hsts(production, path):
    response = https().get(path, secure=True)

    expected = f"max-age={production['SECURE_HSTS_SECONDS']}"
    hsts = response.get("Strict-Transport-Security", "")
    assert hsts.startswith(expected), hsts
    assert "includeSubDomains" in hsts
    assert "preload" in hsts
    assert_defended(response, path)


def test_production_sends_plain_http_to_https(production):
    response = Client().get("/login/")

    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert response["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in response  # HSTS is for HTTPS answers only


def cookie_attributes(response, name: str) -> dict:
    morsel = response.cookies.get(name)
    assert morsel is not None, f"no {name} cookie in {list(response.cookies)}"
    return {
        "secure": bool(morsel["secure"]),
        "httponly": bool(morsel["httponly"]),
        "path": morsel["path"],
        "domain": morsel["domain"],
        "samesite": morsel["samesite"],
    }


def test_production_cookies_are_secure_and_host_only(production):
    user = routes.member()
    client = https()

    page = client.get("/login/", secure=True)
    csrf = cookie_attributes(page, production["CSRF_COOKIE_NAME"])
    signed_in = client.post(
        "/login/", {"username": user.username, "password": DEFAULT_PASSWORD}, secure=True
    )
    assert signed_in.status_code == HTTPStatus.FOUND
    session = cookie_attributes(signed_in, production["SESSION_COOKIE_NAME"])

    assert production["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert production["CSRF_COOKIE_NAME"].startswith("__Host-")
    for cookie in (session, csrf):
        # A __Host- cookie is Secure, for the whole site, and set by the host alone.
        assert cookie["secure"] is True
        assert cookie["path"] == "/"
        assert cookie["domain"] == ""
        assert cookie["samesite"] in ("Lax", "Strict")
    assert session["httponly"] is True
    assert csrf["httponly"] is True


def test_the_cookie_check_sees_an_insecure_cookie():
    """Under the suite's own settings (plain HTTP) the same check reads the cookie as not
    Secure, so it does read the Set-Cookie attributes."""
    response = Client().get("/login/")
    assert cookie_attributes(response, "csrftoken")["secure"] is False


# CSRF on every POST ------------------------------------------------------------------------------

# The phone app's API (twofactor.views.mobile) holds no session and reads no cookie: each call
# is signed with the key the phone made at activation, so a cross-site request has nothing to
# ride on. Those four views, and nothing else, are exempt from the CSRF check.
CSRF_EXEMPT = {
    "mobile:api_activate",
    "mobile:api_requests",
    "mobile:api_decide",
    "mobile:api_subscribe",
}


def test_the_csrf_exempt_routes_are_exactly_the_phone_api():
    assert {r.name for r in routes.all_routes() if r.csrf_exempt} == CSRF_EXEMPT


def enforcing(client: Client) -> Client:
    other = Client(enforce_csrf_checks=True, **client.defaults)
    other.cookies = client.cookies
    return other


CATALOGUED = sorted(routes.CATALOGUE)


@pytest.mark.parametrize("name", CATALOGUED)
def test_every_post_needs_the_csrf_token(name):
    entry = routes.CATALOGUE[name]
    reached = entry.reach()
    client = enforcing(reached.client)
    client.get(reached.path)  # the page sets the CSRF cookie, as a browser would have it
    data = {key: values[0] for key, values in reached.valid.items()}

    response = client.post(reached.path, data)

    if name in CSRF_EXEMPT:
        assert response.status_code != HTTPStatus.FORBIDDEN
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN, response.status_code
        assert b"Your form has expired" in response.content


ADMIN_POSTS = [r for r in routes.post_routes() if routes.is_admin(r.name)]


@pytest.mark.parametrize("route", ADMIN_POSTS, ids=lambda r: r.name)
def test_every_admin_post_needs_the_csrf_token(route):
    client = enforcing(routes.signed_in(routes.member()))

    response = client.post(routes.admin_url(route), {"action": "delete_selected"})

    assert response.status_code == HTTPStatus.FORBIDDEN


def test_a_post_with_the_token_passes_the_check():
    """The same browser with the token gets past the check (the test above can fail)."""
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    token = client.cookies["csrftoken"].value

    response = client.post(
        "/login/", {"username": "nobody", "password": "x", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == HTTPStatus.OK
