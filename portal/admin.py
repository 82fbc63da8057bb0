"""The Django admin as the service-desk console: one door in, and refusals on the record.

The admin has no sign-in page of its own. ``/admin/login/`` sends people to the portal's
sign-in with ``next``, so the console is entered only through the sign-in stages every other
session passes (lockout, throttle, CAPTCHA, expired password), never beside them. A signed-in
person without console access gets a 403, and every permission refusal inside the console is
an audit event.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from audit.models import AuditEvent
from audit.services import audit_record
from portal.http import is_safe_next


class PortalAdminSite(admin.AdminSite):
    site_header = "Service-desk console"
    site_title = "Service-desk console"
    index_title = "Service desk"

    @method_decorator(never_cache)
    @method_decorator(login_not_required)
    def login(self, request, extra_context=None):
        target = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not is_safe_next(request, target):
            target = reverse("admin:index", current_app=self.name)
        if not request.user.is_authenticated:
            return redirect_to_login(target, login_url=reverse("accounts:login"))
        if self.has_permission(request):
            return redirect(target)
        _audit_denied(request, reason="no_console_access")
        raise PermissionDenied

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def audited(request, *args, **kwargs):
            try:
                return inner(request, *args, **kwargs)
            except PermissionDenied:
                _audit_denied(request, reason="permission")
                raise

        return audited


def _audit_denied(request, *, reason: str) -> None:
    audit_record(
        event="admin.denied",
        outcome=AuditEvent.Outcome.FAILURE,
        request=request,
        path=request.path[:200],
        method=request.method,
        reason=reason,
    )
