"""Delivery without a broker: a background thread in the portal's own process.

The embedded default has no Celery worker and no beat. Sending inside the request that asked
for a message would make the page wait for the provider (a hanging SMTP relay would hold it for
the whole timeout) and would make a page that sends slower than one that does not, which tells
an observer whether an account exists. So ``message_dispatch`` hands the message id to this
worker and returns at once.

The worker calls the same ``message_deliver`` service as a Celery worker, waits the service's
backoff before a retry, retries a job that the database refused (SQLite's "database is locked"
after its busy timeout) and runs ``message_sweep`` periodically, as the beat does elsewhere. A
job is only a message id: the message itself is a row, so whatever the thread has not done
when the process ends is still queued in the database, and a later sweep sends it.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connections

from delivery.app_settings import app_settings

logger = logging.getLogger(__name__)


@dataclass(order=True)
class _Job:
    due: float
    sequence: int
    message_id: int = field(compare=False)
    failures: int = field(default=0, compare=False)


class InProcessWorker:
    """One daemon thread and a queue of message ids ordered by when they are due.

    The thread starts with the first message handed to it, sweeps at once (messages a previous
    run left queued) and then every ``INPROCESS_SWEEP_INTERVAL`` seconds.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A forked child inherits neither the thread nor, usefully, the lock: start afresh.
        self._condition = threading.Condition()
        self._jobs: list[_Job] = []
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._next_sweep = 0.0
        self._sequence = itertools.count()

    def submit(self, message_id: int, *, delay: float = 0.0, failures: int = 0) -> None:
        """Send ``message_id`` in the background, ``delay`` seconds from now at the earliest."""
        with self._condition:
            job = _Job(time.monotonic() + delay, next(self._sequence), message_id, failures)
            heapq.heappush(self._jobs, job)
            self._start()
            self._condition.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running, retries waiting for their backoff included.

        Returns False when that did not happen within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._jobs or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the thread after the job it is running; jobs still queued are dropped (their
        messages stay queued in the database for a sweep). Returns whether it stopped."""
        with self._condition:
            thread = self._thread
            self._stopping = True
            self._condition.notify_all()
        if thread is not None:
            thread.join(timeout)
        stopped = thread is None or not thread.is_alive()
        with self._condition:
            self._jobs.clear()
            self._thread = None
            self._stopping = False
            self._next_sweep = 0.0
        return stopped

    # The thread --------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="delivery-inprocess", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            task = self._next_task()
            if task is None:
                return
            try:
                task()
            except Exception:
                logger.exception("The background delivery thread hit an unexpected error.")
            finally:
                # This thread outlives every request: never keep a connection (or a broken
                # transaction) from one job to the next.
                connections.close_all()
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def _next_task(self) -> Callable[[], None] | None:
        with self._condition:
            while not self._stopping:
                now = time.monotonic()
                if now >= self._next_sweep:
                    self._next_sweep = now + app_settings.INPROCESS_SWEEP_INTERVAL
                    self._busy = True
                    return self._sweep
                if self._jobs and self._jobs[0].due <= now:
                    job = heapq.heappop(self._jobs)
                    self._busy = True
                    return lambda: self._deliver(job)
                wake = self._next_sweep
                if self._jobs:
                    wake = min(wake, self._jobs[0].due)
                self._condition.wait(wake - now)
            return None

    def _deliver(self, job: _Job) -> None:
        from delivery.services import backoff_delay, message_deliver

        try:
            result = message_deliver(message_id=job.message_id)
        except Exception as exc:
            # The database refused the claim or the bookkeeping (busy past its timeout, a lost
            # connection). The claim is conditional, so trying again can never send twice.
            failures = job.failures + 1
            if failures >= app_settings.MAX_ATTEMPTS:
                logger.error(
                    "Message %s could not be delivered (%s); it stays queued for the sweep.",
                    job.message_id,
                    type(exc).__name__,
                )
                return
            delay = backoff_delay(failures)
            logger.warning(
                "Message %s: the database refused its delivery (%s: %s); retrying in %.0f s.",
                job.message_id,
                type(exc).__name__,
                exc,
                delay,
            )
            self.submit(job.message_id, delay=delay, failures=failures)
            return
        if result.retry_in is not None:
            self.submit(job.message_id, delay=result.retry_in)

    def _sweep(self) -> None:
        from delivery.services import message_sweep

        try:
            message_sweep()
        except Exception as exc:
            logger.warning(
                "Sweep failed (%s: %s); the next one tries again.", type(exc).__name__, exc
            )

    def finish_due(self) -> None:
        """At exit, give the thread a bounded moment to send what is already due."""
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                return
            deadline = time.monotonic() + app_settings.INPROCESS_EXIT_WAIT
            while self._busy or (self._jobs and self._jobs[0].due <= time.monotonic()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._condition.wait(min(remaining, 0.1))


worker = InProcessWorker()
atexit.register(worker.finish_due)
