"""Figure 4: from a request's commit to the backend's send, next to a no-op Celery task.

The request: ``POST /unlock/send/`` of an unlock journey (a person asking for a SafeCode by
email), over HTTP to the stack. Its transaction writes the ``delivery.models.Message`` row and,
on commit, enqueues the delivery task; the stack's Celery worker sends it through the outbox
backend, which writes one ``OutboxEntry`` per send. Latency: ``OutboxEntry.created_at`` (the
backend's send) minus ``Message.created_at`` (set when the row is inserted, a few
milliseconds before the commit, so the figure errs long). delivery/models.py has no commit
timestamp; ``Message.sent_at`` is set after the backend returned, so it is not used.

Baseline: a no-op task (``noop`` below, which records its start time in Redis) over the same
Redis, enqueue -> start. The stack's worker does not import bench/, so the no-op runs on a
worker of the same kind (prefork, concurrency 2, prefetch 1, the portal's Celery settings and
the stack's environment) started by the benchmark on a queue of its own (``bench-noop``);
both workers wait on the same Redis. Messages and no-op tasks alternate one by one, spaced
so that each finds an idle worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from celery import shared_task

from bench._harness import median, percentile, stack_call, wait_for_delivery

GOAL = 1.5
QUEUE = "bench-noop"
RESULTS_KEY = "bench:noop:started"
SPACING = 0.4  # seconds between two timed sends


@shared_task(name="bench.noop", ignore_result=True)
def noop(enqueued: float) -> None:
    """Record when the task started, next to when it was enqueued."""
    import redis

    started = time.time()
    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    client.rpush(RESULTS_KEY, json.dumps([enqueued, started]))


def message_times(*, recipients: list[str]) -> dict[str, list[float]]:
    """For each recipient, the message's created_at and its outbox entry's created_at
    (timestamps), of the newest SafeCode message to it. Runs in the stack's environment."""
    from delivery.models import Message, OutboxEntry

    times: dict[str, list[float]] = {}
    for recipient in recipients:
        message = Message.objects.filter(recipient=recipient).order_by("-created_at").first()
        if message is None:
            continue
        sent = OutboxEntry.objects.filter(message=message).order_by("created_at").first()
        if sent is not None:
            times[recipient] = [message.created_at.timestamp(), sent.created_at.timestamp()]
    return times


class NoopWorker:
    """A Celery worker of the stack's kind that serves only the no-op queue."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> NoopWorker:
        log = (self.stack.directory / "noop-worker.log").open("ab")
        mark = (self.stack.directory / "noop-worker.log").stat().st_size
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "portal", "worker",
                f"--concurrency={self.stack.celery_concurrency}", "--loglevel=info",
                "--without-gossip", "--without-mingle", f"--queues={QUEUE}",
                "--include=bench.delivery_latency",
                f"--hostname=bench-noop-{self.stack.port}@%h",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=self.stack.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        path = self.stack.directory / "noop-worker.log"
        while time.monotonic() < deadline:
            with path.open("rb") as handle:
                handle.seek(mark)
                if b" ready." in handle.read():
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"the no-op worker exited:\n{path.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError("the no-op worker did not start")

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run(stack, *, messages: int = 20, repeat: int = 5) -> dict[str, object]:
    import redis
    from celery import Celery

    from bench.http_endpoints import unlock_journeys, unlock_send

    print(
        f"\n== delivery_latency: {messages} SafeCode requests over HTTP and {messages} no-op "
        f"tasks, alternating, {repeat} repetitions =="
    )
    broker = redis.Redis.from_url(stack.redis_url)
    # Not the current app: in the process that runs it (the suite's smoke test) the portal's
    # Celery app must stay the one that shared tasks and the delivery code publish through.
    app = Celery("bench", broker=stack.redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)
    latencies, baselines, reps_ms, reps_base, ratios = [], [], [], [], []
    with NoopWorker(stack):
        for _ in range(3):  # warm up the worker's connection
            app.send_task("bench.noop", args=[time.time()], queue=QUEUE)
        time.sleep(1.0)
        for rep in range(repeat):
            journeys = unlock_journeys(
                stack, messages, prefix=f"deliver{rep}x", skip=50_000 + rep * 1000
            )
            wait_for_delivery(stack)  # the lock notices of the new accounts
            broker.delete(RESULTS_KEY)
            for i, client in enumerate(journeys):
                first, second = ("http", "noop") if (rep + i) % 2 == 0 else ("noop", "http")
                for which in (first, second):
                    if which == "http":
                        sent = unlock_send(client)
                        if sent.status != 302:
                            raise RuntimeError(f"the code request answered {sent.status}")
                    else:
                        app.send_task("bench.noop", args=[time.time()], queue=QUEUE)
                    time.sleep(SPACING)
            wait_for_delivery(stack)
            times = stack_call(
                stack,
                "call_in",
                module="bench.delivery_latency",
                function="message_times",
                recipients=[client.recipient for client in journeys],
            )
            rep_ms = [(sent - made) * 1000 for made, sent in times.values()]
            rep_base = [
                (started - enqueued) * 1000
                for enqueued, started in (json.loads(v) for v in broker.lrange(RESULTS_KEY, 0, -1))
            ]
            if not rep_ms or not rep_base:
                raise RuntimeError(f"delivery: {len(rep_ms)} sends, {len(rep_base)} no-op starts")
            latencies.extend(rep_ms)
            baselines.extend(rep_base)
            reps_ms.append(median(rep_ms))
            reps_base.append(median(rep_base))
            ratios.append(reps_ms[-1] / reps_base[-1])
            print(
                f"  rep {rep + 1}: commit -> send {reps_ms[-1]:.1f} ms ({len(rep_ms)} messages), "
                f"no-op {reps_base[-1]:.1f} ms ({len(rep_base)}): ratio {ratios[-1]:.2f}"
            )
    result = {
        "median_ms": median(reps_ms),
        "baseline_ms": median(reps_base),
        "ratio": median(ratios),
        "reps_ms": reps_ms,
        "reps_baseline_ms": reps_base,
        "reps_ratio": ratios,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "max_ms": max(latencies),
        "baseline_p50_ms": percentile(baselines, 50),
        "baseline_p95_ms": percentile(baselines, 95),
        "messages": len(latencies),
        "goal": GOAL,
        "description": __doc__.split("\n\n", 1)[1].strip(),
        "notes": [
            f"{messages} messages and {messages} no-op tasks per repetition, one every "
            f"{SPACING:g} s, alternating; the figure is the median of the per-repetition "
            "ratios of medians.",
        ],
    }
    print(
        f"median    commit -> send {result['median_ms']:.1f} ms, no-op {result['baseline_ms']:.1f}"
        f" ms: ratio {result['ratio']:.2f} (goal <= {GOAL})"
    )
    return result
