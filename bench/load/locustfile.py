"""The simulated people and attackers of the load test; ``python -m bench.load`` runs them.

    locust -f bench/load/locustfile.py --headless ...   (with the LOAD_* variables below)

``Person`` (one account each, from bench/load/people.py): signs in as a browser does (the
sign-in page, the password, the second step with a passcode computed from the TOTP key as the
authenticator app would), looks at a few pages (home, whitepages searches, preferences), and
signs out; a share of them also change their password with a SafeCode on the way: the
current password and the CAPTCHA (the picture is fetched as a browser does; the answer is
read from the CAPTCHA store, as the person reads the picture), a code asked for by text or by
email, read from the outbox row of that very message (the person reading their phone), then
the new password. Every code asked for is written to ``records-<pid>.jsonl`` as soon as the
portal answers, so the checks can count the messages against it.

``Attacker``: sprays wrong passwords at the target accounts and at names that do not exist,
from its own loopback address (``ATTACKER_IP``), at a steady rate, and does not solve the
CAPTCHA. ``CaptchaFarmAttacker``: the same from another address (``FARM_IP``), but has every
CAPTCHA solved (read from the store, as a paid solving service would): only the per-IP
throttle stops it. Each of their answers is classified: the password was checked (the
refusal), a CAPTCHA asked for instead, or the throttle's 429.

Environment: ``LOAD_PEOPLE`` (the people file), ``LOAD_DATABASE_URL`` (the stack's
database, read only), ``LOAD_RECORDS`` (where the records go), ``LOAD_CHANGE_SHARE`` (share
of the people who change their password, default 0.25), ``LOAD_ATTACK_RATE`` (attempts a
second per attacker, default 10), ``LOAD_ATTACK_CONCURRENCY`` (simulated users per
attacker, default 3), ``LOAD_THINK`` (seconds between two pages of a person,
"min,max", default "1,4") and ``LOAD_PAUSE`` (seconds between two sessions of a person,
default "5,15").
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import re
import secrets
import time
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import gevent
import psycopg2
import psycopg2.extensions
from gevent.queue import Queue
from gevent.socket import wait_read, wait_write
from locust import HttpUser, between, constant_throughput, events, task
from locust.exception import StopUser
from locust.user.task import LOCUST_STATE_STOPPING
from urllib3 import PoolManager

from bench.http_client import totp_passcode

DATA = json.loads(Path(os.environ["LOAD_PEOPLE"]).read_text())
DATABASE_URL = os.environ["LOAD_DATABASE_URL"]
RECORDS = Path(os.environ.get("LOAD_RECORDS", "var/load"))
CHANGE_SHARE = float(os.environ.get("LOAD_CHANGE_SHARE", "0.25"))
ATTACK_RATE = float(os.environ.get("LOAD_ATTACK_RATE", "10"))
# Simulated users per attacker, all from its one address, so that the attack keeps its rate
# when the portal answers slowly.
ATTACK_CONCURRENCY = int(os.environ.get("LOAD_ATTACK_CONCURRENCY", "3"))
THINK = tuple(float(x) for x in os.environ.get("LOAD_THINK", "1,4").split(","))
PAUSE = tuple(float(x) for x in os.environ.get("LOAD_PAUSE", "5,15").split(","))

ATTACKER_IP = "127.0.0.66"
FARM_IP = "127.0.0.67"
# How long a person waits for a code before giving up on it (the checks still count it).
CODE_WAIT_SECONDS = 60.0
REQUEST_TIMEOUT = (10, 120)
SEARCHES = ("smith", "chen", "garcia", "li", "nguyen", "anna", "mo", "kowalski", "pat")
DEPARTMENTS = ("Medicine", "Neurobiology", "Information Technology", "Pediatrics")
SPRAYED = ("Winter2026!", "Password123!", "Spring2026", "Harvard2026!", "Welcome1234", "qwerty123")
UNKNOWN_NAMES = ("jsmith", "admin", "mjohnson", "test.user", "root", "s.williams")

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CAPTCHA_IMAGE = re.compile(r'<img[^>]*src="(/captcha/image/[^"]+)"')
SAFECODE = re.compile(r"SafeCode is (\d{6})")
# What the sign-in page says when it checked the password and refused it
# (accounts.views.login.WRONG_CREDENTIALS).
WRONG_CREDENTIALS = "The username or password is not right"


# Records ----------------------------------------------------------------------------------------

RECORDS.mkdir(parents=True, exist_ok=True)
_records = (RECORDS / f"records-{os.getpid()}.jsonl").open("a", buffering=1)
_statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_attack: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


def record(kind: str, **fields) -> None:
    """One line, written at once: the record survives whatever happens to the run after."""
    _records.write(json.dumps({"kind": kind, "at": time.time(), **fields}) + "\n")


@events.request.add_listener
def _count_status(name, response=None, exception=None, **kwargs) -> None:
    status = getattr(response, "status_code", None) if response is not None else None
    if status:
        _statuses[name][str(status)] += 1
    else:
        _statuses[name][type(exception).__name__ if exception else "ok"] += 1


@events.test_stop.add_listener
def _write_summary(**kwargs) -> None:
    summary = {
        "statuses": {name: dict(counts) for name, counts in _statuses.items()},
        "attack": {ip: dict(counts) for ip, counts in _attack.items()},
    }
    (RECORDS / f"summary-{os.getpid()}.json").write_text(json.dumps(summary, indent=1))


# Reading the stack's database, without blocking the other simulated users ----------------------


def _gevent_wait(connection, timeout=None) -> None:
    """psycopg2's wait callback for gevent: a query yields to the other greenlets."""
    while True:
        state = connection.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            wait_read(connection.fileno(), timeout=timeout)
        elif state == psycopg2.extensions.POLL_WRITE:
            wait_write(connection.fileno(), timeout=timeout)
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")


psycopg2.extensions.set_wait_callback(_gevent_wait)
_connections: Queue = Queue()
for _ in range(4):
    _connections.put(None)


def query_one(sql: str, params: tuple) -> tuple | None:
    connection = _connections.get()
    try:
        if connection is None or connection.closed:
            connection = psycopg2.connect(DATABASE_URL)
            connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    finally:
        _connections.put(connection)


def captcha_answer(key: str) -> str:
    row = query_one("SELECT response FROM captcha_captchastore WHERE hashkey = %s", (key,))
    return row[0] if row else ""


# Pages --------------------------------------------------------------------------------------------


class Forms(HTMLParser):
    """The forms of a page: for each, its action and its fields (radio buttons as lists)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            fields = self.forms[-1]["fields"]
            if attrs.get("type") == "radio":
                fields.setdefault(attrs["name"], []).append(attrs.get("value", ""))
            else:
                fields[attrs["name"]] = unescape(attrs.get("value") or "")

    def with_field(self, name: str, value: str | None = None) -> dict:
        for form in self.forms:
            if name in form["fields"] and value in (None, form["fields"][name]):
                return form["fields"]
        return {}


def csrf(html: str) -> str:
    found = CSRF.search(html)
    return found.group(1) if found else ""


def new_password() -> str:
    """A new password the policy accepts (see bench/load/people.py, ``new_password``)."""
    return "-".join(secrets.token_hex(2) for _ in range(4))


class JourneyFailed(Exception):
    """A step answered what a person could not go on from; the session starts again.
    ``sent`` says whether the request left (False: the run was stopping, nothing was asked)."""

    def __init__(self, reason: str, *, sent: bool = True, answer=None) -> None:
        super().__init__(reason)
        self.sent = sent
        self.answer = answer


# The people ---------------------------------------------------------------------------------------

_people = iter(enumerate(DATA["people"]))


def is_changer(index: int) -> bool:
    """Spread the people who change their password evenly over the list."""
    return int((index + 1) * CHANGE_SHARE) > int(index * CHANGE_SHARE)


class Person(HttpUser):
    weight = 1
    wait_time = between(*PAUSE)

    def on_start(self) -> None:
        claimed = next(_people, None)
        if claimed is None:
            raise StopUser()  # more simulated users than accounts
        index, self.account = claimed
        self.password = self.account["password"]
        self.changer = is_changer(index)
        self.last_step = -1  # the TOTP time step of the last passcode used
        self.codes_sent = 0
        self.changes = 0
        # Every other person who changes their password asks for the first code by email.
        by_email = int((index + 1) * CHANGE_SHARE) % 2 == 0
        self.last_code_at = {"phone": float(by_email), "email": float(not by_email)}

    # Steps ------------------------------------------------------------------------------------

    def step(self, method: str, path: str, name: str, expect=(200,), goes_to=None, **kwargs):
        """One request, named for the report; an answer other than ``expect`` (or a redirect
        elsewhere than ``goes_to``) is a failure, and the session cannot go on."""
        if self._state == LOCUST_STATE_STOPPING:
            raise JourneyFailed("stopping", sent=False)
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as r:
            where = r.headers.get("Location", "")
            if r.status_code in expect and goes_to in (None, where):
                r.success()
                return r
            r.failure(f"{r.status_code} {where}".strip())
        raise JourneyFailed(f"{name}: {r.status_code} {where}", answer=r)

    def post(self, path: str, name: str, data: dict, page, expect=(302,), goes_to=None):
        data = {"csrfmiddlewaretoken": csrf(page.text), **data}
        return self.step("POST", path, name, expect, goes_to, data=data)

    def think(self, span=THINK) -> None:
        gevent.sleep(random.uniform(*span))

    # The session ------------------------------------------------------------------------------

    @task
    def session(self) -> None:
        try:
            page = self.sign_in()
            for _ in range(random.randint(2, 4)):
                self.think()
                page = self.browse()
            if self.changer and self.may_ask_for_code():
                self.think()
                page = self.change_password()
            self.think()
            self.post("/logout/", "sign out", {}, page, goes_to="/")
        except JourneyFailed:
            pass  # the browser keeps its cookies, as a person's does, and starts again

    def sign_in(self):
        page = self.step("GET", "/login/", "sign-in page")
        self.think()
        try:
            self.post(
                "/login/",
                "sign-in: password",
                {"username": self.account["username"], "password": self.password},
                page,
                goes_to="/twofactor/verify/",
            )
        except JourneyFailed as failed:
            if failed.answer is not None and failed.answer.status_code == 200:
                # Refused: the person does not guess on (every failure from this address
                # counts toward the CAPTCHA everyone behind it would then be asked for).
                raise StopUser() from failed
            raise
        page = self.step("GET", "/twofactor/verify/", "sign-in: second-factor page")
        fields = Forms(page.text).with_field("method", "passcode")
        self.think()
        # The app shows a new passcode every step; one already used is refused (replay).
        step_seconds = self.account["totp_step"]
        while int(time.time() // step_seconds) <= self.last_step:
            gevent.sleep(min(step_seconds - time.time() % step_seconds + 0.05, 1))
            if self._state == LOCUST_STATE_STOPPING:
                raise JourneyFailed("stopping", sent=False)
        self.last_step = int(time.time() // step_seconds)
        code = totp_passcode(
            self.account["totp_key"],
            at=self.last_step * step_seconds,
            step=step_seconds,
            digits=self.account["totp_digits"],
        )
        answer = self.post(
            "/twofactor/verify/",
            "sign-in: passcode",
            {"device": fields.get("device", ""), "method": "passcode", "code": code},
            page,
            goes_to="/",
        )
        return self.step("GET", answer.headers["Location"], "home (signed in)")

    def browse(self):
        choice = random.random()
        if choice < 0.45:
            if random.random() < 0.3:
                params = {"department": random.choice(DEPARTMENTS)}
            else:
                params = {"q": random.choice(SEARCHES)}
            return self.step("GET", "/whitepages/", "whitepages search", params=params)
        if choice < 0.8:
            return self.step("GET", "/preferences/", "preferences")
        return self.step("GET", "/", "home (signed in)")

    # Changing the password with a SafeCode ----------------------------------------------------

    def may_ask_for_code(self) -> bool:
        """Whether a code may go out now without meeting a SafeCode limit (a minute between
        two codes to one channel, five an hour for the purpose): a person never asks for one
        they would be refused, so the run counts only codes the portal must send."""
        if self.codes_sent >= 4:
            return False
        return any(time.time() - at > 65 for at in self.last_code_at.values())

    def change_password(self):
        base = "/preferences/security/password/"
        page = self.step("GET", base, "change: start page")
        fields = Forms(page.text).with_field("captcha_0")
        picture = CAPTCHA_IMAGE.search(page.text)
        if picture:
            self.step("GET", picture.group(1), "change: CAPTCHA picture")
        self.think()
        answer = self.post(
            base,
            "change: current password and CAPTCHA",
            {
                "current_password": self.password,
                "captcha_0": fields.get("captcha_0", ""),
                "captcha_1": captcha_answer(fields.get("captcha_0", "")),
            },
            page,
            goes_to=f"{base}send/",
        )
        page = self.step("GET", answer.headers["Location"], "change: send page")
        channel = min(self.last_code_at, key=self.last_code_at.get)
        self.think()
        # The newest message of the purpose before asking: the one that comes is newer.
        before = query_one(
            "SELECT coalesce(max(id), 0) FROM delivery_message WHERE user_id = %s AND purpose = %s",
            (self.account["user_id"], "safecode.password_change"),
        )[0]
        asked = time.time()
        try:
            self.post(
                f"{base}send/",
                f"change: send code ({'text' if channel == 'phone' else 'email'})",
                {"channel": str(self.account["channels"][channel])},
                page,
                goes_to=f"{base}code/",
            )
        except JourneyFailed as failed:
            if failed.sent:
                # Refused (a page, a 429): no code. No answer, or a 5xx: whether one went
                # out is for the checks to find.
                status = failed.answer.status_code if failed.answer is not None else 0
                issued = False if 0 < status < 500 else None
                record("code", user_id=self.account["user_id"], channel=channel, issued=issued)
                self.last_code_at[channel] = asked
            raise
        record("code", user_id=self.account["user_id"], channel=channel, issued=True)
        self.codes_sent += 1
        self.last_code_at[channel] = asked
        code = self.read_code(after=before, asked=asked, channel=channel)
        page = self.step("GET", f"{base}code/", "change: code page")
        self.think((0.5, 2))
        answer = self.post(
            f"{base}code/", "change: enter code", {"code": code}, page, goes_to=f"{base}new/"
        )
        page = self.step("GET", answer.headers["Location"], "change: new password page")
        self.think()
        password = new_password()
        try:
            answer = self.post(
                f"{base}new/",
                "change: new password",
                {"password1": password, "password2": password},
                page,
                goes_to=f"{base}done/",
            )
        except JourneyFailed as failed:
            if failed.sent:
                self.password = self.password_in_force(password)
            raise
        self.password = password
        self.changes += 1
        return self.step("GET", answer.headers["Location"], "change: done page")

    def read_code(self, *, after: int, asked: float, channel: str) -> str:
        """The code in the phone's or inbox's copy of the newest message (its outbox row)."""
        kind = "text" if channel == "phone" else "email"
        name = f"change: code arrives ({kind}, outbox)"
        while time.time() - asked < CODE_WAIT_SECONDS:
            if self._state == LOCUST_STATE_STOPPING:
                raise JourneyFailed("stopping", sent=False)
            row = query_one(
                "SELECT o.body FROM delivery_message m"
                " JOIN delivery_outboxentry o ON o.message_id = m.id"
                " WHERE m.user_id = %s AND m.purpose = %s AND m.id > %s"
                " ORDER BY m.id DESC LIMIT 1",
                (self.account["user_id"], "safecode.password_change", after),
            )
            found = SAFECODE.search(row[0]) if row else None
            if found:
                waited = (time.time() - asked) * 1000
                events.request.fire(
                    request_type="OUTBOX", name=name, response_time=waited, response_length=0
                )
                return found.group(1)
            gevent.sleep(0.25)
        events.request.fire(
            request_type="OUTBOX",
            name=name,
            response_time=CODE_WAIT_SECONDS * 1000,
            response_length=0,
            exception=TimeoutError(f"no code after {CODE_WAIT_SECONDS:.0f} s"),
        )
        raise JourneyFailed("no code")

    def password_in_force(self, tried: str) -> str:
        """After an unanswered new-password step: whether the change went through, as the
        person finds out from the "password changed" notice (one per channel per change)."""
        row = query_one(
            "SELECT count(DISTINCT created_at) FROM delivery_message"
            " WHERE user_id = %s AND purpose = %s",
            (self.account["user_id"], "password_changed"),
        )
        if row and row[0] > self.changes:
            self.changes += 1
            return tried
        return self.password


# The attackers ------------------------------------------------------------------------------------


def _from(address: str) -> PoolManager:
    """Connections from ``address``: Linux routes all of 127.0.0.0/8 to the loopback
    interface, so the portal sees a client of its own at that address."""
    return PoolManager(maxsize=ATTACK_CONCURRENCY, source_address=(address, 0))


class Attacker(HttpUser):
    """Wrong passwords from one address, without solving the CAPTCHA."""

    fixed_count = ATTACK_CONCURRENCY
    ip = ATTACKER_IP
    pool_manager = _from(ATTACKER_IP)
    wait_time = constant_throughput(ATTACK_RATE / ATTACK_CONCURRENCY)
    solves_captcha = False

    def on_start(self) -> None:
        names = [target["username"] for target in DATA["targets"]] + list(UNKNOWN_NAMES)
        self.guesses = itertools.cycle([(name, password) for password in SPRAYED for name in names])
        self.page = None

    @task
    def spray(self) -> None:
        name = "attack (CAPTCHA solved)" if self.solves_captcha else "attack"
        if self.page is None or self.solves_captcha:
            self.page = self._answer("GET", f"{name}: sign-in page")
        username, password = next(self.guesses)
        data = {
            "csrfmiddlewaretoken": csrf(self.page.text),
            "username": username,
            "password": password,
        }
        key = Forms(self.page.text).with_field("captcha_0").get("captcha_0")
        if key and self.solves_captcha:
            data.update(captcha_0=key, captcha_1=captcha_answer(key))
        answer = self._answer("POST", f"{name}: wrong password", data=data)
        outcome = attack_outcome(answer)
        _attack[self.ip][outcome] += 1
        if answer.status_code == 200:
            self.page = answer
        elif outcome == "captcha":
            self.page = None  # sent back to the sign-in page, which asks for the CAPTCHA

    def _answer(self, method: str, name: str, **kwargs):
        """The sign-in page's answer: a page, a redirect back to it, a CAPTCHA or the
        throttle's 429 are all what an attacker may get; a 5xx or no answer is a failure."""
        with self.client.request(
            method,
            "/login/",
            name=name,
            catch_response=True,
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
            **kwargs,
        ) as r:
            if r.status_code in (200, 429) or attack_outcome(r) == "captcha":
                r.success()
            else:
                r.failure(str(r.status_code))
        return r


def attack_outcome(answer) -> str:
    """What the portal did with one wrong password: ``checked`` it (and refused it), asked
    for a ``captcha`` instead (on the page, or by sending the post back to the sign-in page,
    which then shows one), or ``throttled`` the address (429)."""
    if answer.status_code == 429:
        return "throttled"
    if answer.status_code == 302 and answer.headers.get("Location", "").startswith("/login/"):
        return "captcha"
    if answer.status_code == 200 and WRONG_CREDENTIALS in answer.text:
        return "checked"
    if answer.status_code == 200 and 'name="captcha_1"' in answer.text:
        return "captcha"
    return f"other {answer.status_code}"


class CaptchaFarmAttacker(Attacker):
    """The same, from another address, with every CAPTCHA solved: the per-IP throttle must
    stop it before the password is checked."""

    ip = FARM_IP
    pool_manager = _from(FARM_IP)
    solves_captcha = True
