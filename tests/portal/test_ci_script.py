""".ci/run's service checks, sourced into bash with its functions only (nothing is started).

The machine's own PostgreSQL and Redis are left alone: the checks are pointed at small local
stand-ins, with PATH reduced so that the plain-Python fallbacks are the ones exercised.
"""

from __future__ import annotations

import shutil
import socket
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "run"
BASH = shutil.which("bash") or "/bin/bash"


class PongHandler(socketserver.BaseRequestHandler):
    def handle(self):
        if self.request.recv(64).startswith(b"PING"):
            self.request.sendall(b"+PONG\r\n")


@pytest.fixture
def fake_redis():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), PongHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def bare_path(tmp_path) -> str:
    """A PATH with python3 and sleep only: no pg_isready, redis-cli, pg_ctlcluster, redis-server."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "sleep").symlink_to(shutil.which("sleep"))
    return str(bin_dir)


def ci(snippet: str, path: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Source .ci/run, set ``variables`` as shell variables, then run ``snippet``."""
    assignments = "".join(f"{name}={value}\n" for name, value in variables.items())
    return subprocess.run(
        [BASH, "-c", f"source {SCRIPT}\n{assignments}{snippet}"],
        env={"PATH": path, "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_script_is_valid_bash():
    result = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr


def test_redis_check_falls_back_to_a_socket_ping(bare_path, fake_redis, closed_port):
    assert ci("redis_ready", bare_path, REDIS_PORT=str(fake_redis)).returncode == 0
    assert ci("redis_ready", bare_path, REDIS_PORT=str(closed_port)).returncode != 0


def test_postgres_check_falls_back_to_a_socket_connect(bare_path, fake_redis, closed_port):
    assert ci("postgres_ready", bare_path, PG_PORT=str(fake_redis)).returncode == 0
    assert ci("postgres_ready", bare_path, PG_PORT=str(closed_port)).returncode != 0


def test_a_running_redis_is_left_alone(bare_path, fake_redis):
    result = ci("start_redis", bare_path, REDIS_PORT=str(fake_redis))

    assert result.returncode == 0, result.stderr
    assert "Redis is up" in result.stdout


def test_a_service_that_cannot_start_fails_the_run_with_a_reason(bare_path, closed_port):
    result = ci("start_redis", bare_path, REDIS_PORT=str(closed_port))

    assert result.returncode != 0
    assert "redis-server is missing" in result.stderr


def test_waiting_for_a_service_is_bounded(bare_path, closed_port):
    result = ci(
        "wait_for Redis redis_ready",
        bare_path,
        REDIS_PORT=str(closed_port),
        SERVICE_WAIT_SECONDS="1",
    )

    assert result.returncode != 0
    assert "Redis is not ready after 1s" in result.stderr
