from django.contrib import admin

from audit.models import AuditEvent
from portal.admin import FilterLookupsOnly


@admin.register(AuditEvent)
class AuditEventAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """The audit trail, read-only for everyone, superusers included."""

    list_display = ("created_at", "event", "outcome", "subject", "actor", "ip")
    list_filter = ("outcome", "event")
    search_fields = ("event", "subject__username", "actor__username", "ip")
    date_hierarchy = "created_at"
    list_select_related = ("subject", "actor")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
