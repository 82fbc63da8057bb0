"""A small HTTP client for the benchmarks that run against the stack (bench/stack.py).

One ``Client`` is one browser: a keep-alive ``http.client`` connection, a cookie jar (a dict
of name -> value, updated from every ``Set-Cookie``), the CSRF token read from the last form,
and optionally the local address its connections are bound to (``source``), so that each
client can be a distinct address of the loopback range 127.0.0.0/8.

gunicorn's sync workers close the connection after every response (``Connection: close``);
``http.client`` then opens a new one for the next request. A kept-alive connection that the
server closed while idle fails on first use without an answer: that request is sent again,
once, on a new connection (nothing was processed, since nothing was answered).
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

CSRF_FIELD = "csrfmiddlewaretoken"
CSRF_INPUT = re.compile(
    r'<input[^>]*name="csrfmiddlewaretoken"[^>]*value="([^"]+)"|'
    r'<input[^>]*value="([^"]+)"[^>]*name="csrfmiddlewaretoken"'
)
TITLE = re.compile(r"<title>\s*(.*?)\s*</title>", re.S | re.I)
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) PortalBench/1.0 Firefox/128.0"
# Errors of a connection that the server closed, before any answer came.
RECONNECT_ERRORS = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    elapsed: float  # seconds, from sending the request to the last byte of the body

    @property
    def location(self) -> str:
        return self.headers.get("Location", "") or ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def title(self) -> str:
        found = TITLE.search(self.text)
        return re.sub(r"\s+", " ", found.group(1)) if found else ""

    def csrf_token(self) -> str:
        found = CSRF_INPUT.search(self.text)
        return (found.group(1) or found.group(2)) if found else ""


@dataclass
class Client:
    """One browser against ``base`` (``http://127.0.0.1:8300``)."""

    base: str
    source: str | None = None
    timeout: float = 30.0
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    user_agent: str = USER_AGENT
    connections: int = field(default=0, init=False)
    _connection: http.client.HTTPConnection | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    # Connections ------------------------------------------------------------------------------

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            source = (self.source, 0) if self.source else None
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout, source_address=source
            )
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # Requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        sent = {
            "Host": f"{self.host}:{self.port}",
            "User-Agent": self.user_agent,
            "Accept": "text/html,application/json",
        }
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        sent.update(headers or {})
        start = time.perf_counter()
        for attempt in (1, 2):
            connection = self._open()
            fresh = connection.sock is None
            try:
                if fresh:
                    connection.connect()
                    self.connections += 1
                connection.request(method, path, body=body, headers=sent)
                answer = connection.getresponse()
                content = answer.read()
                break
            except RECONNECT_ERRORS:
                self.close()
                if fresh or attempt == 2:
                    raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        elapsed = time.perf_counter() - start
        if answer.will_close:
            self.close()
        self._keep_cookies(answer.headers)
        return Response(answer.status, answer.headers, content, elapsed)

    def get(self, path: str, **headers: str) -> Response:
        response = self.request("GET", path, headers=headers)
        token = response.csrf_token() if response.status == 200 else ""
        if token:
            self.csrf = token
        return response

    def post(self, path: str, fields: dict[str, str], **headers: str) -> Response:
        """A form post with the CSRF token of the last form this client read."""
        data = {CSRF_FIELD: self.csrf, **fields} if self.csrf else dict(fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        body = urlencode(data).encode("ascii")
        response = self.request("POST", path, body=body, headers=headers)
        token = response.csrf_token() if response.status == 200 else ""
        if token:
            self.csrf = token
        return response

    # Cookies ----------------------------------------------------------------------------------

    def _keep_cookies(self, headers: http.client.HTTPMessage) -> None:
        for line in headers.get_all("Set-Cookie") or ():
            jar = SimpleCookie()
            try:
                jar.load(line)
            except Exception:  # noqa: S112 - a cookie the jar cannot read is not kept
                continue
            for name, morsel in jar.items():
                gone = morsel["max-age"] == "0" or (
                    morsel["expires"] and "1970" in morsel["expires"]
                )
                if gone or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def drop_cookie(self, name: str) -> None:
        self.cookies.pop(name, None)


def page_kind(response: Response) -> str:
    """What a person would call the answer: status and, for a page, its title; a redirect
    with where it goes (the path only)."""
    if 300 <= response.status < 400:
        return f"{response.status} -> {urlsplit(response.location).path}"
    kind = response.title or response.headers.get("Content-Type", "").split(";")[0]
    if response.status == 200 and 'name="captcha' in response.text:
        kind = f"{kind} (with a CAPTCHA)"
    return f"{response.status} {kind}".strip()


def totp_passcode(key_hex: str, *, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """The passcode an authenticator app shows for the TOTP key ``key_hex`` (RFC 6238, as
    django-otp computes it) at the Unix time ``at``. By default, the one of the next time
    step, ``step`` seconds from now (within the device's tolerance): the one of this step may
    have been used already, to confirm the device or to sign in."""
    from django_otp.oath import TOTP

    totp = TOTP(bytes.fromhex(key_hex), step=step, digits=digits)
    totp.time = time.time() + step if at is None else at
    return f"{totp.token():0{digits}d}"


def loopback_addresses(first: str, count: int, *, skip: int = 0) -> list[str]:
    """``count`` consecutive IPv4 addresses from ``skip`` after ``first`` (all in
    127.0.0.0/8)."""
    start = int.from_bytes(socket.inet_aton(first), "big") + skip
    addresses = [socket.inet_ntoa((start + i).to_bytes(4, "big")) for i in range(count)]
    if not all(address.startswith("127.") for address in addresses):
        raise ValueError(f"{count} addresses from {first} leave the loopback range")
    return addresses
