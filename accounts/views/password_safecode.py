"""The SafeCode stages that change password and expired password share: send a code to a
channel of the account (shown masked: the person is signed in, or has just given the right
password) and enter it. The URL configuration passes the journey (``accounts.journeys.CHANGE``
or ``EXPIRED``); ``portal.flows.serves`` lets each page be served only in its turn.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib.auth.decorators import login_not_required
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.journeys import KnownAccount
from portal.flows import FlowRun, serves
from safecode.errors import (
    SafeCodeChannelUnusable,
    SafeCodeInvalidFormat,
    SafeCodeLockedOut,
    SafeCodeThrottled,
)
from safecode.forms import CodeForm, SendCodeForm
from safecode.selectors import safecode_locked_until
from safecode.services import CheckResult, safecode_check, safecode_issue


# Both pages are reached signed in (change) or in a pending sign-in (expired), which the
# journey's guard checks; LoginRequiredMiddleware still guards the change journey's URLs.
@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
@serves("send")
def send(request, journey: KnownAccount, flow: FlowRun):
    user = journey.user(request)
    form = SendCodeForm(request.POST or None, user=user)
    throttle = None
    locked_until = safecode_locked_until(user=user, purpose=journey.purpose)
    status = HTTPStatus.OK
    if request.method == "POST" and form.is_valid():
        channel = form.cleaned_data["channel"]
        try:
            safecode_issue(
                user=user,
                purpose=journey.purpose,
                channel=channel,
                request=request,
                binding=flow.binding,
            )
        except SafeCodeThrottled as exc:
            throttle, status = exc, HTTPStatus.TOO_MANY_REQUESTS
        except SafeCodeLockedOut as exc:
            locked_until, status = exc.until, HTTPStatus.TOO_MANY_REQUESTS
        except SafeCodeChannelUnusable as exc:
            form.add_error("channel", str(exc))
        else:
            return flow.done("send", sent_to=channel.masked)
    return flow.render(
        "accounts/password_send.html",
        status=status,
        journey=journey,
        send_form=form,
        throttle=throttle,
        locked_until=locked_until,
    )


@login_not_required
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
@serves("code")
def code(request, journey: KnownAccount, flow: FlowRun):
    user = journey.user(request)
    form = CodeForm(request.POST or None)
    locked_until = None
    status = HTTPStatus.OK
    if request.method == "POST" and form.is_valid():
        try:
            result = safecode_check(
                user=user,
                purpose=journey.purpose,
                code=form.cleaned_data["code"],
                request=request,
                binding=flow.binding,
            )
        except SafeCodeInvalidFormat as exc:
            form.add_error("code", str(exc))
        except SafeCodeLockedOut as exc:
            locked_until, status = exc.until, HTTPStatus.TOO_MANY_REQUESTS
        else:
            if result is CheckResult.ACCEPTED:
                request.session.cycle_key()  # a step up: rotate the session key
                return flow.done("code")
            form.add_error("code", result.message)
    return flow.render(
        "accounts/password_code.html",
        status=status,
        journey=journey,
        form=form,
        sent_to=flow.get("sent_to", ""),
        locked_until=locked_until,
    )
