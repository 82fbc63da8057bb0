from django.contrib import admin, messages

from portal.admin import FilterLookupsOnly
from twofactor.models import FraudReport
from twofactor.push import fraud_report_resolve


@admin.register(FraudReport)
class FraudReportAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Pushes denied on the phone and reported as fraud: the service desk's queue.

    Open reports come first. The desk contacts the person, has the password changed, and marks
    the report resolved (an action, audited with the agent); nothing else here can be edited.
    """

    list_display = ("created_at", "user", "browser", "ip", "resolved_at", "resolved_by")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username",)
    fields = ("user", "created_at", "browser", "ip", "resolved_at", "resolved_by")
    readonly_fields = fields
    list_select_related = ("user", "resolved_by")
    actions = ["resolve"]

    @admin.action(description="Mark the selected reports resolved", permissions=["change"])
    def resolve(self, request, queryset):
        resolved = sum(
            fraud_report_resolve(report=report, agent=request.user, request=request)
            for report in queryset.filter(resolved_at__isnull=True)
        )
        self.message_user(request, f"{resolved} report(s) marked resolved.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields
