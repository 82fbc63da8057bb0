"""Development-only pages. Each answers 404 unless DEBUG is on when the request arrives."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from delivery.models import OutboxEntry

OUTBOX_LIMIT = 200


def debug_only(view):
    """Hide a view unless DEBUG is on, checked per request so a production process that
    imported this module still answers 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.DEBUG:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@login_not_required
@never_cache
@debug_only
def outbox(request: HttpRequest) -> HttpResponse:
    """Messages the outbox backend delivered, newest first, as their recipients see them."""
    entries = OutboxEntry.objects.order_by("-created_at", "-id")[:OUTBOX_LIMIT]
    return render(request, "delivery/outbox.html", {"entries": entries, "limit": OUTBOX_LIMIT})
