"""Figure 4: from a request's commit to the backend's send, next to a no-op Celery task.

The request: ``POST /unlock/send/`` of an unlock journey (a person asking for a SafeCode by
email), over HTTP to the stack. Its transaction writes the ``delivery.models.Message`` row and,
on commit, enqueues the delivery task; the stack's Celery worker sends it through the outbox
backend, which writes one ``OutboxEntry`` per send. Latency: ``OutboxEntry.created_at`` (the
backend's send) minus the moment the delivery task was published, which Django runs on the
request's commit (``transaction.on_commit``). That moment is taken by Celery's
``before_task_publish`` signal (``record_publish`` below, connected in the web processes by
bench/stack_urls.py) and kept in Redis by message; ``Message.created_at`` is not used, since
it is set at the insert, before the rest of the request's transaction.

Baseline: a no-op task (``noop`` below, which records its start time in Redis) over the same
Redis, from the same signal at its publish to its start. The stack's worker does not import
bench/, so the no-op runs on a worker of the same kind (prefork, concurrency 2, prefetch 1,
the portal's Celery settings and the stack's environment) started by the benchmark on a queue
of its own (``bench-noop``); both workers wait on the same Redis. Messages and no-op tasks
alternate one by one, spaced so that each finds an idle worker.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import time
from pathlib import Path

from celery import shared_task

from bench._harness import median, percentile, stack_call, wait_for_delivery

GOAL = 1.5
QUEUE = "bench-noop"
DELIVER_TASK = "delivery.tasks.deliver_message"
NOOP_TASK = "bench.noop"
PUBLISHED_KEY = "bench:published"  # hash: "deliver:<message id>" or "noop:<task id>" -> time
STARTED_KEY = "bench:noop:started"  # hash: "<task id>" -> time
SPACING = 0.4  # seconds between two timed sends


@functools.cache
def _redis(url: str | None = None):
    """The stack's Redis: ``url``, or the stack environment's broker."""
    import redis

    return redis.Redis.from_url(
        url or os.environ["CELERY_BROKER_URL"], socket_timeout=1, socket_connect_timeout=1
    )


def record_publish(sender=None, body=None, headers=None, **_) -> None:
    """``before_task_publish`` receiver: when a delivery or a no-op task leaves for the broker.

    Celery sends the signal in the publishing process just before the message is written to
    Redis; for a delivery task that is the request's on-commit hook. Other tasks pass by. A
    Redis that cannot take the time leaves that message untimed (the benchmark then says so);
    the publish goes on.
    """
    import redis

    published = time.time()
    if sender == DELIVER_TASK:
        key = f"deliver:{body[0][0]}"
    elif sender == NOOP_TASK:
        key = f"noop:{headers['id']}"
    else:
        return
    with contextlib.suppress(redis.RedisError):
        _redis(_clock_url).hset(PUBLISHED_KEY, key, published)


_clock_url: str | None = None


def connect_publish_clock(url: str) -> None:
    """Start timing the publishes of this process into the Redis at ``url``."""
    from celery.signals import before_task_publish

    global _clock_url
    _clock_url = url
    before_task_publish.connect(record_publish, weak=False, dispatch_uid=PUBLISHED_KEY)


def disconnect_publish_clock() -> None:
    from celery.signals import before_task_publish

    before_task_publish.disconnect(dispatch_uid=PUBLISHED_KEY)


@shared_task(bind=True, name=NOOP_TASK, ignore_result=True)
def noop(self) -> None:
    """Record when the task started, by its id."""
    _redis().hset(STARTED_KEY, self.request.id, time.time())


def message_times(*, recipients: list[str]) -> dict[str, list[float]]:
    """For each recipient, when the delivery task of the newest message to it was published and
    when its outbox entry was written (timestamps). Runs in the stack's environment."""
    from delivery.models import Message, OutboxEntry

    times: dict[str, list[float]] = {}
    for recipient in recipients:
        message = Message.objects.filter(recipient=recipient).order_by("-created_at").first()
        if message is None:
            continue
        published = _redis().hget(PUBLISHED_KEY, f"deliver:{message.pk}")
        sent = OutboxEntry.objects.filter(message=message).order_by("created_at").first()
        if published is not None and sent is not None:
            times[recipient] = [float(published), sent.created_at.timestamp()]
    return times


def noop_times(url: str) -> list[list[float]]:
    """Publish and start time of each no-op task run since the last ``clear_times``."""
    client = _redis(url)
    published = client.hgetall(PUBLISHED_KEY)
    return [
        [float(published[b"noop:" + task_id]), float(started)]
        for task_id, started in client.hgetall(STARTED_KEY).items()
        if b"noop:" + task_id in published
    ]


def clear_times(url: str) -> None:
    _redis(url).delete(PUBLISHED_KEY, STARTED_KEY)


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


def _repetitions(stack, app, *, messages: int, repeat: int) -> list[tuple[list, list]]:
    """Each repetition's commit -> send latencies and no-op latencies, in milliseconds."""
    from bench.http_endpoints import unlock_journeys, unlock_send

    reps = []
    with NoopWorker(stack):
        for _ in range(3):  # warm up the worker's connection
            app.send_task(NOOP_TASK, queue=QUEUE)
        time.sleep(1.0)
        for rep in range(repeat):
            journeys = unlock_journeys(
                stack, messages, prefix=f"deliver{rep}x", skip=50_000 + rep * 1000
            )
            wait_for_delivery(stack)  # the lock notices of the new accounts
            clear_times(stack.redis_url)
            for i, client in enumerate(journeys):
                first, second = ("http", "noop") if (rep + i) % 2 == 0 else ("noop", "http")
                for which in (first, second):
                    if which == "http":
                        sent = unlock_send(client)
                        if sent.status != 302:
                            raise RuntimeError(f"the code request answered {sent.status}")
                    else:
                        app.send_task(NOOP_TASK, queue=QUEUE)
                    time.sleep(SPACING)
            wait_for_delivery(stack)
            times = stack_call(
                stack,
                "call_in",
                module="bench.delivery_latency",
                function="message_times",
                recipients=[client.recipient for client in journeys],
            )
            rep_ms = [(sent - published) * 1000 for published, sent in times.values()]
            rep_base = [
                (started - published) * 1000 for published, started in noop_times(stack.redis_url)
            ]
            if len(rep_ms) < messages or len(rep_base) < messages:
                raise RuntimeError(
                    f"delivery: {len(rep_ms)} of {messages} sends and {len(rep_base)} of "
                    f"{messages} no-op starts were timed"
                )
            print(
                f"  rep {rep + 1}: commit -> send {median(rep_ms):.1f} ms ({len(rep_ms)} "
                f"messages), no-op {median(rep_base):.1f} ms ({len(rep_base)}): ratio "
                f"{median(rep_ms) / median(rep_base):.2f}"
            )
            reps.append((rep_ms, rep_base))
    return reps


def run(stack, *, messages: int = 20, repeat: int = 5) -> dict[str, object]:
    from celery import Celery

    print(
        f"\n== delivery_latency: {messages} SafeCode requests over HTTP and {messages} no-op "
        f"tasks, alternating, {repeat} repetitions =="
    )
    # Not the current app: in the process that runs it (the suite's smoke test) the portal's
    # Celery app must stay the one that shared tasks and the delivery code publish through.
    app = Celery("bench", broker=stack.redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)
    connect_publish_clock(stack.redis_url)
    try:
        reps = _repetitions(stack, app, messages=messages, repeat=repeat)
    finally:
        disconnect_publish_clock()
    latencies = [ms for rep_ms, _ in reps for ms in rep_ms]
    baselines = [ms for _, rep_base in reps for ms in rep_base]
    reps_ms = [median(rep_ms) for rep_ms, _ in reps]
    reps_base = [median(rep_base) for _, rep_base in reps]
    ratios = [ms / base for ms, base in zip(reps_ms, reps_base, strict=True)]
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
