"""The Celery application. Its configuration, the beat schedule included, lives in settings.

Database connections in the workers follow Django's rules, as in the web processes. Celery's
Django fixup would close every connection before and after each task (celery#9824), so each
message sent would first open a PostgreSQL connection, which costs more than the send itself.
``CELERY_DB_REUSE_MAX`` (settings) turns that off, and the two receivers below do what Django's
request signals do: ``close_old_connections`` before and after a task, which honours
``CONN_MAX_AGE`` and, with ``CONN_HEALTH_CHECKS``, checks a reused connection before its first
query, so a PostgreSQL restart costs no task. A task that did not finish cleanly (an exception,
a retry) may have been interrupted mid-query, so its connections are closed outright.
"""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.dev")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _in_worker(task) -> bool:
    """Eager tasks run inside a request or a test, whose connection is not the task's."""
    return task is not None and not getattr(task.request, "is_eager", False)


@task_prerun.connect(weak=False, dispatch_uid="portal-db-before-task")
def _connections_before_task(task=None, **_) -> None:
    from django.db import close_old_connections

    if _in_worker(task):
        close_old_connections()


@task_postrun.connect(weak=False, dispatch_uid="portal-db-after-task")
def _connections_after_task(task=None, state=None, **_) -> None:
    from django.db import close_old_connections, connections

    if not _in_worker(task):
        return
    if state == "SUCCESS":
        close_old_connections()
    else:
        connections.close_all()
