"""python -m bench [NAME ...] [--quick] [options]: the benchmarks; writes bench/RESULTS.md.

The seven figures of issue 14, by name: signin_throughput (1), http_endpoints (2),
signin_under_attack (3), delivery_latency (4), import_people (5), push_approval (6),
memory (7). Without a name, all seven. whitepages and captcha_ocr run when named ("all" runs
every benchmark). The HTTP benchmarks (1-4, 7) run against a stack of their own
(bench/stack.py: port 8300, database portal_bench, Redis db 5), prepared fresh; the others on
a scratch database (bench_portal) of the server named by DATABASE_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

FIGURES = (
    "signin_throughput",
    "http_endpoints",
    "signin_under_attack",
    "delivery_latency",
    "import_people",
    "push_approval",
    "memory",
)
EXTRA = ("whitepages", "captcha_ocr")
BENCHES = FIGURES + EXTRA
STACK_BENCHES = ("signin_throughput", "http_endpoints", "signin_under_attack", "delivery_latency")
SCRATCH_BENCHES = ("import_people", "whitepages", "captcha_ocr", "push_approval")

BASE_DIR = Path(__file__).resolve().parent.parent
STACK_PORT = 8300
STACK_DATABASE = "portal_bench"
STACK_REDIS_DB = 5


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHES)}, all")
    parser.add_argument(
        "--quick", action="store_true", help="short durations and 2 repetitions, to check"
    )
    parser.add_argument("--reps", type=int, help="repetitions of each figure (default 5)")
    parser.add_argument("--duration", type=float, help="seconds of each sign-in run (20)")
    parser.add_argument("--attack-window", type=float, help="seconds of each attack window (6)")
    parser.add_argument("--endpoint-window", type=float, help="seconds of each endpoint run (3)")
    parser.add_argument("--messages", type=int, help="messages timed per delivery repetition")
    parser.add_argument(
        "--batch", type=int, help="journeys per repetition for the endpoints that consume them"
    )
    parser.add_argument("--port", type=int, default=STACK_PORT, help="the stack's port (8300)")
    parser.add_argument(
        "--database", default=STACK_DATABASE, help="the stack's database, dropped and made again"
    )
    parser.add_argument("--redis-db", type=int, default=STACK_REDIS_DB, help="flushed first")
    parser.add_argument(
        "--threads", type=int, default=1, help="gunicorn threads per worker (1: sync workers)"
    )
    parser.add_argument("--rows", type=int, help="people in the directory (100,000)")
    parser.add_argument("--repeat", type=int, help="import runs (the median is shown)")
    parser.add_argument("--queries", type=int, default=300, help="whitepages searches timed")
    parser.add_argument(
        "--pictures", type=int, default=200, help="CAPTCHA pictures given to OCR (at least 200)"
    )
    parser.add_argument("--approvals", type=int, help="pushes approved on the phone and timed")
    parser.add_argument(
        "--results", default=str(BASE_DIR / "bench" / "RESULTS.md"), help="where to write"
    )
    args = parser.parse_args(argv)
    names = args.names or list(FIGURES)
    if "all" in names:
        names = list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark: {', '.join(unknown)} (choose from {', '.join(BENCHES)})")
    args.names = [name for name in BENCHES if name in names]
    quick = args.quick
    defaults = {
        "reps": 2 if quick else 5,
        "duration": 4.0 if quick else 20.0,
        "attack_window": 3.0 if quick else 6.0,
        "endpoint_window": 2.0 if quick else 3.0,
        "messages": 10 if quick else 20,
        "batch": 30 if quick else 60,
        "rows": 10_000 if quick else 100_000,
        "repeat": 2 if quick else 5,
        "approvals": 5 if quick else 20,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.time()
    results: dict[str, object] = {}
    failed = False
    if any(name in args.names for name in (*STACK_BENCHES, "memory")):
        results.update(run_stack_benches(args))
    if any(name in args.names for name in SCRATCH_BENCHES):
        scratch, failed = run_scratch_benches(args)
        results.update(scratch)

    from bench import results as report

    path = report.write(
        Path(args.results),
        results,
        argv=["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)],
        started=started,
        args=args,
    )
    raw = BASE_DIR / "var" / "bench" / "results.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nresults written to {path} ({time.time() - started:.0f} s in all; raw: {raw})")
    return 1 if failed else 0


# The HTTP benchmarks, against a stack of their own -----------------------------------------


def bench_stack(args: argparse.Namespace):
    from bench.stack import Stack, database_url_for

    return Stack(
        port=args.port,
        database_url=database_url_for(args.database),
        redis_url=f"redis://127.0.0.1:6379/{args.redis_db}",
        web_workers=2,
        threads=args.threads,
        celery_concurrency=2,
        beat=True,
        directory=BASE_DIR / "var" / "bench" / f"stack-{args.port}",
        extra_env={"BENCH_PUBLISH_CLOCK": "1"},  # figure 4's commit times (bench/stack_urls.py)
    )


def run_stack_benches(args: argparse.Namespace) -> dict[str, object]:
    from bench import _harness

    names = args.names
    results: dict[str, object] = {}
    stack = bench_stack(args)
    print(f"== the stack: {stack.url}, database {args.database}, {stack.redis_url} ==")
    small = args.quick
    stack.prepare(fresh=True)
    with stack:
        # Before any load: what a worker holds once it has served /healthz.
        at_start = stack.peak_rss_mb()
        signers = legit = targets = []
        if "signin_throughput" in names or "signin_under_attack" in names:
            signers = _harness.stack_call(
                stack, "make_accounts", prefix="signer", count=60 if small else 300
            )
        if "signin_under_attack" in names:
            legit = _harness.stack_call(
                stack, "make_accounts", prefix="person", count=30 if small else 150
            )
            windows = 4 * args.reps
            targets = _harness.stack_call(
                stack, "make_accounts", prefix="target", count=40 * windows, device=False
            )
        _harness.wait_for_delivery(stack)
        signin = None
        if "signin_throughput" in names:
            from bench import signin_throughput

            signin = signin_throughput.run(
                stack,
                [str(account["username"]) for account in signers],
                duration=args.duration,
                repeat=args.reps,
            )
            results["signin_throughput"] = signin
        if "http_endpoints" in names:
            from bench import http_endpoints

            results["http_endpoints"] = http_endpoints.run(
                stack,
                window=args.endpoint_window,
                repeat=args.reps,
                batch=args.batch,
                people=2_000 if small else 20_000,
            )
        if "signin_under_attack" in names:
            from bench import signin_throughput, signin_under_attack

            if signin is None:
                # The capacity the attack is sized on, measured now (figure 1 did not run).
                signin = signin_throughput.run(
                    stack,
                    [str(account["username"]) for account in signers],
                    duration=min(args.duration, 8.0),
                    repeat=1,
                )
            results["signin_under_attack"] = signin_under_attack.run(
                stack,
                legit=legit,
                targets=[str(account["username"]) for account in targets],
                capacity_signins=float(signin["signins_per_s"]),
                hash_per_s=float(signin["hash_per_s"]),
                duration=args.attack_window,
                repeat=args.reps,
            )
        if "delivery_latency" in names:
            from bench import delivery_latency

            results["delivery_latency"] = delivery_latency.run(
                stack, messages=args.messages, repeat=args.reps
            )
        peaks = stack.peak_rss_mb()
        results["memory"] = {
            "peaks_mb": peaks,
            "max_mb": max(peaks.values()) if peaks else None,
            "at_start_mb": at_start,
            "after": [name for name in STACK_BENCHES if name in names],
            "goal": 200.0,
        }
        print(f"\n== memory: peak RSS of the gunicorn workers {peaks} MiB (at start {at_start}) ==")
        results["stack"] = {
            "url": stack.url,
            "database": args.database,
            "redis": stack.redis_url,
        }
    return results


# The benchmarks on a scratch database ------------------------------------------------------


def run_scratch_benches(args: argparse.Namespace) -> tuple[dict[str, object], bool]:
    from bench.stack import database_url_for

    # The scratch database lives on the stack's PostgreSQL server unless told otherwise.
    os.environ.setdefault("DATABASE_URL", database_url_for("postgres"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    import django

    django.setup()
    from django.db import connection

    from bench import captcha_ocr, import_people, push_approval, whitepages
    from bench._harness import scratch_database

    if connection.vendor != "postgresql":
        print(
            "NOTE: running on SQLite, not PostgreSQL. The figures say little about production;\n"
            "      run with DATABASE_URL=postgres://... (see bench/README.md).",
            file=sys.stderr,
        )
    names = args.names
    results: dict[str, object] = {}
    failed = False
    with scratch_database() as vendor:
        print(f"database: {vendor}, scratch database {connection.settings_dict['NAME']}")
        if "import_people" in names:
            results["import_people"] = import_people.run(rows=args.rows, repeat=args.repeat)
        if "whitepages" in names:
            results["whitepages"] = whitepages.run(people=args.rows, queries=args.queries)
        if "captcha_ocr" in names:
            rate = captcha_ocr.run(pictures=args.pictures)
            results["captcha_ocr"] = {"solved": rate, "bar": captcha_ocr.BAR}
            if rate >= captcha_ocr.BAR:
                print(f"FAIL: OCR solved {rate:.2%} of the CAPTCHA pictures", file=sys.stderr)
                failed = True
        if "push_approval" in names:
            results["push_approval"] = push_approval.run(approvals=args.approvals)
    return results, failed


if __name__ == "__main__":
    sys.exit(main())
