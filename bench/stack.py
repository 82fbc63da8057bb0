"""The production-like stack on this machine, without Docker: ``make stack``.

gunicorn (2 workers) serving ``portal.wsgi``, a Celery worker and Celery beat, against the local
PostgreSQL and Redis, with ``portal.settings.stack`` (production's settings, outbox delivery,
plain HTTP on loopback). The benchmarks (bench/http_*.py) and the load test (bench/load/) start
it with ``Stack``; ``python -m bench.stack`` serves it in the foreground until Ctrl-C.

    python -m bench.stack [--port 8100] [--fresh] [--no-demo]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
STACK_DIR = BASE_DIR / "var" / "stack"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_stack"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
START_TIMEOUT = 90.0


class StackError(RuntimeError):
    pass


@dataclass
class Stack:
    """The processes of the stack, started and stopped together.

    ``database_url`` names a database that the stack owns: ``prepare(fresh=True)`` drops and
    creates it. ``worker_class`` and ``threads`` are gunicorn's; ``threads`` > 1 means gthread.
    """

    port: int = 8100
    database_url: str = field(
        default_factory=lambda: os.environ.get("STACK_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    redis_url: str = field(
        default_factory=lambda: os.environ.get("STACK_REDIS_URL", DEFAULT_REDIS_URL)
    )
    web_workers: int = 2
    threads: int = 1
    celery_concurrency: int = 2
    beat: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    directory: Path = STACK_DIR
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CELERY_"))
        }
        environment.update(
            DJANGO_SETTINGS_MODULE="portal.settings.stack",
            SECRET_KEY=self._secret_key(),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            PORTAL_URL=self.url,
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CELERY_BROKER_URL=self.redis_url,
            PYTHONUNBUFFERED="1",
        )
        environment.update(self.extra_env)
        return environment

    def _secret_key(self) -> str:
        """One key per stack directory, so sessions survive a restart of the stack."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(64))
            path.chmod(0o600)
        return path.read_text().strip()

    # Preparing the database ------------------------------------------------------------------

    def prepare(self, *, fresh: bool = False, demo: bool = False) -> None:
        """Create the database (dropped first when ``fresh``), migrate it, collect static files."""
        if fresh:
            self._drop_database()
            self._flush_redis()
        self._create_database()
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        if demo:
            # The seeds load known passwords and refuse to run with DEBUG off: they run with the
            # development settings, against the stack's database.
            for command in ("seed_demo", "seed_demo_devices", "seed_demo_guests"):
                self.manage(command, settings="portal.settings.dev")

    def manage(self, *args: str, capture: bool = False, settings: str | None = None) -> str:
        environment = self.env()
        if settings:
            environment["DJANGO_SETTINGS_MODULE"] = settings
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=environment,
            check=True,
            capture_output=capture,
            text=True,
        )
        return result.stdout if capture else ""

    def _server_dsn(self) -> tuple[dict[str, object], str]:
        parts = urlsplit(self.database_url)
        name = parts.path.lstrip("/")
        if not name or parts.scheme not in ("postgres", "postgresql"):
            raise StackError(f"the stack needs a PostgreSQL database URL, not {self.database_url}")
        dsn = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": parts.username or "postgres",
            "dbname": "postgres",
        }
        if parts.password:
            dsn["password"] = parts.password
        return dsn, name

    def _admin(self, statement: str) -> None:
        import psycopg2

        dsn, _ = self._server_dsn()
        connection = psycopg2.connect(**dsn)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def _create_database(self) -> None:
        import psycopg2

        _, name = self._server_dsn()
        with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
            self._admin(f'CREATE DATABASE "{name}"')

    def _drop_database(self) -> None:
        _, name = self._server_dsn()
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _flush_redis(self) -> None:
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()

    # Processes ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        gunicorn = [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={self.web_workers}",
            f"--threads={self.threads}",
            "--worker-tmp-dir=/dev/shm",
            "--timeout=60",
            "--graceful-timeout=10",
            "--backlog=2048",
            f"--pid={self.directory / 'gunicorn.pid'}",
        ]
        if self.threads > 1:
            gunicorn.append("--worker-class=gthread")
        self._spawn("web", gunicorn)
        celery = [sys.executable, "-m", "celery", "-A", "portal"]
        self._spawn(
            "worker",
            [
                *celery,
                "worker",
                f"--concurrency={self.celery_concurrency}",
                "--loglevel=info",
                "--without-gossip",
                "--without-mingle",
                f"--hostname=stack-{self.port}@%h",
            ],
        )
        if self.beat:
            self._spawn(
                "beat",
                [
                    *celery,
                    "beat",
                    "--loglevel=info",
                    f"--schedule={self.directory / 'celerybeat-schedule'}",
                    f"--pidfile={self.directory / 'celerybeat.pid'}",
                ],
            )
        try:
            self.wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.directory / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_until_up(self, timeout: float = START_TIMEOUT) -> None:
        """Until /healthz answers 200 and the Celery worker says it is ready."""
        deadline = time.monotonic() + timeout
        worker_log = self.directory / "worker.log"
        worker_mark = worker_log.stat().st_size if worker_log.exists() else 0
        web_up = worker_up = False
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise StackError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            web_up = web_up or self.healthz() == 200
            if not worker_up and worker_log.exists():
                with worker_log.open("rb") as handle:
                    handle.seek(max(worker_mark - 1, 0))
                    worker_up = b" ready." in handle.read()
            if web_up and worker_up:
                return
            time.sleep(0.2)
        raise StackError(f"the stack did not come up in {timeout:.0f}s (web {web_up})")

    def healthz(self) -> int | None:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def web_worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master process)."""
        master = self.processes["web"].pid
        children = Path(f"/proc/{master}/task/{master}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def peak_rss_mb(self) -> dict[int, float]:
        """Each gunicorn worker's peak resident set size (VmHWM), in MiB."""
        peaks = {}
        for pid in self.web_worker_pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[pid] = int(line.split()[1]) / 1024
        return peaks

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for name in ("beat", "worker", "web"):
            self.stop_process(name)
        self.processes.clear()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_stack(**options: object) -> Iterator[Stack]:
    """A freshly prepared stack, started, and stopped at the end (also after an error)."""
    stack = Stack(**options)  # type: ignore[arg-type]
    stack.prepare(fresh=True)
    with stack:
        yield stack


def database_url_for(name: str, base: str = DEFAULT_DATABASE_URL) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8100)))
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    parser.add_argument("--no-demo", action="store_true", help="do not create the demo accounts")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    args = parser.parse_args(argv)
    stack = Stack(port=args.port, threads=args.threads)
    # A plain `kill` stops the stack as Ctrl-C does, rather than orphaning its processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stack.prepare(fresh=args.fresh, demo=not args.no_demo)
    with stack:
        print(f"The stack is up: {stack.url}/ (logs in {stack.directory}); Ctrl-C stops it.")
        print(f"database {stack.database_url}, broker {stack.redis_url}")
        with contextlib.suppress(KeyboardInterrupt):
            while all(process.poll() is None for process in stack.processes.values()):
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
