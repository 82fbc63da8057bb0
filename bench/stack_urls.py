"""The stack's URLs: the portal's, and one bare view the benchmarks measure the portal against.

``/bench/bare/`` passes through every middleware the portal's pages do (session, CSRF,
authentication, the signed-in requirements, headers) and reads the session and the signed-in
account, which costs the same session and user queries, then answers a few bytes: the least a
page of the portal can cost on this stack. It is mounted only by ``portal.settings.stack``.

On the benchmarks' stack (``BENCH_PUBLISH_CLOCK=1``, set by ``make bench``), loading it also
starts the delivery benchmark's publish clock in each web process (bench/delivery_latency.py):
the time each delivery task leaves for the broker, which is the request's commit, is kept in
Redis for figure 4. Django loads the URLconf before the first view runs, so no request's
publish goes untimed. ``make stack``, the load test and the fault tests run without it.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path

from bench.delivery_latency import connect_publish_clock
from portal.urls import handler500  # noqa: F401 (the portal's, for this URLconf too)
from portal.urls import urlpatterns as portal_urlpatterns

if os.environ.get("BENCH_PUBLISH_CLOCK") == "1":
    connect_publish_clock(settings.CELERY_BROKER_URL)


@login_not_required
def bare(request):
    request.session.get("bench")
    return HttpResponse(str(request.user.pk or "-"), content_type="text/plain")


urlpatterns = [path("bench/bare/", bare, name="bench_bare"), *portal_urlpatterns]
