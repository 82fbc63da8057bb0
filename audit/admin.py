"""The audit trail in the console: read-only for everyone, filtered the desk's way, exported.

Agents filter by account, by agent, by kind of event, by outcome and by date; the person's
page links here with ``?subject__id__exact=<pk>``. Every time is shown in the settings' zone,
details included, and details are labelled fields, not JSON. "Export CSV" streams the list
as filtered (or the selected rows, as an action); cells a spreadsheet would run as a formula
are defused.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from audit.models import AuditEvent
from audit.services import audit_record
from portal.admin import FilterLookupsOnly

# Detail keys the desk reads under another name; any other key is shown as words.
LABELS = {
    "ip": "IP address",
    "done": "What was done",
    "verified_call": "Verified call",
    "message_id": "Message",
    "channel_kind": "Kind of channel",
    "expires_at": "Expires",
    "retry_after": "Can try again",
    "was": "Status before",
    "path": "Page",
    "token": "Report reference",
    "still": "Still paused",
    "wrong_entries": "Wrong entries forgotten",
    "codes": "Codes forgotten",
}
EMPTY = "—"
_FIRST = ["reason", "done", "verified_call"]
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
# A cell starting with one of these is run as a formula by spreadsheets (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def console_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def console_time(moment: datetime | None, fmt: str = "DATETIME_FORMAT") -> str:
    """``moment`` in the settings' zone, in the console's format."""
    if moment is None:
        return EMPTY
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return date_format(timezone.localtime(moment, console_zone()), fmt)


def detail_label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def detail_value(value: Any) -> str:
    """One detail as words: times in the settings' zone, lists joined, yes and no."""
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list | tuple):
        return ", ".join(detail_value(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{detail_label(k)}: {detail_value(v)}" for k, v in value.items())
    if isinstance(value, str) and _ISO_TIME.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return console_time(moment)
    return str(value)


def detail_items(detail: Any) -> list[tuple[str, str]]:
    if not isinstance(detail, dict):
        return [("Detail", detail_value(detail))] if detail else []
    # PostgreSQL's jsonb keeps no key order: the desk's keys first, then the others by name.
    keys = sorted(
        detail, key=lambda key: (_FIRST.index(key) if key in _FIRST else len(_FIRST), key)
    )
    return [(detail_label(key), detail_value(detail[key])) for key in keys]


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading '."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The CSV lines of ``events``, one at a time, for a streaming response."""
    writer = csv.writer(_Echo())
    yield "\ufeff"  # so that spreadsheets read UTF-8
    yield writer.writerow(
        [
            f"Time ({settings.TIME_ZONE})",
            "Event",
            "Outcome",
            "Account",
            "Agent",
            "IP address",
            "Details",
        ]
    )
    for event in events:
        details = "; ".join(f"{label}: {value}" for label, value in detail_items(event.detail))
        row = [
            console_time(event.created_at, "Y-m-d H:i:s T"),
            event.event,
            event.get_outcome_display(),
            event.subject.username if event.subject else "",
            event.actor.username if event.actor else "",
            event.ip or "",
            details,
        ]
        yield writer.writerow([csv_cell(cell) for cell in row])


def csv_response(queryset: QuerySet[AuditEvent]) -> StreamingHttpResponse:
    events = queryset.select_related("subject", "actor").iterator(chunk_size=1000)
    stamp = format_date(timezone.localtime(timezone.now(), console_zone()), "Ymd-Hi")
    response = StreamingHttpResponse(csv_rows(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


# Filters ------------------------------------------------------------------------------------


class ChosenAccountFilter(admin.RelatedFieldListFilter):
    """An account filter that lists only the account chosen (from a person's page, say): a
    list of every account on the sidebar would be the whole directory."""

    def field_choices(self, field, request, model_admin):
        wanted = [value for value in (self.lookup_val or []) if str(value).isdigit()]
        if not wanted:
            return []
        found = dict(get_user_model().objects.filter(pk__in=wanted).values_list("pk", "username"))
        return [(int(pk), found.get(int(pk), f"Account #{pk}")) for pk in wanted]

    def has_output(self):
        # Shown (and so applied) whenever it is in use, even for an account that is gone.
        return True


class AgentFilter(ChosenAccountFilter):
    """Who did it: the console's staff, and whoever is chosen."""

    def field_choices(self, field, request, model_admin):
        chosen = super().field_choices(field, request, model_admin)
        staff = list(
            get_user_model()
            .objects.filter(is_staff=True)
            .order_by("username")
            .values_list("pk", "username")
        )
        known = {pk for pk, _ in staff}
        return staff + [choice for choice in chosen if choice[0] not in known]


class RecentFilter(admin.FieldListFilter):
    """When, in the settings' zone: today (since local midnight), the last 24 hours, 7 or 30
    days. ``?created_at__within=today`` is what the dashboard links to."""

    CHOICES = [
        ("today", "Today"),
        ("24h", "Last 24 hours"),
        ("7d", "Last 7 days"),
        ("30d", "Last 30 days"),
    ]

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_kwarg = f"{field_path}__within"
        super().__init__(field, request, params, model, model_admin, field_path)
        values = self.used_parameters.get(self.lookup_kwarg) or []
        self.lookup_val = values[-1] if values else None
        self.title = "when"

    def expected_parameters(self):
        return [self.lookup_kwarg]

    def queryset(self, request, queryset):
        since = since_for(self.lookup_val)
        if self.lookup_val is None:
            return queryset
        if since is None:
            raise IncorrectLookupParameters(f"Unknown period {self.lookup_val!r}.")
        return queryset.filter(**{f"{self.field_path}__gte": since})

    def choices(self, changelist):
        yield {
            "selected": self.lookup_val is None,
            "query_string": changelist.get_query_string(remove=[self.lookup_kwarg]),
            "display": "Any time",
        }
        for value, label in self.CHOICES:
            yield {
                "selected": self.lookup_val == value,
                "query_string": changelist.get_query_string({self.lookup_kwarg: value}),
                "display": label,
            }


def since_for(period: str | None) -> datetime | None:
    """The start of ``period`` (``today``, ``24h``, ``7d``, ``30d``); None for another."""
    now = timezone.now()
    if period == "today":
        return local_midnight(now)
    spans = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    return now - spans[period] if period in spans else None


def local_midnight(now: datetime) -> datetime:
    """The start of today in the settings' zone (a DST day starts at its own offset)."""
    local = timezone.localtime(now, console_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


# The admin ----------------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """The audit trail, read-only for everyone, superusers included."""

    list_display = ("when", "event", "outcome", "account", "agent", "ip")
    list_filter = (
        ("subject", ChosenAccountFilter),
        ("actor", AgentFilter),
        "event",
        "outcome",
        ("created_at", RecentFilter),
    )
    search_fields = ("event", "subject__username", "actor__username", "ip")
    search_help_text = "An event name, a username (the account's or the agent's), or an IP."
    date_hierarchy = "created_at"
    list_select_related = ("subject", "actor")
    fields = ("when", "event", "outcome", "account", "agent", "ip", "user_agent", "details")
    readonly_fields = fields
    actions = ["export_csv"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="time", ordering="created_at")
    def when(self, obj: AuditEvent) -> str:
        return console_time(obj.created_at)

    @admin.display(description="account", ordering="subject__username")
    def account(self, obj: AuditEvent):
        return self._person(obj.subject)

    @admin.display(description="agent", ordering="actor__username")
    def agent(self, obj: AuditEvent):
        return self._person(obj.actor)

    @admin.display(description="details")
    def details(self, obj: AuditEvent):
        items = detail_items(obj.detail)
        if not items:
            return EMPTY
        rows = format_html_join("", "<dt>{}</dt><dd>{}</dd>", items)
        return format_html('<dl class="desk-facts audit-details">{}</dl>', rows)

    @staticmethod
    def _person(user):
        """The account's username, linked to the person's page (which checks its own
        permission)."""
        if user is None:
            return EMPTY
        url = reverse("admin:servicedesk_deskaccount_change", args=[user.pk])
        return format_html('<a href="{}">{}</a>', url, user.username)

    # Export -------------------------------------------------------------------------------

    @admin.action(description="Export the selected events as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        record = _audit_export(request, how="selected", count=queryset.count())
        return csv_response(queryset.exclude(pk=record.pk))

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="audit_auditevent_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The list as filtered on the page (filters, search, dates, order), as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist") + "?e=1")
        record = _audit_export(request, how="filtered", query=request.GET.urlencode()[:300])
        return csv_response(changelist.queryset.exclude(pk=record.pk))


def _audit_export(request, *, how: str, **detail) -> AuditEvent:
    """Exporting the trail is itself on the trail (not in the export it announces)."""
    return audit_record(event="audit.exported", request=request, how=how, **detail)
