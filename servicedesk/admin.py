"""Find a person, and their page: the service desk's console in the Django admin.

The list is one search box (``servicedesk.selectors.person_search``) and the desk's filters.
A person's page is not a model form: it shows the answers to "why can't they sign in?" first,
then one panel per concern (``servicedesk.panels``), each with the actions the agent may take
(``servicedesk.actions``) as buttons with a reason field. Every button posts to one view that
runs the action through ``desk_action_run``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from portal.admin import FilterLookupsOnly
from safecode.models import Channel
from servicedesk.actions import (
    REGISTRY,
    ActionRefused,
    ReasonForm,
    actions_for,
    desk_action_run,
    may_act_on,
    verified_call,
)
from servicedesk.app_settings import app_settings
from servicedesk.models import DeskAccount
from servicedesk.panels import PANELS, context_for
from servicedesk.selectors import password_summary, person_search, signin_problems
from twofactor.models import Device


class StandingFilter(admin.SimpleListFilter):
    title = "standing"
    parameter_name = "standing"

    def lookups(self, request, model_admin):
        return [
            ("locked", "Locked"),
            ("departmental", "Departmental"),
            ("guest", "Guest"),
            ("pending", "Pending approval"),
            ("expired", "Password expired"),
            ("no_safecode", "No SafeCode"),
            ("no_device", "No two-factor device"),
            ("deactivated", "Deactivated"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "locked":
            return queryset.filter(locked_at__isnull=False)
        if value == "departmental":
            return queryset.filter(kind=User.Kind.DEPARTMENTAL)
        if value == "guest":
            return queryset.filter(kind=User.Kind.GUEST)
        if value == "pending":
            return queryset.filter(status=User.Status.PENDING_APPROVAL)
        if value == "deactivated":
            return queryset.filter(Q(status=User.Status.DEACTIVATED) | Q(is_active=False))
        if value == "no_safecode":
            verified = Channel.objects.filter(user=OuterRef("pk"), status=Channel.Status.VERIFIED)
            return queryset.exclude(Exists(verified))
        if value == "no_device":
            devices = Device.objects.filter(user=OuterRef("pk"), confirmed_at__isnull=False)
            return queryset.exclude(Exists(devices))
        if value == "expired":
            # accounts.services.expiry.password_is_expired, as one query.
            from accounts.app_settings import app_settings as accounts_settings

            lifetime = accounts_settings.PASSWORD_EXPIRY
            expired = Q(must_change_password=True)
            if lifetime is not None:
                changed = Coalesce("password_changed_at", "date_joined")
                queryset = queryset.annotate(password_set_at=changed)
                expired |= Q(password_set_at__lte=timezone.now() - lifetime)
            return queryset.filter(expired)
        return queryset


class ActionForm(ReasonForm):
    """The reason field every action's button carries; the action's own form adds to it."""


@admin.register(DeskAccount)
class DeskAccountAdmin(FilterLookupsOnly, admin.ModelAdmin):
    list_display = ("username", "display_name", "kind", "status", "locked", "last_login")
    list_filter = (StandingFilter,)
    search_fields = ("username",)  # shows the box; the search itself is person_search
    search_help_text = (
        "Username, Harvard ID, name, institutional or personal email, or a phone number in "
        "any format."
    )
    list_select_related = ("person",)
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(boolean=True, description="Locked")
    def locked(self, obj):
        return obj.is_locked

    def get_search_results(self, request, queryset, search_term):
        return person_search(queryset, search_term), False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        from servicedesk.verification_views import verify_view

        return [
            path("<int:pk>/act/<slug:name>/", wrap(self.act_view), name="servicedesk_act"),
            path("<int:pk>/verify/", wrap(verify_view), name="servicedesk_verify"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The person's page (a GET; every change goes through ``act_view``)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        account = get_object_or_404(User.objects.select_related("person"), pk=self._pk(object_id))
        panels = []
        offered: dict[str, str] = {}  # action name -> button label, for the problems' links
        for name, title in PANELS:
            actions = [
                (action, (action.form or ActionForm)(prefix=action.name, account=account))
                for action in actions_for(agent=request.user, account=account, panel=name)
            ]
            offered.update({action.name: action.label for action, _ in actions})
            panels.append(
                {
                    "name": name,
                    "title": title,
                    "template": f"servicedesk/panels/{name}.html",
                    "actions": actions,
                    **context_for(name, account, request),
                }
            )
        events = (
            AuditEvent.objects.filter(Q(subject=account) | Q(actor=account))
            .select_related("actor", "subject")
            .order_by("-created_at", "-pk")[: app_settings.RECENT_EVENTS]
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": account.display_name,
            "account": account,
            "problems": [
                (problem, [(name, offered[name]) for name in problem.actions if name in offered])
                for problem in signin_problems(account)
            ],
            "password_summary": password_summary(account),
            "panels": panels,
            "events": events,
            "call": verified_call(agent=request.user, account=account),
            "call_minutes": int(app_settings.VERIFIED_CALL_TTL.total_seconds() // 60),
            "now": timezone.now(),
        }
        return TemplateResponse(request, "admin/servicedesk/deskaccount/person.html", context)

    def act_view(self, request, pk: int, name: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        account = get_object_or_404(User, pk=pk)
        action = REGISTRY.get(name)
        if (
            action is None
            or not action.allowed(request.user)
            or not may_act_on(request.user, account)
        ):
            try:  # refused there, and on the record
                desk_action_run(
                    name=name, agent=request.user, account=account, reason="", request=request
                )
            except PermissionError as exc:
                raise PermissionDenied from exc
            raise PermissionDenied
        form_class = action.form or ActionForm
        form = form_class(request.POST, prefix=action.name, account=account)
        page = reverse("admin:servicedesk_deskaccount_change", args=[account.pk])
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, f"{action.label}: {error}")
            return redirect(page)
        data = dict(form.cleaned_data)
        reason = data.pop("reason", "")
        try:
            done = desk_action_run(
                name=name,
                agent=request.user,
                account=account,
                reason=reason,
                data=data,
                request=request,
            )
        except PermissionError as exc:
            raise PermissionDenied from exc
        except ActionRefused as refused:
            messages.error(request, str(refused))
            return redirect(page)
        if done.template:
            # Something shown once (bypass codes): in this response only, kept nowhere.
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": action.label,
                "account": account,
                "done": done,
                "page": page,
                **done.show,
            }
            return TemplateResponse(request, done.template, context)
        messages.success(request, done.message)
        return redirect(page)

    @staticmethod
    def _pk(object_id) -> int:
        try:
            return int(object_id)
        except (TypeError, ValueError):
            return 0
