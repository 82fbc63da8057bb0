"""The services the fault tests break on purpose, run privately: a redis-server and a
PostgreSQL cluster of their own, on their own ports, started and removed by the tests. The
machine's shared PostgreSQL (5432) and Redis (6379) are never stopped; the stacks' databases
live on them or on the private cluster, under names of their own.

Also what a person's browser does on the portal's pages over real HTTP: a ``requests``
session bound to a loopback address of its own (127.0.0.0/8 is all loopback, so each browser
is a distinct client IP for the portal's per-IP limits), the hidden fields of a form, and the
CAPTCHA answered from the portal's own store, as a person reads the picture.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from bench.stack import Stack, database_url_for

REPO = Path(__file__).resolve().parents[2]
REDIS_PORT = 6391
POSTGRES_PORT = 5441
# Every wait of these tests is bounded: how often to look again, and for how long at most.
POLL_SECONDS = 0.2
WAIT_SECONDS = 60.0
# A client that gets no answer in this time reports a hang rather than waiting for it.
CLIENT_TIMEOUT = 15

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CAPTCHA_KEY = re.compile(r'name="captcha_0" value="([0-9a-f]+)"')
CODE = re.compile(r"\b(\d{6})\b")
# What a Celery worker logs (at INFO) when a sweep has run to its end.
SWEEP_DONE = re.compile(r"Task delivery\.tasks\.sweep_queued_messages\[[^\]]+\] succeeded")


def wait_for(
    condition: Callable[[], object],
    what: str,
    *,
    timeout: float = WAIT_SECONDS,
    log: Path | None = None,
):
    """Poll ``condition`` until it returns something true, which is returned; on timeout the
    failure quotes the end of ``log``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}\n{tail}")
        time.sleep(POLL_SECONDS)


def binary(name: str, pattern: str | None = None) -> str:
    """The path of a server binary, or a failure that says what to install: CI has them."""
    found = sorted(glob.glob(pattern)) if pattern else []
    path = found[-1] if found else shutil.which(name)
    if not path:
        pytest.fail(
            f"{name} is missing: the fault tests run a private {name} "
            "(Debian: postgresql-15 and redis-server, as .ci/run installs them).",
            pytrace=False,
        )
    return path


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


# Redis ------------------------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    """A redis-server of the tests' own, without persistence: stopping it loses what it held,
    as a crashed broker does."""

    directory: Path
    port: int = REDIS_PORT
    process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        if port_open(self.port):
            pytest.fail(f"port {self.port} is taken: another Redis runs there", pytrace=False)
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(self.ping, f"redis-server on port {self.port}", timeout=20)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Killed by default: a broker that disappears, not one that says goodbye."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def private_redis(directory: Path, port: int = REDIS_PORT) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory=directory, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# PostgreSQL -------------------------------------------------------------------------------------


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of the tests' own: initdb'd as the ``postgres`` OS user (the server
    refuses to run as root) in a temporary directory, trust authentication on 127.0.0.1."""

    port: int = POSTGRES_PORT
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="portal-pg-")))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def base_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, name: str, *args: str, timeout: float = 60) -> None:
        command = ["runuser", "-u", "postgres", "--", self._bin(name), *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n{self.log_tail()}"
            )

    @staticmethod
    def _bin(name: str) -> str:
        return binary(name, f"/usr/lib/postgresql/*/bin/{name}")

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def create(self) -> None:
        if shutil.which("runuser") is None:
            pytest.fail("runuser is missing (util-linux): the cluster runs as postgres")
        if port_open(self.port):
            pytest.fail(f"port {self.port} is taken: another PostgreSQL runs there", pytrace=False)
        shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self._as_postgres(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_postgres(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "stop", "-w", "-t", "60", "-D", str(self.data), "-m", mode)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stopped however it can be, then deleted: never left running after the tests."""
        if self.running():
            try:
                self.stop("immediate")
            except (AssertionError, subprocess.TimeoutExpired):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int((self.data / "postmaster.pid").read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_cluster(port: int = POSTGRES_PORT) -> Iterator[PrivateCluster]:
    cluster = PrivateCluster(port=port)
    try:
        cluster.create()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


# The stack ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def resilience_stack(
    name: str,
    *,
    port: int,
    redis_url: str,
    directory: Path,
    database_base: str | None = None,
    **options: object,
) -> Iterator[Stack]:
    """A freshly prepared ``bench.stack.Stack`` on its own database, stopped and its database
    dropped at the end, also after a failure. Beat is off: the tests publish the sweep the
    way beat does, when they choose, instead of waiting for its minute."""
    base = {"base": database_base} if database_base else {}
    stack = Stack(
        port=port,
        database_url=database_url_for(f"test_portal_resilience_{name}", **base),
        redis_url=redis_url,
        directory=directory,
        beat=False,
        **options,  # type: ignore[arg-type]
    )
    if port_open(port):
        pytest.fail(f"port {port} is taken: a stack already runs there", pytrace=False)
    try:
        stack.prepare(fresh=True)
        stack.start()
        yield stack
    finally:
        stack.stop()
        with contextlib.suppress(Exception):
            stack._drop_database()


_seeds = itertools.count(1)


def seed(stack: Stack, code: str) -> dict:
    """Run ``code`` in ``manage.py shell`` with the stack's settings and database; it ends by
    printing one line of JSON after ``SEED:``, which is returned.

    Each run is a new process, whose factories would count from 0 again and repeat the
    usernames, Harvard IDs and emails of the run before: each run counts from its own
    thousand."""
    start = next(_seeds) * 1000
    reset = (
        "from tests.factories import PersonFactory, UserFactory\n"
        f"PersonFactory.reset_sequence({start})\nUserFactory.reset_sequence({start})\n"
    )
    output = stack.manage("shell", "--command", reset + code, capture=True)
    lines = [line for line in output.splitlines() if line.startswith("SEED:")]
    assert lines, output
    return json.loads(lines[-1].removeprefix("SEED:"))


@dataclass
class Database:
    """Reads (and the few writes that stand in for time passing) on a stack's database."""

    url: str

    def _connect(self):
        import psycopg2

        connection = psycopg2.connect(self.url, connect_timeout=5)
        connection.autocommit = True
        return connection

    def rows(self, sql: str, *params) -> list[tuple]:
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def value(self, sql: str, *params):
        rows = self.rows(sql, *params)
        return rows[0][0] if rows else None

    def captcha_answer(self, key: str) -> str:
        return self.value("SELECT response FROM captcha_captchastore WHERE hashkey = %s", key)


def log_since(path: Path, mark: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(mark)
        return handle.read().decode(errors="replace")


# A person's browser ------------------------------------------------------------------------------


class _SourceAddressAdapter(HTTPAdapter):
    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def browser(ip: str = "127.0.0.1") -> requests.Session:
    """A browser whose connections come from ``ip`` (any 127.x.y.z address)."""
    session = requests.Session()
    session.mount("http://", _SourceAddressAdapter(ip))
    return session


def form_fields(page: requests.Response, captcha_answer: Callable[[str], str]) -> dict[str, str]:
    """The hidden fields a browser posts back, and the CAPTCHA answered when the page has one."""
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.url} ({page.status_code})"
    fields = {"csrfmiddlewaretoken": found.group(1)}
    captcha = CAPTCHA_KEY.search(page.text)
    if captcha:
        fields.update(captcha_0=captcha.group(1), captcha_1=captcha_answer(captcha.group(1)))
    return fields


def unlock_request_code(
    person: requests.Session,
    base: str,
    username: str,
    captcha_answer: Callable[[str], str],
    kind: str = "phone",
) -> requests.Response:
    """The unlock journey up to "Send": the username and CAPTCHA, then where the code goes.
    Returns the page the person lands on (the code page, which says a code is on its way)."""
    start = person.get(f"{base}/unlock/", timeout=CLIENT_TIMEOUT)
    assert start.status_code == 200, start.status_code
    answered = person.post(
        f"{base}/unlock/",
        {"username": username, **form_fields(start, captcha_answer)},
        timeout=CLIENT_TIMEOUT,
    )
    assert answered.status_code == 200, (answered.status_code, answered.text[-2000:])
    assert answered.url == f"{base}/unlock/send/", answered.url
    return person.post(
        f"{base}/unlock/send/",
        {"kind": kind, **form_fields(answered, captcha_answer)},
        timeout=CLIENT_TIMEOUT,
    )


def locked_person_asks_for_email_code(
    base: str, username: str, email: str
) -> tuple[requests.Session, requests.Response]:
    """A locked account ``username`` whose SafeCode channel is the email address ``email``, made
    in the test's database, and a person's browser asking the live server at ``base`` for an
    unlock code by email (``unlock_request_code``, the CAPTCHA answered from that database).
    Returns the browser and the page it lands on."""
    from captcha.models import CaptchaStore

    from safecode.models import Channel
    from tests.factories import ChannelFactory, UserFactory, lock

    user = UserFactory(username=username)
    lock(user)
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=email)
    person = browser()
    page = unlock_request_code(
        person,
        base,
        username,
        lambda key: CaptchaStore.objects.get(hashkey=key).response,
        kind="email",
    )
    return person, page


SENDING = "we sent a code to it. It may take a minute to arrive."


def assert_told_a_code_is_coming(page: requests.Response, base: str, kind: str = "phone") -> None:
    """The person is on the code page, told the code is on its way, and sees no error."""
    contact = {"phone": "a SafeCode mobile phone", "email": "a SafeCode email address"}[kind]
    assert page.status_code == 200, (page.status_code, page.text[-2000:])
    assert page.url == f"{base}/unlock/code/", page.url
    assert f"If this account is locked and has {contact}, {SENDING}" in page.text
    assert "Error:" not in page.text.split("</title>")[0]


def at_once(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run each call in its own thread, released together by a barrier, so that the requests
    truly overlap; every answer (or the exception a client met) is returned in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = calls[index]()
        except BaseException as exc:  # reported below, with the others
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [result for result in results if not isinstance(result, requests.Response)]
    assert not errors, errors
    return results  # type: ignore[return-value]
