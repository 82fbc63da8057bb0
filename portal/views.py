from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@login_not_required
@never_cache
@require_GET
def home(request):
    """Signed out: the ways in. Signed in: a greeting and the places to go next."""
    template = "portal/hub.html" if request.user.is_authenticated else "portal/home.html"
    return render(request, template)


HEALTH_BROKER_TIMEOUT = 1.0


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """Liveness of the database and the broker, for load balancers and compose healthchecks."""
    status: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = "ok"
    except Exception:
        status["database"] = "unreachable"
    status["broker"] = _broker_status()
    code = HTTPStatus.OK if status["database"] == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
    return JsonResponse(status, status=code)


def _broker_status() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    from portal.celery import app

    # The broker's own socket timeouts (CELERY_BROKER_TRANSPORT_OPTIONS) are for workers; a
    # health check answers within a load balancer's timeout even when Redis hangs.
    quick = {
        "socket_timeout": HEALTH_BROKER_TIMEOUT,
        "socket_connect_timeout": HEALTH_BROKER_TIMEOUT,
    }
    try:
        with app.connection_for_write(transport_options=quick) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=HEALTH_BROKER_TIMEOUT)
            conn.default_channel.client.ping()
        return "ok"
    except Exception:
        return "unreachable"
