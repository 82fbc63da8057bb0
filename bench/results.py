"""bench/RESULTS.md: what one run of ``python -m bench`` measured, on what, and how to redo it.

Written (overwritten) by every run: the date, the machine, the versions, the command line, a
table of the seven figures of issue 14 (what, value, baseline, ratio, goal, met), then one
section per figure with its medians, repetitions and percentiles.
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

NOT_RUN = "not run"


# The machine and the versions ---------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "cpu": cpu or "unknown",
        "cores": str(os.cpu_count()),
        "ram": ram or "unknown",
        "system": f"{platform.system()} {platform.release()}",
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def _package(name: str) -> str:
    for candidate in (name, f"{name}-binary"):
        try:
            return metadata.version(candidate)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def postgresql_version(database_url: str) -> str:
    try:
        import psycopg2

        from bench.stack import Stack

        dsn, _ = Stack(database_url=database_url)._server_dsn()
        connection = psycopg2.connect(**dsn)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                return str(cursor.fetchone()[0])
        finally:
            connection.close()
    except Exception as error:  # a version we cannot read is reported as such
        return f"unknown ({type(error).__name__})"


def redis_version(redis_url: str) -> str:
    try:
        import redis

        return str(redis.Redis.from_url(redis_url).info("server")["redis_version"])
    except Exception as error:
        return f"unknown ({type(error).__name__})"


def versions(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        "Python": platform.python_version(),
        "Django": _package("Django"),
        "PostgreSQL server": postgresql_version(database_url),
        "Redis server": redis_version(redis_url),
        "gunicorn": _package("gunicorn"),
        "argon2-cffi": _package("argon2-cffi"),
        "psycopg2": _package("psycopg2"),
        "Celery": _package("celery"),
    }


def git_revision() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# Formatting ---------------------------------------------------------------------------------


def _num(value, form: str = ".2f", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:{form}}{unit}"


def _list(values, form: str = ".2f") -> str:
    return ", ".join(_num(v, form) for v in values) if values else "-"


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def markdown_table(header: Sequence[str], body: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table: the header row, the separator, then a line a row, each
    cell as given."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in body),
    ]


def reproduce(name: str) -> str:
    return f'`make bench BENCH_ARGS="{name}"` (quicker: `make bench BENCH_ARGS="{name} --quick"`)'


# The table ------------------------------------------------------------------------------------


def rows(results: dict[str, object]) -> list[tuple[str, ...]]:
    """(number, what, value, baseline, ratio, goal, met) for each of the seven figures."""
    table = []
    r = results.get("signin_throughput")
    if r:
        table.append((
            "1", "Password sign-ins/s over HTTP (2 sync workers, 4 threads)",
            f"{r['signins_per_s']:.1f}/s (p50 {_num(r['p50_ms'], '.0f')} ms, "
            f"p95 {_num(r['p95_ms'], '.0f')} ms)",
            f"{r['hash_per_s']:.1f} check_password/s (2 processes)",
            f"{r['ratio']:.2f}", ">= 0.8", _met(r["ratio"] >= 0.8),
        ))  # fmt: skip
    else:
        table.append(("1", "Password sign-ins/s over HTTP", NOT_RUN, "", "", ">= 0.8", "-"))
    r = results.get("http_endpoints")
    if r:
        table.append((
            "2", "Endpoints that do not hash: worst saturation ratio; worst p99 at half load",
            f"{r['worst_ratio']:.2f} ({r['worst_ratio_endpoint']}); "
            f"p99 {_num(r['worst_p99_ms'], '.1f')} ms ({r['worst_p99_endpoint']})",
            f"GET /bench/bare/ {r['bare_rps']:.0f} requests/s",
            f"{r['worst_ratio']:.2f}", ">= 0.6; p99 < 50 ms",
            _met(r["worst_ratio"] >= 0.6 and r["worst_p99_ms"] < 50),
        ))  # fmt: skip
    else:
        table.append(
            ("2", "Endpoints that do not hash", NOT_RUN, "", "", ">= 0.6; p99 < 50 ms", "-")
        )
    r = results.get("signin_under_attack")
    if r:
        worst = r["cases"][r["worst_case"]]
        table.append((
            "3", "Legitimate sign-ins/s under a password spray (worst of 2x/5x, few/many IPs)",
            f"{worst['legit_under_per_s']:.1f}/s ({r['worst_case']}; repetitions "
            f"{_list(worst['reps_ratio'])}; legit p95 {_num(worst['p95_under_ms'], '.0f')} ms "
            f"under attack, {_num(worst['p95_without_ms'], '.0f')} ms without)",
            f"{worst['legit_without_per_s']:.1f}/s without the attack",
            f"{r['ratio']:.2f}", ">= 0.8", _met(r["ratio"] >= 0.8),
        ))  # fmt: skip
    else:
        table.append(("3", "Legitimate sign-ins under attack", NOT_RUN, "", "", ">= 0.8", "-"))
    r = results.get("delivery_latency")
    if r:
        table.append((
            "4", "Delivery: request's commit to the backend's send (median)",
            f"{_num(r['median_ms'], '.1f')} ms",
            f"{_num(r['baseline_ms'], '.1f')} ms (no-op Celery task, enqueue to start)",
            _num(r["ratio"]), "<= 1.5", _met(r["ratio"] is not None and r["ratio"] <= 1.5),
        ))  # fmt: skip
    else:
        table.append(("4", "Delivery latency", NOT_RUN, "", "", "<= 1.5", "-"))
    r = results.get("import_people")
    if r:
        ok = r["throughput_ratio"] >= 0.3 and r["import_s"] < 60
        table.append((
            "5", f"import_people, {r['rows']:,} rows into an empty table",
            f"{r['rows'] / r['import_s']:,.0f} rows/s ({r['import_s']:.1f} s)",
            f"{r['rows'] / r['bulk_s']:,.0f} rows/s (bulk_create, {r['bulk_s']:.1f} s)",
            f"{r['throughput_ratio']:.2f}", ">= 0.3 and < 60 s", _met(ok),
        ))  # fmt: skip
    else:
        table.append(("5", "import_people", NOT_RUN, "", "", ">= 0.3 and < 60 s", "-"))
    r = results.get("push_approval")
    if r:
        table.append((
            "6", "Push approval to the desktop proceeding (median)",
            f"{r['p50']:.2f} s", f"{r['baseline']:.2f} s (Continue pressed at once)",
            f"{r['ratio_baseline']:.1f}", "< 1.5 s", _met(r["p50"] < 1.5),
        ))  # fmt: skip
    else:
        table.append(("6", "Push approval", NOT_RUN, "", "", "< 1.5 s", "-"))
    r = results.get("memory")
    if r and r.get("max_mb") is not None:
        table.append((
            "7", "Peak RSS of a gunicorn worker after the load",
            f"{r['max_mb']:.0f} MiB", "", "", "< 200 MiB", _met(r["max_mb"] < 200),
        ))  # fmt: skip
    else:
        table.append(("7", "Peak RSS of a gunicorn worker", NOT_RUN, "", "", "< 200 MiB", "-"))
    return table


# The sections ---------------------------------------------------------------------------------


def section_signin(r: dict) -> list[str]:
    lines = [
        "## 1. Password sign-in throughput",
        "",
        f"{r['threads']} client threads for {r['duration']:g} s each POST a right password to "
        f"/login/ (a CSRF cookie and token, no session), over {r['accounts']} accounts without "
        "failures, against 2 gunicorn sync workers; a success is the redirect onward (to the "
        "second factor). Baseline: `check_password` with `portal.hashers."
        "PortalArgon2PasswordHasher` on a `make_password` hash, looped in 2 processes for the "
        "same duration. The two alternate in each repetition.",
        "",
        f"- Median: **{r['signins_per_s']:.1f} sign-ins/s** over **{r['hash_per_s']:.1f} "
        f"check_password/s** = **{r['ratio']:.2f}** (goal >= 0.8)",
        f"- Repetitions, sign-ins/s: {_list(r['reps_signins'], '.1f')}",
        f"- Repetitions, check_password/s: {_list(r['reps_hash'], '.1f')}",
        f"- Repetitions, ratio: {_list(r['reps_ratio'])}",
        f"- Latency of the successful sign-ins, all repetitions: p50 {_num(r['p50_ms'], '.0f')} "
        f"ms, p95 {_num(r['p95_ms'], '.0f')} ms, p99 {_num(r['p99_ms'], '.0f')} ms",
    ]
    if r.get("refused"):
        lines.append(f"- Answers that were not a sign-in: {r['refused']}")
    lines += ["", f"Reproduce: {reproduce('signin_throughput')}", ""]
    return lines


def section_endpoints(r: dict) -> list[str]:
    lines = [
        "## 2. Endpoints that do not hash",
        "",
        r.get("description", ""),
        "",
    ]
    lines += markdown_table(
        (
            "endpoint", "saturation requests/s", "bare requests/s", "ratio (median)",
            "ratio per rep", "half-load rate", "p50", "p99 at half load",
            "bare p99 at half load",
        ),
        [
            (
                name, f"{e['rps']:.0f}", f"{e['bare_rps']:.0f}", f"{e['ratio']:.2f}",
                _list(e["reps_ratio"]), f"{e['half_rate']:.0f}/s",
                f"{_num(e['half_p50_ms'], '.1f')} ms", f"{_num(e['half_p99_ms'], '.1f')} ms",
                f"{_num(e['bare_half_p99_ms'], '.1f')} ms",
            )
            for name, e in r["endpoints"].items()
        ],
    )  # fmt: skip
    lines += [""]
    for note in r.get("notes", []):
        lines.append(f"- {note}")
    lines += ["", f"Reproduce: {reproduce('http_endpoints')}", ""]
    return lines


def section_attack(r: dict) -> list[str]:
    lines = [
        "## 3. Sign-ins under a password spray",
        "",
        f"Legitimate people sign in open-loop at {r['legit_rate']:.1f}/s (25% of "
        f"{r['capacity_signins']:.1f} sign-ins/s measured without attack), each from their own "
        f"browser on 127.0.0.1 ({r['legit_accounts']} accounts), which completed a sign-in "
        "(password and the app's passcode) before the measurement and keeps every cookie but "
        "the session. Wrong passwords are sprayed open-loop at 2x and 5x the hash capacity "
        f"({r['hash_per_s']:.1f} check_password/s, figure 1's baseline), from 4 addresses "
        "(127.0.0.2-5) or from 4096 (a fresh block of 127.1.0.0/16 and beyond each window); "
        "each attacker address fetches the CSRF cookie and token once (`GET /login/`) and "
        "reuses them; targets are half real accounts that are not the legitimate people's, "
        f"half unknown names. Windows of {r['window_s']:g} s, with and without the attack "
        f"alternating, {r['repeat']} repetitions. A legitimate sign-in counts when the redirect "
        f"onward comes within {r['patience_s']:g} s of the moment it was due; its latency "
        "counts from that moment.",
        "",
    ]
    lines += markdown_table(
        (
            "case", "legit/s under attack", "legit/s without", "ratio (median)",
            "ratio per rep", "legit p50/p95 under attack", "without",
            "workers' CPU per window, attack / calm", "worker CPU per attacker attempt",
        ),
        [
            (
                f"{name} ({c['attack_rate']:.0f} attempts/s)", f"{c['legit_under_per_s']:.1f}",
                f"{c['legit_without_per_s']:.1f}", f"{c['ratio']:.2f}", _list(c["reps_ratio"]),
                f"{_num(c['p50_under_ms'], '.0f')} / {_num(c['p95_under_ms'], '.0f')} ms",
                f"{_num(c['p50_without_ms'], '.0f')} / {_num(c['p95_without_ms'], '.0f')} ms",
                f"{c['worker_cpu_under_s']:.1f} s / {c['worker_cpu_without_s']:.1f} s",
                f"{c['attacker_cpu_ms_per_attempt']:.1f} ms",
            )
            for name, c in r["cases"].items()
        ],
    )  # fmt: skip
    lines += ["", "What the attacker's requests were answered with, all repetitions:", ""]
    for name, c in r["cases"].items():
        lines.append(f"- {name}: {c['attempts']:,} attempts offered")
        for kind, count in c["answers"].items():
            lines.append(f"  - {count:,} x {kind}")
    lines += [
        "",
        "The workers' CPU is user + system time of the 2 gunicorn workers during a window "
        "(PostgreSQL's and the client's own are not in it); the cost per attempt is the "
        "difference between attack and calm windows divided by the attempts offered. The "
        "benchmark's own client process used a median of "
        + ", ".join(f"{c['client_cpu_s']:.1f} s ({name})" for name, c in r["cases"].items())
        + " of CPU per attack window, on the same cores.",
        "",
        f"Reproduce: {reproduce('signin_under_attack')}",
        "",
    ]
    return lines


def section_delivery(r: dict) -> list[str]:
    lines = [
        "## 4. Delivery latency",
        "",
        r.get("description", ""),
        "",
        f"- Median commit -> send: **{_num(r['median_ms'], '.1f')} ms**; no-op task enqueue -> "
        f"start: **{_num(r['baseline_ms'], '.1f')} ms**; ratio **{_num(r['ratio'])}** "
        "(goal <= 1.5)",
        f"- Repetitions, commit -> send medians (ms): {_list(r['reps_ms'], '.1f')}",
        f"- Repetitions, no-op medians (ms): {_list(r['reps_baseline_ms'], '.1f')}",
        f"- Repetitions, ratios: {_list(r['reps_ratio'])}",
        f"- Percentiles, commit -> send: p50 {_num(r['p50_ms'], '.1f')} ms, p95 "
        f"{_num(r['p95_ms'], '.1f')} ms, max {_num(r['max_ms'], '.1f')} ms; no-op: p50 "
        f"{_num(r['baseline_p50_ms'], '.1f')} ms, p95 {_num(r['baseline_p95_ms'], '.1f')} ms",
    ]
    for note in r.get("notes", []):
        lines.append(f"- {note}")
    lines += ["", f"Reproduce: {reproduce('delivery_latency')}", ""]
    return lines


def section_import(r: dict) -> list[str]:
    return [
        "## 5. import_people",
        "",
        f"{r['rows']:,} directory rows imported by `accounts.directory.people_import` into an "
        "empty person table, next to `Person.objects.bulk_create` of the same rows already "
        f"built, median of {len(r['reps_import_s'])} runs each.",
        "",
        f"- Import: {r['import_s']:.2f} s ({r['rows'] / r['import_s']:,.0f} rows/s); "
        f"bulk_create: {r['bulk_s']:.2f} s ({r['rows'] / r['bulk_s']:,.0f} rows/s); throughput "
        f"ratio **{r['throughput_ratio']:.2f}** (goal >= 0.3, and under 60 s)",
        f"- Re-import of the same file, every row unchanged: {r['reimport_s']:.2f} s",
        f"- Repetitions, import (s): {_list(r['reps_import_s'])}",
        f"- Repetitions, bulk_create (s): {_list(r['reps_bulk_s'])}",
        f"- Repetitions, unchanged re-import (s): {_list(r['reps_reimport_s'])}",
        "",
        f"Reproduce: {reproduce('import_people')}",
        "",
    ]


def section_push(r: dict) -> list[str]:
    return [
        "## 6. Push approval",
        "",
        "Seconds from the phone's approval being answered to the desktop (headless Chromium, "
        "the waiting page polling every 2 s) on the signed-in home page; baseline: the same "
        "navigation with Continue pressed at once (bench/README.md, push_approval).",
        "",
        f"- Approval -> home: p50 **{r['p50']:.2f} s**, p90 {r['p90']:.2f} s, max "
        f"{r['max']:.2f} s (goal: median under 1.5 s)",
        f"- Baseline p50 {r['baseline']:.2f} s; ratio {r['ratio_baseline']:.1f}; p50 over the "
        f"poll interval {r['ratio_poll']:.2f}",
        f"- A status poll: {r['status_rps']:,.0f} requests/s on one server thread against "
        f"{r['healthz_rps']:,.0f} for /healthz; about {r['pages']:,.0f} waiting pages per sync "
        "worker",
        f"- Rounds: {r.get('approvals', '?')}",
        "",
        f"Reproduce: {reproduce('push_approval')}",
        "",
    ]


def section_memory(r: dict) -> list[str]:
    peaks = ", ".join(f"pid {pid}: {mb:.0f} MiB" for pid, mb in r["peaks_mb"].items())
    return [
        "## 7. Memory",
        "",
        "Peak resident set (VmHWM) of each gunicorn worker of the stack, read after "
        f"{', '.join(r['after']) or 'no load'}.",
        "",
        f"- {peaks or 'no worker found'} (goal < 200 MiB each)",
        "- Before any load (the stack just started, /healthz served): "
        + (
            ", ".join(f"pid {pid}: {mb:.0f} MiB" for pid, mb in r.get("at_start_mb", {}).items())
            or "-"
        ),
        "",
        f"Reproduce: {reproduce('memory signin_throughput')} (the peak after figure 1's load)",
        "",
    ]


SECTIONS = (
    ("signin_throughput", section_signin),
    ("http_endpoints", section_endpoints),
    ("signin_under_attack", section_attack),
    ("delivery_latency", section_delivery),
    ("import_people", section_import),
    ("push_approval", section_push),
    ("memory", section_memory),
)


def render(results: dict[str, object], *, argv: list[str], started: float, args=None) -> str:
    from bench.stack import database_url_for

    stack = results.get("stack") or {}
    database_url = database_url_for(stack.get("database", "postgres"))
    redis_url = stack.get("redis", "redis://127.0.0.1:6379/5")
    box = machine()
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench`); every run overwrites it. Each figure is "
        "a ratio to a baseline measured in the same run on the same machine (bench/README.md).",
        "",
        f"- Date: {datetime.fromtimestamp(started, UTC):%Y-%m-%d %H:%M} UTC, "
        f"{time.time() - started:.0f} s",
        f"- Machine: {box['cpu']}, {box['cores']} cores, {box['ram']} RAM, {box['system']}; "
        f"load average at the end {box['load']} (the machine may be shared)",
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions(database_url, redis_url).items()),
        f"- Code: {git_revision()}",
        f"- Command: `{shlex.join(argv)}`"
        + (" (`--quick`: shorter runs, fewer repetitions)" if args and args.quick else ""),
        "",
    ]
    lines += markdown_table(
        ("#", "what", "measured", "baseline", "ratio", "goal", "met"),
        # A cell's own "|" would end it early: the figures' cells have "/" instead.
        [tuple(cell.replace("|", "/") for cell in row) for row in rows(results)],
    )
    lines.append("")
    for name, section in SECTIONS:
        if results.get(name):
            try:
                lines += section(results[name])
            except (KeyError, TypeError) as error:
                lines += [f"## {name}", "", f"(figures incomplete: {error!r})", ""]
    if results.get("whitepages"):
        lines += ["## whitepages", "", f"{results['whitepages']}", ""]
    if results.get("captcha_ocr"):
        c = results["captcha_ocr"]
        lines += ["## captcha_ocr", "", f"Solved {c['solved']:.2%} (bar {c['bar']:.0%}).", ""]
    return "\n".join(lines)


def write(path: Path, results: dict[str, object], *, argv, started: float, args=None) -> Path:
    path.write_text(render(results, argv=list(argv), started=started, args=args) + "\n")
    return path


if __name__ == "__main__":
    sys.exit("bench/results.py is written by python -m bench")
