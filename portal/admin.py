"""The Django admin as the service-desk console: one door in, and refusals on the record.

The admin has no sign-in page of its own. ``/admin/login/`` sends people to the portal's
sign-in with ``next``, so the console is entered only through the sign-in stages every other
session passes (lockout, throttle, CAPTCHA, expired password, second factor), never beside
them. Where the policy requires a second factor of staff, the console also needs a session
verified with one (django-otp's ``is_verified``): a remembered browser skipped it, so such a
session is sent to confirm with a device, or to enroll one, first. A signed-in person without
console access gets a 403, and every permission refusal inside the console is an audit event.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db.models.constants import LOOKUP_SEP
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

    def has_permission(self, request):
        """Staff, and, where the policy requires a second factor of them, a session verified
        with one (``OTPMiddleware`` sets ``is_verified``)."""
        if not super().has_permission(request):
            return False
        return not _needs_second_factor(request)

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
        if super().has_permission(request):
            # Console access, but no second factor in this session yet.
            from twofactor.policy import user_has_device

            _audit_denied(request, reason="second_factor_required")
            step = "twofactor:confirm" if user_has_device(request.user) else "twofactor:enroll"
            return redirect(f"{reverse(step)}?{urlencode({'next': target})}")
        _audit_denied(request, reason="no_console_access")
        raise PermissionDenied

    def index(self, request, extra_context=None):
        """The front page starts with the service desk's counts (``servicedesk.dashboard``),
        those the agent may follow."""
        from servicedesk.dashboard import desk_dashboard

        context = {"service_desk": desk_dashboard(request.user), **(extra_context or {})}
        return super().index(request, context)

    def password_change(self, request, extra_context=None):
        """No password is changed here: the portal's journey (CAPTCHA, SafeCode, history,
        notices) is the only way, for console users as for everyone."""
        return redirect("accounts:password_change")

    def password_change_done(self, request, extra_context=None):
        return redirect("accounts:password_change")

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def audited(request, *args, **kwargs):
            try:
                return inner(request, *args, **kwargs)
            except PermissionDenied:
                _audit_denied(request, reason="permission")
                raise
            except SuspiciousOperation:
                _audit_denied(request, reason="disallowed_lookup")
                raise

        return audited


class FilterLookupsOnly:
    """A changelist takes lookups from its URL only on the fields its own filters and date
    hierarchy offer, and never a regular expression.

    Django's admin otherwise accepts a lookup on any field of the model, shown or not, so a
    console user could filter messages by their unsent body (and so read a code one guess at
    a time), people by their SSN hash, or send a database an expression it cannot run.
    """

    def lookup_allowed(self, lookup, value, request=None):
        field, _, rest = lookup.partition(LOOKUP_SEP)
        # Field names, (field, filter class) pairs, and the parameter a SimpleListFilter reads.
        offered = {
            getattr(f, "parameter_name", None) or (f if isinstance(f, str) else f[0])
            for f in self.list_filter
        }
        if self.date_hierarchy:
            offered.add(self.date_hierarchy)
        if field not in offered or rest.endswith(("regex", "iregex")):
            return False
        return super().lookup_allowed(lookup, value, request)


def _needs_second_factor(request) -> bool:
    from twofactor.policy import twofactor_required

    user = request.user
    if not twofactor_required(user):
        return False
    is_verified = getattr(user, "is_verified", None)
    return not (is_verified is not None and is_verified())


def _audit_denied(request, *, reason: str) -> None:
    audit_record(
        event="admin.denied",
        outcome=AuditEvent.Outcome.FAILURE,
        request=request,
        path=request.path[:200],
        method=request.method,
        reason=reason,
    )
