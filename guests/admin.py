from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse

from guests.models import Sponsorship
from guests.services.sponsorship import guest_revoke
from portal.admin import FilterLookupsOnly


class RevokeReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


@admin.register(Sponsorship)
class SponsorshipAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Guest access as sponsors requested it: who vouched for whom, until when, and its state.

    Read-only: sponsors act from My guests (/guests/), and nothing here shows or stores a key.
    The desk may revoke (``servicedesk.revoke_guests``), with a reason, whether or not the
    guest has registered yet: the key stops working, or the account is disabled.
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
    actions = ["revoke"]

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("servicedesk.revoke_guests")

    @admin.action(description="Revoke the selected guest access", permissions=["revoke"])
    def revoke(self, request, queryset):
        chosen = list(queryset.filter(status__in=["issued", "registered"]))
        form = RevokeReasonForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = sum(
                guest_revoke(
                    sponsorship=sponsorship,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    request=request,
                )
                for sponsorship in chosen
            )
            self.message_user(request, f"Revoked: {done} guest access(es).", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Revoke guest access",
            "opts": self.opts,
            "verb": "Revoke",
            "action": "revoke",
            "back": reverse("admin:guests_sponsorship_changelist"),
            "chosen": chosen,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/guests/sponsorship/confirm_revoke.html", context)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
