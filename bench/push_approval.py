"""Push approval: how long the desktop's waiting page takes to move on once the phone approves.

The portal is served for real (a threaded WSGI server in a thread, static files included) and
one headless Chromium is the desktop. Each round signs a fresh account in with its password,
presses "Send Me a Push", reads the number the waiting panel shows, waits a random time in
[0, 2) s so that the approval lands at a random phase of the page's poll, then approves over
HTTP as the phone's app does (a signed decision with the number). The clock starts when the
decision has been answered 200 and stops when the desktop is on the signed-in home page.

Baseline from the same run, same browser: rounds where static/js/push_wait.js is not loaded
and the waiting panel's "I approved it, continue" is pressed right after the approval, which is
the same navigation with no polling in front of it. Also measured: what one status poll costs a
single worker, against /healthz with the same session, and how many waiting pages that serves.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPConnection
from urllib.parse import urlsplit

from bench._harness import median, ms, percentile

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# static/js/push_wait.js asks every 2 s for its first 20 s (then every 5 s).
POLL_INTERVAL = 2.0
# The password of every account the bench makes in the scratch database.
PASSWORD = "bench push approval 2026"
DEVICE = "iPhone"
TIMEOUT_MS = 15_000
STATUS_REQUESTS = 2_000
# The status and /healthz requests alternate in blocks of this many, so that a slower moment
# of the machine weighs on both alike.
BLOCK = 200
# Production's persistent database connections (portal/settings/base.py, DB_CONN_MAX_AGE); the
# test settings open one per request.
PRODUCTION_CONN_MAX_AGE = 60
LABEL = 52  # the width of the labels in the printed figures


def run(*, approvals: int = 50, seed: int = 11) -> dict[str, float]:
    print(f"\n== push_approval: {approvals} approvals, Chromium against a live server ==")
    missing = _missing()
    if missing:
        print(f"push_approval: skipped, {missing}", file=sys.stderr)
        return {}
    rng = random.Random(seed)
    with _async_unsafe_allowed(), _live_server() as base, _chromium() as browser:
        accounts = [_account(base, i) for i in range(2 * approvals + 1)]
        desktop = _context(browser, base, scripts=True)
        by_hand = _context(browser, base, scripts=False)
        errors: list[str] = []
        desktop.pages[0].on("pageerror", lambda error: errors.append(str(error)))
        to_proceed, to_continue = [], []
        for i in range(approvals):
            to_proceed.append(_round(desktop.pages[0], base, accounts[2 * i], delay=rng.random()))
            to_continue.append(_round(by_hand.pages[0], base, accounts[2 * i + 1], delay=None))
            if errors:
                raise SystemExit(f"push_approval bench: the waiting page threw: {errors[0]}")
        desktop.close()
        status_url, cookie = _waiting_session(by_hand.pages[0], base, accounts[-1])
        by_hand.close()
        status, healthz, per_request = _status_cost(base, status_url, cookie)

    p50, p90, worst = (percentile(to_proceed, p) for p in (50, 90, 100))
    base50 = median(to_continue)
    print(_line(f"approval -> home, the page polls ({len(to_proceed)})", to_proceed))
    print(_line(f"baseline  Continue pressed at once ({len(to_continue)})", to_continue))
    mean = sum(to_proceed) / len(to_proceed)
    print(f"{'            approval -> home, mean':<{LABEL}} mean {ms(mean):>9}")
    print(_ratio("ratio     approval p50 / baseline p50", p50 / base50, ".1f"))
    print(_ratio("ratio     approval p50 / poll interval (2 s)", p50 / POLL_INTERVAL, ".2f"))

    status_rps = len(status) / sum(status)
    healthz_rps = len(healthz) / sum(healthz)
    per_request_rps = len(per_request) / sum(per_request)
    pages = status_rps * POLL_INTERVAL
    path = _status_path(status_url)
    print(_cost_line(f"status    GET {path} ({len(status)})", status, status_rps))
    print(_cost_line(f"baseline  GET /healthz, same cookie ({len(healthz)})", healthz, healthz_rps))
    label = f"status    the same, a new DB connection each ({len(per_request)})"
    print(_cost_line(label, per_request, per_request_rps))
    print(_ratio("ratio     status / healthz time per request", healthz_rps / status_rps, ".2f"))
    print(
        f"capacity  one sync worker serves about {pages:,.0f} simultaneous waiting pages at one "
        f"poll every 2 s (at 50% utilisation: {pages / 2:,.0f})"
    )
    return {
        "p50": p50,
        "p90": p90,
        "max": worst,
        "baseline": base50,
        "ratio_baseline": p50 / base50,
        "ratio_poll": p50 / POLL_INTERVAL,
        "status_rps": status_rps,
        "healthz_rps": healthz_rps,
        "pages": pages,
        "approvals": len(to_proceed),
        "samples": to_proceed,
        "baseline_samples": to_continue,
    }


def _missing() -> str:
    """Why the browser cannot run here ("" when it can)."""
    import importlib.util

    if not os.path.exists(CHROMIUM):
        return f"it needs Chromium at {CHROMIUM} (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "it needs the playwright package (the dev dependencies)"
    return ""


def _line(label: str, samples: list[float]) -> str:
    return (
        f"{label:<{LABEL}} p50 {ms(percentile(samples, 50)):>10}   "
        f"p90 {ms(percentile(samples, 90)):>10}   max {ms(max(samples)):>10}"
    )


def _cost_line(label: str, samples: list[float], rps: float) -> str:
    return (
        f"{label:<{LABEL}} p50 {ms(percentile(samples, 50)):>10}   "
        f"p95 {ms(percentile(samples, 95)):>10}   {rps:>7,.0f} requests/s"
    )


def _ratio(label: str, value: float, form: str) -> str:
    return f"{label:<{LABEL}} {value:>14{form}}x"


def _status_path(url: str) -> str:
    return re.sub(r"[0-9a-f-]{36}", "<id>", urlsplit(url).path)


# The server and the browser ---------------------------------------------------------------


@contextmanager
def _async_unsafe_allowed() -> Iterator[None]:
    """Playwright's sync API runs an asyncio loop in this thread; Django would otherwise refuse
    the ORM calls the bench makes between browser steps."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def _server_thread_class():
    """Django's LiveServerThread whose sockets send at once (TCP_NODELAY).

    wsgiref writes a response's headers and its body in two sends; with Nagle's algorithm on,
    the body then waits for the client's delayed ACK of the headers, about 40 ms on every
    response of a kept-alive connection. That is the development server's, not the portal's:
    gunicorn sends the headers with the body.
    """
    from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

    class Handler(QuietWSGIRequestHandler):
        disable_nagle_algorithm = True

    class ServerThread(LiveServerThread):
        def _create_server(self, connections_override=None):
            return self.server_class(
                (self.host, self.port),
                Handler,
                allow_reuse_address=False,
                connections_override=connections_override,
            )

    return ServerThread


@contextmanager
def _live_server() -> Iterator[str]:
    """The portal on 127.0.0.1 (a free port) in a thread of this process; yields its URL.

    A ThreadedWSGIServer around Django's WSGI handler, static files served by staticfiles'
    handler (``_server_thread_class``). An in-memory SQLite database is shared with the
    server's threads, as LiveServerTestCase does; any other database gets a connection per
    thread.
    """
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.test.utils import override_settings

    shared = None
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        shared = {DEFAULT_DB_ALIAS: connection}
        connection.inc_thread_sharing()
    hosts = [*settings.ALLOWED_HOSTS, "127.0.0.1", "localhost"]
    with override_settings(ALLOWED_HOSTS=hosts):
        server = _server_thread_class()(
            "127.0.0.1", StaticFilesHandler, connections_override=shared
        )
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        try:
            yield f"http://127.0.0.1:{server.port}"
        finally:
            server.terminate()
            if shared:
                connection.dec_thread_sharing()


@contextmanager
def _chromium():
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
            # The sync API runs this code in a greenlet with its own context, hence its own
            # database connections: close them here, or the scratch database cannot be dropped.
            connections.close_all()


def _context(browser, base: str, *, scripts: bool):
    """A desktop browser context with one page; without ``scripts`` the waiting page's
    push_wait.js is not loaded, so only a press of Continue moves it on."""
    context = browser.new_context(
        base_url=base, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(TIMEOUT_MS)
    if not scripts:
        context.route("**/static/js/push_wait.js", lambda route: route.abort())
    context.new_page()
    return context


# Accounts, and the phone's app over HTTP --------------------------------------------------


class _HttpClient:
    """What ``SoftApp`` needs of Django's test client, over real HTTP to the live server."""

    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, data: str, content_type: str):
        request = urllib.request.Request(  # noqa: S310 (the live server's http URL)
            self.base + path,
            data=data.encode("utf-8"),
            headers={"Content-Type": content_type, "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_MS / 1000) as response:  # noqa: S310
                return _Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            return _Answer(error.code, error.read())


class _Answer:
    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self):
        return json.loads(self.content)


def _account(base: str, i: int):
    """A fresh account with a SafeCode email and a phone that activated the portal's
    authenticator through the API and confirmed it with its passcode; returns (username, the
    phone's app)."""
    from django.utils import timezone

    from accounts.models import User
    from safecode.models import Channel
    from tests.twofactor.soft_app import SoftApp
    from twofactor.models import Device
    from twofactor.push import app_activation_link
    from twofactor.services import device_confirm, device_start

    user = User.objects.create(
        username=f"bench.push{i:03d}",
        first_name="Pat",
        last_name=f"Bench{i}",
        email=f"bench.push{i}@example.org",
        kind=User.Kind.AFFILIATE,
        password=_password_hash(),
        password_changed_at=timezone.now(),
    )
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.EMAIL,
        address=f"bench.push{i}@example.org",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    device = device_start(
        user=user, kind=Device.Kind.MOBILE, name=DEVICE, phone_type="iphone", app=True
    )
    app = SoftApp(_HttpClient(base))
    response = app.activate(app_activation_link(device=device))
    if response.status_code != 200:
        raise SystemExit(
            f"push_approval bench: activation answered {response.status_code}: {response.content}"
        )
    # The setup page's last step: the passcode the app shows confirms the device.
    if not device_confirm(device=device, method="passcode", code=app.passcode()):
        raise SystemExit("push_approval bench: the app's passcode did not confirm the device")
    return user.username, app


@functools.cache
def _password_hash() -> str:
    """PASSWORD hashed once: Argon2 is slow on purpose, and every account shares it."""
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


# One round -------------------------------------------------------------------------------------


def _send_push(page, base: str, username: str) -> tuple[str, str]:
    """Sign in with the password and press "Send Me a Push"; the push id and its number."""
    page.goto("/login/")
    page.get_by_label(re.compile(r"^Username")).fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/twofactor/verify/**")
    page.get_by_role("button", name=f"Send Me a Push on {DEVICE}").click()
    panel = page.locator("[data-push-wait]")
    panel.wait_for()
    number = panel.locator(".push-number [aria-hidden='true']").inner_text().strip()
    found = re.search(
        r"/twofactor/push/([0-9a-f-]{36})/status/", panel.get_attribute("data-status-url") or ""
    )
    if not re.fullmatch(r"\d{3}", number) or found is None:
        raise SystemExit(f"push_approval bench: no number or status URL on the page ({number!r})")
    return found.group(1), number


def _round(page, base: str, account, *, delay: float | None) -> float:
    """One sign-in approved on the phone: seconds from the approval's answer to the signed-in
    home page. ``delay`` (in poll intervals) before the approval when the page polls; None to
    press Continue right after it instead."""
    username, app = account
    push_id, number = _send_push(page, base, username)
    if delay is not None:
        time.sleep(delay * POLL_INTERVAL)
    response = app.decide(push_id, "approve", number)
    if response.status_code != 200 or response.json().get("state") != "approved":
        raise SystemExit(
            f"push_approval bench: the approval answered {response.status_code}: "
            f"{response.content[:200]!r}"
        )
    start = time.perf_counter()
    if delay is None:
        page.locator("form[data-push-check]").get_by_role("button").click()
    page.wait_for_url(f"{base}/")
    elapsed = time.perf_counter() - start
    _sign_out(page)
    _check_used(push_id)
    return elapsed


def _check_used(push_id: str) -> None:
    """The sign-in used the approved push (not some other way onto the home page)."""
    from twofactor.models import PushRequest

    state = PushRequest.objects.filter(pk=push_id).values_list("state", flat=True).first()
    if state != PushRequest.State.USED:
        raise SystemExit(f"push_approval bench: the approved push ended as {state!r}, not used")


def _sign_out(page) -> None:
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("button", name="Sign out").click()
    nav.get_by_role("link", name="Sign in").wait_for()


# What a poll costs ------------------------------------------------------------------------------


def _waiting_session(page, base: str, account) -> tuple[str, str]:
    """A session whose page waits for a push (its own page does not poll): the status URL and
    the Cookie header that goes with it."""
    push_id, _ = _send_push(page, base, account[0])
    cookies = page.context.cookies(base)
    header = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    return f"{base}/twofactor/push/{push_id}/status/", header


def _status_cost(base: str, status_url: str, cookie: str):
    """Back-to-back GETs from one thread over one keep-alive connection: the status endpoint
    and /healthz in alternating blocks under production's persistent database connection,
    then the status endpoint with the test settings' connection per request."""
    from django.db import connection

    parts = urlsplit(base)
    status_path = urlsplit(status_url).path
    status: list[float] = []
    healthz: list[float] = []
    per_request: list[float] = []
    http = HTTPConnection(parts.hostname, parts.port, timeout=10)
    answer = _get(http, status_path, cookie)
    http.close()
    if answer.get("state") != "pending":
        raise SystemExit(f"push_approval bench: the status endpoint answered {answer}")
    settings_dict = connection.settings_dict
    before = settings_dict.get("CONN_MAX_AGE", 0)
    settings_dict["CONN_MAX_AGE"] = PRODUCTION_CONN_MAX_AGE
    try:
        http = HTTPConnection(parts.hostname, parts.port, timeout=10)
        for _ in range(50):  # warm up: the thread, its database connection, the templates
            _get(http, status_path, cookie)
            _get(http, "/healthz", cookie)
        for _ in range(STATUS_REQUESTS // BLOCK):
            status.extend(_timed_gets(http, status_path, cookie, BLOCK))
            healthz.extend(_timed_gets(http, "/healthz", cookie, BLOCK))
        http.close()
    finally:
        settings_dict["CONN_MAX_AGE"] = before
    http = HTTPConnection(parts.hostname, parts.port, timeout=10)
    _timed_gets(http, status_path, cookie, 20)
    per_request.extend(_timed_gets(http, status_path, cookie, STATUS_REQUESTS // 4))
    http.close()
    return status, healthz, per_request


def _timed_gets(http: HTTPConnection, path: str, cookie: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        _get(http, path, cookie)
        samples.append(time.perf_counter() - start)
    return samples


def _get(http: HTTPConnection, path: str, cookie: str) -> dict:
    http.request("GET", path, headers={"Cookie": cookie, "Accept": "application/json"})
    response = http.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"push_approval bench: GET {path} answered {response.status}")
    return json.loads(body)
