"""Handing a Celery task to the broker from inside a request, once.

A broker outage must not turn a page into an error, nor hold it while kombu reconnects: the
connection is tried once (kombu's default would loop for the whole connect timeout) and the
publish is not retried. Without a broker (eager mode) the task runs here. The caller decides
what a failure means (a message waits for the sweep; a push's wake-up is dropped).
"""

from __future__ import annotations

from datetime import datetime


def task_publish_once(task, *, args: tuple, expires: datetime | None = None) -> None:
    """Publish ``task`` with ``args``, or run it in eager mode; raises when the broker cannot
    take it."""
    app = task.app
    if app.conf.task_always_eager:
        task.apply(args=args)
        return
    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=0)
        task.apply_async(args=args, expires=expires, producer=producer, retry=False)
