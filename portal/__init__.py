"""The identity portal's project package: settings, root URLs, the Celery app."""

from portal.celery import app as celery_app

__all__ = ("celery_app",)
