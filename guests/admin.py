from django.contrib import admin

from guests.models import Sponsorship
from portal.admin import FilterLookupsOnly


@admin.register(Sponsorship)
class SponsorshipAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Guest access as sponsors requested it: who vouched for whom, until when, and its state.

    Read-only: sponsors act from My guests (/guests/), and nothing here shows or stores a key.
    """

    list_display = (
        "last_name",
        "first_name",
        "organisation",
        "sponsor",
        "start_date",
        "end_date",
        "status",
        "account",
    )
    list_filter = ("status", "end_date")
    search_fields = ("last_name", "first_name", "organisation", "sponsor__username")
    fields = (
        "first_name",
        "last_name",
        "email",
        "organisation",
        "purpose",
        "start_date",
        "end_date",
        "sponsor",
        "attested_at",
        "status",
        "account",
        "registered_at",
        "ended_at",
        "revoked_by",
        "created_at",
    )
    list_select_related = ("sponsor", "account")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
