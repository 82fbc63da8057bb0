"""Celery tasks of the accounts app: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task

from accounts.services.expiry import password_expiry_reminders_send


@shared_task(name="accounts.tasks.send_password_expiry_reminders", ignore_result=True)
def send_password_expiry_reminders() -> int:
    """Daily (CELERY_BEAT_SCHEDULE): email the password-expiry reminders due today.

    Safe to run twice: each reminder is recorded and sent once.
    """
    return password_expiry_reminders_send()
