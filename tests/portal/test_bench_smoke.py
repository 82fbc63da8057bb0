"""The HTTP benchmarks (``make bench``) run end to end against a real stack, very briefly.

Nothing here judges a figure or a duration: the test checks that each benchmark of the stack
produces figures of the shape bench/RESULTS.md is written from, and that the file is written.
It needs the real services (PostgreSQL and Redis, as in CI); without them it is skipped.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from bench import __main__ as bench_main
from bench import results as report

PORT = int(os.environ.get("BENCH_SMOKE_PORT", "8350"))
DATABASE = os.environ.get("BENCH_SMOKE_DATABASE", "test_portal_bench_smoke")
REDIS_DB = int(os.environ.get("BENCH_SMOKE_REDIS_DB", "6"))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _services_missing() -> str:
    from bench.stack import DEFAULT_DATABASE_URL

    database = urlsplit(DEFAULT_DATABASE_URL)
    if not _reachable(database.hostname or "127.0.0.1", database.port or 5432):
        return "PostgreSQL is not running"
    if not _reachable("127.0.0.1", 6379):
        return "Redis is not running"
    if _reachable("127.0.0.1", PORT):
        return f"port {PORT} is taken (a benchmark running?)"
    return ""


@pytest.fixture(scope="module")
def figures():
    missing = _services_missing()
    if missing:
        pytest.skip(f"the stack cannot run here: {missing}")
    args = bench_main.parse(
        [
            "signin_throughput", "http_endpoints", "signin_under_attack", "delivery_latency",
            "memory", "--quick", "--reps", "1", "--duration", "1", "--attack-window", "1",
            "--endpoint-window", "0.5", "--messages", "2", "--batch", "4",
            "--port", str(PORT), "--database", DATABASE, "--redis-db", str(REDIS_DB),
        ]
    )  # fmt: skip
    return args, bench_main.run_stack_benches(args)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_signin_throughput_figures(figures):
    signin = figures[1]["signin_throughput"]
    for key in ("signins_per_s", "hash_per_s", "ratio"):
        assert _number(signin[key]), key
    assert len(signin["reps_ratio"]) == 1
    assert signin["hash_per_s"] > 0


def test_endpoint_figures(figures):
    endpoints = figures[1]["http_endpoints"]
    assert len(endpoints["endpoints"]) == 4
    for name, figure in endpoints["endpoints"].items():
        for key in ("rps", "bare_rps", "ratio", "half_rate", "half_p99_ms"):
            assert _number(figure[key]), (name, key)
        assert len(figure["reps_ratio"]) == 1
    assert endpoints["worst_ratio_endpoint"] in endpoints["endpoints"]


def test_under_attack_figures(figures):
    attack = figures[1]["signin_under_attack"]
    assert set(attack["cases"]) == {
        "2x, few addresses", "5x, few addresses", "2x, many addresses", "5x, many addresses",
    }  # fmt: skip
    for name, case in attack["cases"].items():
        assert _number(case["ratio"]), name
        # Every attempt the attacker made was answered or counted as unanswered.
        posts = sum(n for kind, n in case["answers"].items() if kind.startswith("POST"))
        assert posts == case["attempts"], name


def test_delivery_and_memory_figures(figures):
    delivery = figures[1]["delivery_latency"]
    assert _number(delivery["median_ms"]) and _number(delivery["baseline_ms"])
    assert delivery["messages"] == 2
    memory = figures[1]["memory"]
    assert len(memory["peaks_mb"]) == 2  # the two gunicorn workers
    assert all(_number(mb) and mb > 0 for mb in memory["peaks_mb"].values())


def test_results_file_is_written(figures, tmp_path):
    args, results = figures
    path = report.write(
        tmp_path / "RESULTS.md", results, argv=["python", "-m", "bench"], started=0.0, args=args
    )
    text = path.read_text()
    assert "| # | what | measured | baseline | ratio | goal | met |" in text
    table = text.split("| # | what | measured | baseline | ratio | goal | met |", 1)[1]
    table = table.split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split(" | ")[0] for row in rows] == [f"| {n}" for n in range(1, 8)]
    # The figures of the stack were measured; import_people and push_approval were not run.
    measured = {row.split(" | ")[0][2:]: row for row in rows}
    for number in ("1", "2", "3", "4", "7"):
        assert report.NOT_RUN not in measured[number], number
    for number in ("5", "6"):
        assert report.NOT_RUN in measured[number], number
    assert "## 1. Password sign-in throughput" in text
