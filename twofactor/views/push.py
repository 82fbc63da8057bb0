"""The small status endpoint that a page waiting for a push polls.

It answers only for the push this browser's session is waiting for, so a push id seen
elsewhere tells nothing, and it never holds a worker: the page asks again every few seconds
(``static/js/push_wait.js``), and without JavaScript the person presses Continue.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from twofactor.choice import push_waiting
from twofactor.push import push_status


@login_not_required
@never_cache
@require_GET
def status(request, push_id):
    waiting = push_waiting(request)
    if waiting is None or waiting[1] != str(push_id):
        raise Http404
    found = push_status(push_id=push_id, user_id=waiting[0], request=request)
    if found is None:
        raise Http404
    return JsonResponse({"state": found.state, "expires_in": found.expires_in})
