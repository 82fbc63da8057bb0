"""The stack's URLs: the portal's, and one bare view the benchmarks measure the portal against.

``/bench/bare/`` passes through every middleware the portal's pages do (session, CSRF,
authentication, the signed-in requirements, headers) and reads the session and the signed-in
account, which costs the same session and user queries, then answers a few bytes: the least a
page of the portal can cost on this stack. It is mounted only by ``portal.settings.stack``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path

from portal.urls import handler500  # noqa: F401 (the portal's, for this URLconf too)
from portal.urls import urlpatterns as portal_urlpatterns


@login_not_required
def bare(request):
    request.session.get("bench")
    return HttpResponse(str(request.user.pk or "-"), content_type="text/plain")


urlpatterns = [path("bench/bare/", bare, name="bench_bare"), *portal_urlpatterns]
