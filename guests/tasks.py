"""Celery tasks of guest sponsorship: thin wrappers around its services, run by beat."""

from __future__ import annotations

from celery import shared_task

from guests.services.lifecycle import guests_end_due, guests_remind_due


@shared_task(name="guests.tasks.end_due_guests", ignore_result=True)
def end_due_guests() -> int:
    """Every ten minutes (CELERY_BEAT_SCHEDULE): close the guest access whose end date is over.

    Safe to run twice or late: each sponsorship is closed once, and the account's own access
    window has already refused it from the end of the day.
    """
    return guests_end_due()


@shared_task(name="guests.tasks.send_guest_ending_reminders", ignore_result=True)
def send_guest_ending_reminders() -> int:
    """Daily: tell sponsors and guests that access ends in two weeks, once per end date."""
    return guests_remind_due()
