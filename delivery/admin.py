from django.contrib import admin

from delivery.models import Message
from portal.admin import FilterLookupsOnly


@admin.register(Message)
class MessageAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Messages, read-only, with their secrets masked whatever the status.

    Service-desk staff can see whether and when a message went out, never the code or link
    it carried: the raw ``body`` and the ``secret_spans`` are not among the fields shown.
    """

    list_display = (
        "created_at",
        "channel",
        "purpose",
        "recipient",
        "status",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", "channel", "purpose")
    search_fields = ("recipient",)
    date_hierarchy = "created_at"
    fields = (
        "channel",
        "recipient",
        "purpose",
        "user",
        "status",
        "attempts",
        "subject",
        "masked_body",
        "provider_id",
        "last_error",
        "created_at",
        "updated_at",
        "next_attempt_at",
        "claimed_at",
        "sent_at",
        "expires_at",
    )
    readonly_fields = fields
    list_select_related = ("user",)

    @admin.display(description="body (secrets masked)")
    def masked_body(self, obj: Message) -> str:
        return obj.masked_body

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
