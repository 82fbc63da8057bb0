"""Celery tasks of the two-factor app: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task

from twofactor.webpush import TransientPushError, push_wake_send


@shared_task(
    name="twofactor.tasks.push_wake",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(TransientPushError,),
    retry_backoff=1,
    retry_backoff_max=8,
    retry_jitter=True,
    max_retries=3,
)
def push_wake(push_id: str) -> str:
    """Wake the phone of one push request (``twofactor.webpush.push_wake_send``).

    A push waits a minute for its answer, so the backoff is seconds (up to 1, 2, 4 s with
    jitter) and gives up after three retries. Nothing retries past the request's expiry: the
    task is published with ``expires`` set to it, which its retries keep, so a worker discards
    a late one; and a retry that still runs finds the request expired or answered and sends
    nothing, without raising, so it is the last.
    """
    return push_wake_send(push_id=push_id)
