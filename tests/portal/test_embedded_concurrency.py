"""The embedded default (``make run``) under concurrent requests, attacked over HTTP.

The portal runs as a person runs it: ``manage.py runserver`` with the development settings, a
SQLite file, no broker, messages to the dev outbox. Ten browsers then post at the same moment.
No answer may be a server error, and every message the portal decided to send reaches the
outbox, however the requests and the background delivery contended for the database.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
BROWSERS = 10
LOCKED_USERNAME = "locked.person"
LOCKED_PHONE = "+16175550123"
TARGET_USERNAME = "target.person"

SETUP = f"""
from django.core.management import call_command
from django.utils import timezone
from accounts.models import User
from safecode.models import Channel
from tests.factories import UserFactory

call_command("migrate", verbosity=0)
locked = UserFactory(username="{LOCKED_USERNAME}")
User.objects.filter(pk=locked.pk).update(failed_login_count=10, locked_at=timezone.now())
Channel.objects.create(
    user=locked,
    kind=Channel.Kind.PHONE,
    address="{LOCKED_PHONE}",
    region="US",
    status=Channel.Status.VERIFIED,
    verified_at=timezone.now(),
)
UserFactory(username="{TARGET_USERNAME}")
"""

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CAPTCHA_KEY = re.compile(r'name="captcha_0" value="([0-9a-f]+)"')

# Bounds on every wait: how often the test looks again, and how many times.
POLL_SECONDS = 0.1
POLLS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Portal:
    url: str
    database: Path
    log: Path

    def errors(self) -> str:
        """What the server printed about failed requests, for the assertion message."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if "Error" in line or " 500 " in line)[-4000:]

    def rows(self, sql: str, *params) -> list[tuple]:
        """Read the portal's database as an operator would, without taking a write lock."""
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def messages(self, purpose: str) -> list[tuple[int, str, str]]:
        return self.rows(
            "SELECT id, recipient, status FROM delivery_message WHERE purpose = ? ORDER BY id",
            purpose,
        )

    def outbox(self, purpose: str) -> list[tuple[int, str]]:
        return self.rows(
            "SELECT message_id, recipient FROM delivery_outboxentry WHERE purpose = ? ORDER BY id",
            purpose,
        )

    def settled(self, purpose: str) -> list[tuple[int, str, str]]:
        """The messages for ``purpose`` once none is waiting or being sent any more."""
        for _ in range(POLLS):
            messages = self.messages(purpose)
            if messages and all(status in ("sent", "failed") for _, _, status in messages):
                return messages
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"messages for {purpose} never settled: {self.messages(purpose)}")


def run_manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def portal(tmp_path_factory) -> Iterator[Portal]:
    """``make run`` on a fresh SQLite file, with a locked account that has a SafeCode phone."""
    directory = tmp_path_factory.mktemp("embedded")
    database = directory / "portal.sqlite3"
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
        "DEBUG": "1",
        "CAPTCHA_TEST_MODE": "1",
        "DATABASE_URL": f"sqlite:///{database}",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    run_manage(env, "shell", "--command", SETUP)
    log_path = directory / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(POLLS):
            assert process.poll() is None, log_path.read_text()
            try:
                requests.get(f"{url}/login/", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(POLL_SECONDS)
        else:
            raise AssertionError("the portal never answered")
        yield Portal(url=url, database=database, log=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def form_fields(page: requests.Response) -> dict[str, str]:
    """The hidden fields a browser would post back: the CSRF token, and the CAPTCHA key with
    the answer the development CAPTCHA accepts."""
    fields = {"csrfmiddlewaretoken": CSRF.search(page.text).group(1)}
    captcha = CAPTCHA_KEY.search(page.text)
    if captcha:
        fields.update(captcha_0=captcha.group(1), captcha_1="PASSED")
    return fields


def at_once(posts: list) -> list[requests.Response]:
    """Run every post from its own thread, released together."""
    barrier = threading.Barrier(len(posts))
    responses: list[requests.Response | BaseException | None] = [None] * len(posts)

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            responses[index] = posts[index]()
        except BaseException as exc:  # reported below, with the others
            responses[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [r for r in responses if not isinstance(r, requests.Response)]
    assert not errors, errors
    return responses


def unlock_send_step(portal: Portal) -> tuple[requests.Session, dict[str, str]]:
    """A browser that typed the username and answered the CAPTCHA, now on "Send a SafeCode"."""
    browser = requests.Session()
    start = browser.get(f"{portal.url}/unlock/", timeout=30)
    answered = browser.post(
        f"{portal.url}/unlock/",
        {"username": LOCKED_USERNAME, **form_fields(start)},
        timeout=30,
    )
    assert answered.status_code == HTTPStatus.OK, answered.status_code
    assert answered.url == f"{portal.url}/unlock/send/"
    return browser, {"kind": "phone", **form_fields(answered)}


def test_ten_simultaneous_unlock_sends_all_answer_and_the_codes_are_delivered(portal):
    browsers = [unlock_send_step(portal) for _ in range(BROWSERS)]

    responses = at_once(
        [
            lambda browser=browser, data=data: browser.post(
                f"{portal.url}/unlock/send/", data, timeout=60
            )
            for browser, data in browsers
        ]
    )

    statuses = [response.status_code for response in responses]
    assert statuses == [HTTPStatus.OK] * BROWSERS, (statuses, portal.errors())
    assert {response.url for response in responses} == {f"{portal.url}/unlock/code/"}
    messages = portal.settled("safecode.unlock")
    assert {recipient for _, recipient, _ in messages} == {LOCKED_PHONE}
    assert [status for _, _, status in messages] == ["sent"] * len(messages)
    delivered = portal.outbox("safecode.unlock")
    assert sorted(message_id for message_id, _ in delivered) == [pk for pk, _, _ in messages]


def test_wrong_passwords_at_once_lock_the_account_and_tell_the_person_once(portal):
    """Twenty wrong passwords at the same moment: ten lock the account, the rest keep the
    database busy while the lock notice goes out."""
    browsers = []
    for _ in range(2 * BROWSERS):
        browser = requests.Session()
        page = browser.get(f"{portal.url}/login/", timeout=30)
        wrong = {"username": TARGET_USERNAME, "password": "not the password at all"}
        browsers.append((browser, {**wrong, **form_fields(page)}))

    responses = at_once(
        [
            lambda browser=browser, data=data: browser.post(
                f"{portal.url}/login/", data, timeout=60
            )
            for browser, data in browsers
        ]
    )

    statuses = [response.status_code for response in responses]
    assert statuses == [HTTPStatus.OK] * len(browsers), (statuses, portal.errors())
    ((locked_at,),) = portal.rows(
        "SELECT locked_at FROM accounts_user WHERE username = ?", TARGET_USERNAME
    )
    assert locked_at is not None
    notices = portal.settled("account_locked")
    assert [status for _, _, status in notices] == ["sent"]
    assert [message_id for message_id, _ in portal.outbox("account_locked")] == [notices[0][0]]
