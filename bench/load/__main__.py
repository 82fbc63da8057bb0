"""The load test on the production-like stack: ``make load`` (``python -m bench.load``).

    python -m bench.load [--users 200] [--spawn-rate 20] [--run-time 2m] [--port 8200]

Starts its own stack (bench/stack.py: gunicorn with 2 sync workers, a Celery worker and beat,
outbox delivery) on ``--port`` against a fresh database (``--database``, dropped and created)
and its own Redis database, creates the accounts (bench/load/people.py), runs locust headless
(bench/load/locustfile.py) for ``--run-time`` with ``--users`` simulated users (two attackers
of ``--attack-concurrency`` users each, the others people), waits for the messages to leave,
then checks:

- no 5xx anywhere: in the answers locust saw, and in the gunicorn log (errors, tracebacks,
  worker timeouts and restarts); and every request answered;
- every step of the people answered as a person expects (no refused password or passcode);
- every code the people asked for was sent exactly once: per account, as many SafeCode
  messages for the password change as the codes the clients recorded, each sent and with
  exactly one outbox row (and every other message of the load's accounts too);
- the attackers throttled: their answers turn into the CAPTCHA or the throttle's 429, and the
  attempts that reached a password check (``SignInFailure`` rows of their address) stay
  within the portal's limits;
- no legitimate person locked out (``User.locked_at`` empty for every person);
- the peak RSS of each gunicorn worker under 200 MB.

It writes bench/LOAD.md (``--report``) and the CSVs and logs under var/load/ (``--out``), and
exits with status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.stack import BASE_DIR, DEFAULT_DATABASE_URL, Stack, database_url_for

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
DEFAULT_OUT = BASE_DIR / "var" / "load"
DEFAULT_REPORT = BASE_DIR / "bench" / "LOAD.md"
ATTACKER_IPS = {"127.0.0.66": "attacker", "127.0.0.67": "attacker with CAPTCHAs solved"}
RSS_LIMIT_MB = 200.0
DRAIN_TIMEOUT = 150.0  # beat's sweep runs every minute
CODE_PURPOSE = "safecode.password_change"
# What the gunicorn log says when a request failed on the server.
SERVER_ERRORS = re.compile(
    r"Internal Server Error|Traceback \(most recent call last\)|WORKER TIMEOUT|"
    r"Worker \(pid:\d+\) (?:was sent|exited)|\[CRITICAL\]|Error handling request"
)


@dataclass
class Options:
    users: int = 200
    spawn_rate: float = 20
    run_time: str = "2m"
    port: int = 8200
    database: str = "portal_load"
    server: str = DEFAULT_DATABASE_URL  # the PostgreSQL server (any database URL on it)
    redis_url: str = "redis://127.0.0.1:6379/4"
    out: Path = DEFAULT_OUT
    report: Path | None = DEFAULT_REPORT
    change_share: float = 0.25
    attack_rate: float = 10.0
    attack_concurrency: int = 3  # simulated users per attacker (locust's fixed_count)
    think: tuple[float, float] = (1.0, 4.0)
    pause: tuple[float, float] = (5.0, 15.0)
    targets: int = 20
    directory: int = 2000
    drop_database: bool = False  # drop the database at the end (the smoke test's)


@dataclass
class Check:
    name: str
    passed: bool
    figures: str


@dataclass
class Result:
    options: Options
    checks: list[Check] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    @property
    def attackers(self) -> int:
        return len(ATTACKER_IPS) * self.options.attack_concurrency

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)


def seconds(run_time: str) -> float:
    """locust's run time (``2m``, ``90s``, ``1h30m``) in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", run_time)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != run_time.replace(" ", ""):
        raise ValueError(f"run time {run_time!r}: use e.g. 2m, 90s, 1h30m")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


# The run ------------------------------------------------------------------------------------


def run(options: Options) -> Result:
    result = Result(options)
    if options.users <= result.attackers:
        raise ValueError(f"--users must be more than the {result.attackers} attackers' users")
    duration = seconds(options.run_time)
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("records-*.jsonl"), *out.glob("summary-*.json"), *out.glob("load_*")]:
        stale.unlink()
    stack_dir = out / "stack"
    for name in ("web", "worker", "beat"):
        with contextlib.suppress(FileNotFoundError):
            (stack_dir / f"{name}.log").unlink()
    stack = Stack(
        port=options.port,
        database_url=database_url_for(options.database, base=options.server),
        redis_url=options.redis_url,
        directory=stack_dir,
    )
    facts = result.facts
    facts["started"] = datetime.now(UTC)
    facts["web_workers"] = stack.web_workers
    facts["celery_concurrency"] = stack.celery_concurrency
    facts["machine"] = machine()
    facts["load_before"] = os.getloadavg()
    print(f"load: preparing the stack (database {options.database}, port {options.port})")
    clock = time.monotonic()
    stack.prepare(fresh=True)
    people_file = out / "people.json"
    people = options.users - result.attackers
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load.people",
            f"--people={people}",
            f"--targets={options.targets}",
            f"--directory={options.directory}",
            f"--out={people_file}",
        ],
        cwd=BASE_DIR,
        env=stack.env(),
        check=True,
    )
    data = json.loads(people_file.read_text())
    facts["prepare_s"] = time.monotonic() - clock
    try:
        stack.start()
        facts["versions"] = versions(stack)
        sampler = Sampler(backends=lambda: postgres_backends(stack))
        sampler.start()
        stack_cpu_before = sampler.cpu_of(stack_pids(stack))
        print(f"load: {options.users} users for {options.run_time} against {stack.url}")
        code, locust_cpu = run_locust(options, stack, people_file)
        facts["locust_exit"] = code
        facts["drain_s"] = drain(stack, data)
        sampler.stop()
        facts["machine_busy"] = sampler.busy()
        facts["stack_cpu_s"] = sampler.cpu_of(stack_pids(stack)) - stack_cpu_before
        facts["locust_cpu_s"] = locust_cpu
        facts["postgres_cpu_s"] = sampler.postgres_cpu_s
        facts["wall_s"] = sampler.elapsed
        facts["peak_rss"] = stack.peak_rss_mb()
        facts["load_after"] = os.getloadavg()
        result.steps = read_steps(out)
        evaluate(result, stack=stack, data=data, duration=duration)
    finally:
        stack.stop()
        if options.drop_database:
            stack._drop_database()
    facts["finished"] = datetime.now(UTC)
    if options.report is not None:
        options.report.write_text(report(result))
        print(f"load: report written to {options.report}")
    return result


def run_locust(options: Options, stack: Stack, people_file: Path) -> tuple[int, float]:
    """Run locust to the end; its exit status and the CPU seconds it used."""
    environment = {
        **os.environ,
        "LOAD_PEOPLE": str(people_file),
        "LOAD_DATABASE_URL": stack.database_url,
        "LOAD_RECORDS": str(options.out),
        "LOAD_CHANGE_SHARE": str(options.change_share),
        "LOAD_ATTACK_RATE": str(options.attack_rate),
        "LOAD_ATTACK_CONCURRENCY": str(options.attack_concurrency),
        "LOAD_THINK": ",".join(map(str, options.think)),
        "LOAD_PAUSE": ",".join(map(str, options.pause)),
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(options.users),
        "-r",
        str(options.spawn_rate),
        "--run-time",
        options.run_time,
        "--host",
        stack.url,
        "--csv",
        str(options.out / "load"),
        "--only-summary",
        # Users finish the step they are in (a code asked for is recorded with its answer).
        "--stop-timeout",
        "60",
        "--loglevel",
        "WARNING",
    ]
    with (options.out / "locust.log").open("w") as log:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime


def drain(stack: Stack, data: dict) -> float:
    """Wait until no message of the load's accounts is still waiting to be sent."""
    users = [a["user_id"] for a in data["people"] + data["targets"]]
    start = time.monotonic()
    while time.monotonic() - start < DRAIN_TIMEOUT:
        waiting = query(
            stack,
            "SELECT count(*) FROM delivery_message"
            " WHERE user_id = ANY(%s) AND status IN ('queued', 'sending')",
            (users,),
        )[0][0]
        if not waiting:
            break
        time.sleep(1)
    return time.monotonic() - start


# The checks -----------------------------------------------------------------------------------


def evaluate(result: Result, *, stack: Stack, data: dict, duration: float) -> None:
    out, checks, facts = result.options.out, result.checks, result.facts
    summary = read_summaries(out)
    statuses = summary["statuses"]
    limits = data["limits"]
    people = {a["user_id"]: a for a in data["people"]}
    targets = {a["user_id"]: a for a in data["targets"]}

    # No 5xx, every request answered.
    server_errors = {
        name: sum(n for status, n in counts.items() if status.startswith("5"))
        for name, counts in statuses.items()
    }
    server_errors = {name: n for name, n in server_errors.items() if n}
    unanswered = {
        name: sum(n for status, n in counts.items() if not status.isdigit() and status != "ok")
        for name, counts in statuses.items()
    }
    unanswered = {name: n for name, n in unanswered.items() if n}
    log_lines = [line for line in stack.log("web").splitlines() if SERVER_ERRORS.search(line)]
    boots = len(re.findall(r"Booting worker", stack.log("web")))
    total = sum(sum(counts.values()) for counts in statuses.values())
    facts["requests"] = total
    facts["server_error_lines"] = log_lines[:20]
    checks.append(
        Check(
            "no 5xx",
            not server_errors and not log_lines and boots <= stack.web_workers,
            f"{sum(server_errors.values())} answers 5xx of {total} "
            f"({', '.join(f'{k}: {v}' for k, v in server_errors.items()) or 'none'}); "
            f"gunicorn log: {len(log_lines)} error lines, {boots} workers booted "
            f"for {stack.web_workers}",
        )
    )
    checks.append(
        Check(
            "every request answered",
            not unanswered,
            f"{sum(unanswered.values())} requests without an answer (timeout, reset)"
            + (f": {unanswered}" if unanswered else ""),
        )
    )

    # Every step of the people answered as a person expects (a refused password or passcode,
    # a CAPTCHA answer or a code not accepted, a redirect elsewhere).
    failed_steps = {
        row["Name"]: int(row["Failure Count"])
        for row in result.steps
        if row["Name"] != "Aggregated"
        and not row["Name"].startswith("attack")
        and int(row["Failure Count"])
    }
    reasons = [
        f"{row['Name']}: {row['Error']} ({row['Occurrences']})"
        for row in read_csv(out / "load_failures.csv")
        if not row["Name"].startswith("attack")
    ]
    checks.append(
        Check(
            "no step of a person failed",
            not failed_steps,
            f"{sum(failed_steps.values())} failed steps"
            + (f": {'; '.join(reasons[:10])}" if reasons else ""),
        )
    )

    # Every code asked for sent exactly once.
    records = read_records(out)
    asked = collections.Counter(r["user_id"] for r in records if r["issued"] is True)
    unknown = collections.Counter(r["user_id"] for r in records if r["issued"] is None)
    refused = sum(1 for r in records if r["issued"] is False)
    ids = list(people) + list(targets)
    messages = query(
        stack,
        "SELECT m.id, m.user_id, m.purpose, m.status, count(o.id) FROM delivery_message m"
        " LEFT JOIN delivery_outboxentry o ON o.message_id = m.id"
        " WHERE m.user_id = ANY(%s) GROUP BY m.id",
        (ids,),
    )
    codes = [m for m in messages if m[2] == CODE_PURPOSE]
    per_user = collections.Counter(m[1] for m in codes)
    mismatched = [
        user
        for user in set(asked) | set(per_user) | set(unknown)
        if not asked[user] <= per_user[user] <= asked[user] + unknown[user]
    ]
    not_once = [m for m in codes if m[3] != "sent" or m[4] != 1]
    others = [m for m in messages if m[2] != CODE_PURPOSE]
    others_not_once = [m for m in others if m[3] != "sent" or m[4] != 1]
    checks.append(
        Check(
            "every code sent exactly once",
            bool(asked) and not mismatched and not not_once and not refused,
            f"{sum(asked.values())} codes asked for by {len(asked)} people "
            f"({sum(unknown.values())} unanswered, {refused} refused); {len(codes)} SafeCode "
            f"messages; accounts whose count differs: {len(mismatched)}; messages not sent "
            f"exactly once: {len(not_once)} "
            f"(outbox rows {collections.Counter(m[4] for m in codes)})",
        )
    )
    checks.append(
        Check(
            "every other message sent exactly once",
            not others_not_once,
            f"{len(messages) - len(codes)} other messages of the load's accounts (notices); "
            f"not sent exactly once: {len(others_not_once)}",
        )
    )
    facts["outbox_rows"] = sum(m[4] for m in messages)

    # The attackers throttled.
    failures = dict(
        query(
            stack,
            "SELECT ip::text, count(*) FROM accounts_signinfailure"
            " WHERE ip = ANY(%s::inet[]) GROUP BY ip",
            (list(ATTACKER_IPS),),
        )
    )
    failures = {ip.split("/")[0]: n for ip, n in failures.items()}
    bounds = {
        "127.0.0.66": limits["captcha_ip_failures"]
        * math.ceil(duration / limits["captcha_window_s"]),
        "127.0.0.67": limits["ip_failure_limit"]
        * math.ceil(duration / limits["ip_failure_window_s"]),
    }
    attack = summary["attack"]
    for ip, who in ATTACKER_IPS.items():
        outcomes = attack.get(ip, {})
        attempts = sum(outcomes.values())
        stopped = outcomes.get("captcha", 0) + outcomes.get("throttled", 0)
        # The attacker's requests in flight when the limit is reached may pass it.
        bound = bounds[ip] + result.options.attack_concurrency
        checked = failures.get(ip, 0)
        answer = "CAPTCHA" if ip == "127.0.0.66" else "429 throttle"
        expected = outcomes.get("captcha" if ip == "127.0.0.66" else "throttled", 0)
        checks.append(
            Check(
                f"{who} throttled",
                attempts > bound
                and checked <= bound
                and stopped >= attempts - bound
                and expected > 0,
                f"{attempts} attempts from {ip}: {checked} reached a password check "
                f"(SignInFailure rows; bound {bound}), {stopped} stopped before it "
                f"({outcomes.get('captcha', 0)} CAPTCHA, {outcomes.get('throttled', 0)} 429), "
                f"{expected} answered with the {answer}; answers: {dict(outcomes)}",
            )
        )

    # Nobody locked out.
    locked = query(
        stack,
        "SELECT id, username FROM accounts_user WHERE id = ANY(%s) AND locked_at IS NOT NULL",
        (ids,),
    )
    people_locked = [name for user, name in locked if user in people]
    second_factor_failures = query(
        stack,
        "SELECT coalesce(sum(failed_count), 0) FROM twofactor_profile WHERE user_id = ANY(%s)",
        (list(people),),
    )[0][0]
    signed_in = statuses.get("sign-in: passcode", {}).get("302", 0)
    checks.append(
        Check(
            "nobody locked out",
            not people_locked and signed_in > 0,
            f"{len(people_locked)} of {len(people)} people locked"
            + (f" ({', '.join(people_locked[:10])})" if people_locked else "")
            + f"; {signed_in} sign-ins completed; second-factor failures counted for people: "
            f"{second_factor_failures}; targets locked by the attack: "
            f"{len(locked) - len(people_locked)} of {len(targets)}",
        )
    )

    # Memory.
    peaks = facts["peak_rss"]
    checks.append(
        Check(
            f"gunicorn worker peak RSS under {RSS_LIMIT_MB:.0f} MB",
            bool(peaks) and max(peaks.values()) < RSS_LIMIT_MB,
            ", ".join(f"pid {pid}: {mb:.1f} MB" for pid, mb in sorted(peaks.items()))
            or "no worker found",
        )
    )
    facts["changes"] = statuses.get("change: new password", {}).get("302", 0)
    facts["signed_in"] = signed_in


def read_summaries(out: Path) -> dict:
    merged = {"statuses": collections.defaultdict(collections.Counter), "attack": {}}
    found = list(out.glob("summary-*.json"))
    if not found:
        raise RuntimeError(f"locust wrote no summary in {out}: see {out / 'locust.log'}")
    for path in found:
        summary = json.loads(path.read_text())
        for name, counts in summary["statuses"].items():
            merged["statuses"][name].update(counts)
        for ip, counts in summary["attack"].items():
            merged["attack"].setdefault(ip, collections.Counter()).update(counts)
    return merged


def read_records(out: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in out.glob("records-*.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def read_steps(out: Path) -> list[dict]:
    return read_csv(out / "load_stats.csv")


def read_csv(path: Path) -> list[dict]:
    import csv

    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def query(stack: Stack, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg2

    connection = psycopg2.connect(stack.database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


# The machine ------------------------------------------------------------------------------------


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    mem = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
    return {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": int(mem.group(1)) / 1024**2 if mem else 0,
        "kernel": platform.release(),
    }


def versions(stack: Stack) -> dict:
    import django
    import redis

    return {
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "PostgreSQL": query(stack, "SHOW server_version")[0][0],
        "Redis": redis.Redis.from_url(stack.redis_url).info("server")["redis_version"],
        "gunicorn": importlib.metadata.version("gunicorn"),
        "Celery": importlib.metadata.version("celery"),
        "locust": importlib.metadata.version("locust"),
    }


class Sampler(threading.Thread):
    """The machine's CPU use while the load runs (every process, not only the stack's), and
    that of the PostgreSQL backends serving the stack's database (``backends``, called every
    two seconds: backends come and go as connections reach their maximum age)."""

    def __init__(self, backends=None) -> None:
        super().__init__(daemon=True)
        self.halt = threading.Event()
        self.first = self._stat()
        self.last = self.first
        self.loads: list[float] = []
        self.backends = backends
        self.backend_cpu: dict[int, tuple[float, float]] = {}  # pid: (first seen, last seen)
        self.start_time = time.monotonic()
        self.elapsed = 0.0

    @staticmethod
    def _stat() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    def run(self) -> None:
        self._sample_backends()
        while not self.halt.wait(2):
            self.loads.append(os.getloadavg()[0])
            self._sample_backends()

    def _sample_backends(self) -> None:
        if self.backends is None:
            return
        with contextlib.suppress(Exception):
            for pid in self.backends():
                cpu = self.cpu_of([pid])
                if cpu:
                    first = self.backend_cpu.get(pid, (cpu if not self.loads else 0.0, cpu))[0]
                    self.backend_cpu[pid] = (first, cpu)

    @property
    def postgres_cpu_s(self) -> float:
        return sum(last - first for first, last in self.backend_cpu.values())

    def stop(self) -> None:
        self.halt.set()
        self.join()
        self.last = self._stat()
        self.elapsed = time.monotonic() - self.start_time

    def busy(self) -> dict:
        busy = self.last[0] - self.first[0]
        total = self.last[1] - self.first[1]
        return {
            "busy": busy / total if total else 0.0,
            "busy_cpu_s": busy / os.sysconf("SC_CLK_TCK"),
            "load_max": max(self.loads, default=0.0),
            "load_mean": sum(self.loads) / len(self.loads) if self.loads else 0.0,
        }

    @staticmethod
    def cpu_of(pids: list[int]) -> float:
        ticks = 0
        for pid in pids:
            with contextlib.suppress(OSError, IndexError):
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(stat[11]) + int(stat[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")


def stack_pids(stack: Stack) -> list[int]:
    """The stack's processes and their children (gunicorn and Celery workers)."""
    roots = {process.pid for process in stack.processes.values()}
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return sorted(found)


def postgres_backends(stack: Stack) -> list[int]:
    """The PostgreSQL backends serving the stack's database now."""
    return [
        row[0]
        for row in query(
            stack,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()",
        )
    ]


# The report -------------------------------------------------------------------------------------


def report(result: Result) -> str:
    options, facts = result.options, result.facts
    m = facts["machine"]
    busy = facts.get("machine_busy", {})
    wall = facts.get("wall_s", 0) or 1
    cores = m["cores"] or 1
    ours = facts.get("stack_cpu_s", 0) + facts.get("locust_cpu_s", 0)
    pg = facts.get("postgres_cpu_s", 0)
    others = max(busy.get("busy_cpu_s", 0) - ours - pg, 0)
    lines = [
        "# Load test: `make load`",
        "",
        "Written by `python -m bench.load` (bench/load/); see bench/load/README.md for what the",
        "simulated people and attackers do and how each check is counted.",
        "",
        f"**Result: {'PASS' if result.passed else 'FAIL'}** "
        f"({sum(c.passed for c in result.checks)} of {len(result.checks)} checks pass)",
        "",
        "## Run",
        "",
        f"- Date: {facts['started']:%Y-%m-%d %H:%M} UTC to {facts['finished']:%H:%M} UTC",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.1f} GiB RAM, "
        f"Linux {m['kernel']}",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in facts.get('versions', {}).items())}",
        f"- Stack: gunicorn {facts['web_workers']} sync workers (1 thread), Celery worker "
        f"(prefork, concurrency {facts['celery_concurrency']}) and beat, PostgreSQL and Redis "
        "on the same machine, outbox delivery; production "
        "settings (`portal.settings.stack`): two-factor for everyone, Argon2id m=19 MiB t=2 p=1",
        f"- Parameters: {options.users} users ({options.users - result.attackers} people, "
        f"{len(ATTACKER_IPS)} attackers of {options.attack_concurrency} users each), "
        f"spawn rate {options.spawn_rate}/s, run time {options.run_time}, "
        f"{options.change_share:.0%} of the people change their password, "
        f"{options.attack_rate:g} attempts/s per attacker, think time "
        f"{options.think[0]:g}-{options.think[1]:g} s between pages, "
        f"{options.pause[0]:g}-{options.pause[1]:g} s between sessions; "
        f"{options.targets} target accounts, {options.directory} extra directory entries",
        f"- Machine load (shared with other work): load average "
        f"{facts['load_before'][0]:.2f} before, mean {busy.get('load_mean', 0):.2f} and "
        f"max {busy.get('load_max', 0):.2f} during, {facts.get('load_after', (0,))[0]:.2f} "
        f"after; CPU busy {busy.get('busy', 0):.0%} of {cores} cores over {wall:.0f} s: "
        f"stack {facts.get('stack_cpu_s', 0) / wall / cores:.0%}, locust "
        f"{facts.get('locust_cpu_s', 0) / wall / cores:.0%}, PostgreSQL backends of the "
        f"stack {pg / wall / cores:.0%}, everything else (other work on the machine, "
        f"shared PostgreSQL and Redis) {others / wall / cores:.0%}",
        f"- Preparation {facts.get('prepare_s', 0):.0f} s; messages drained "
        f"{facts.get('drain_s', 0):.0f} s after the load; locust exit status "
        f"{facts.get('locust_exit')}",
        "",
        "## Checks",
        "",
        "| Check | Result | Figures |",
        "|---|---|---|",
    ]
    for check in result.checks:
        verdict = "pass" if check.passed else "**FAIL**"
        lines.append(f"| {check.name} | {verdict} | {check.figures} |")
    if facts.get("server_error_lines"):
        lines += ["", "Server errors in the gunicorn log:", "", "```"]
        lines += facts["server_error_lines"]
        lines += ["```"]
    lines += [
        "",
        "## Per step",
        "",
        "Throughput over the whole run, response times in milliseconds (locust's figures; "
        "OUTBOX rows are the time from asking for a code to its outbox row, as the person "
        "waits for the phone or inbox).",
        "",
        "| Step | Requests | Failures | Req/s | p50 | p95 | p99 | Max |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in result.steps:
        label = row["Name"] if row["Type"] != "" else "All"
        if row["Name"] == "Aggregated":
            label = "**All steps**"
        lines.append(
            f"| {label} | {row['Request Count']} | {row['Failure Count']} | "
            f"{float(row['Requests/s']):.2f} | {row['50%']} | {row['95%']} | {row['99%']} | "
            f"{float(row['Max Response Time']):.0f} |"
        )
    lines += [
        "",
        f"Sign-ins completed (password and passcode): {facts.get('signed_in', 0)} "
        f"({facts.get('signed_in', 0) / seconds(options.run_time):.2f}/s); password changes "
        f"completed: {facts.get('changes', 0)}; outbox rows written: "
        f"{facts.get('outbox_rows', 0)}. The stack's processes used "
        f"{facts.get('stack_cpu_s', 0):.0f} CPU seconds (gunicorn and Celery) and its "
        f"PostgreSQL backends {pg:.0f} for {facts.get('requests', 0)} requests: "
        f"{1000 * (facts.get('stack_cpu_s', 0) + pg) / max(facts.get('requests', 0), 1):.1f} ms "
        "of CPU per request on average, a figure less sensitive than the response times to "
        "what else the machine runs.",
        "",
        "## Memory",
        "",
        "Peak RSS (VmHWM) of each gunicorn worker after the load: "
        + (
            ", ".join(f"{mb:.1f} MB" for _, mb in sorted(facts.get("peak_rss", {}).items()))
            or "none"
        )
        + f" (limit {RSS_LIMIT_MB:.0f} MB).",
        "",
        f"Files under {shown_path(options.out)}/: load_stats.csv, load_stats_history.csv, "
        "load_failures.csv, load_exceptions.csv, locust.log, records-*.jsonl, stack/web.log.",
        "",
    ]
    return "\n".join(lines)


def shown_path(path: Path) -> Path:
    return path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--users", type=int, default=200, help="simulated users (2 attackers)")
    parser.add_argument("--spawn-rate", type=float, default=20, help="users started a second")
    parser.add_argument("--run-time", default="2m", help="e.g. 2m, 90s")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--database", default="portal_load", help="dropped and created")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4", help="flushed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--change-share", type=float, default=0.25)
    parser.add_argument("--attack-rate", type=float, default=10.0, help="attempts/s each")
    parser.add_argument(
        "--attack-concurrency", type=int, default=3, help="simulated users per attacker"
    )
    parser.add_argument("--think", default="1,4", help="seconds between pages: min,max")
    parser.add_argument("--pause", default="5,15", help="seconds between sessions: min,max")
    args = parser.parse_args(argv)
    try:
        seconds(args.run_time)
    except ValueError as error:
        parser.error(str(error))
    options = Options(
        users=args.users,
        spawn_rate=args.spawn_rate,
        run_time=args.run_time,
        port=args.port,
        database=args.database,
        redis_url=args.redis_url,
        out=args.out.resolve(),
        report=args.report,
        change_share=args.change_share,
        attack_rate=args.attack_rate,
        attack_concurrency=args.attack_concurrency,
        think=tuple(float(x) for x in args.think.split(",")),
        pause=tuple(float(x) for x in args.pause.split(",")),
    )
    result = run(options)
    for check in result.checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.figures}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
