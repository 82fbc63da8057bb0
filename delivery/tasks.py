"""Celery tasks of the delivery app: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task

from delivery.services import message_deliver, message_sweep


@shared_task(
    bind=True,
    name="delivery.tasks.deliver_message",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,
)
def deliver_message(self, message_id: int) -> str:
    """Deliver one message; the service counts attempts in the row, so Celery's own retry
    limit is off and a retry only follows the service's backoff."""
    result = message_deliver(message_id=message_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return result.outcome


@shared_task(name="delivery.tasks.sweep_queued_messages", ignore_result=True)
def sweep_queued_messages() -> int:
    return message_sweep()
