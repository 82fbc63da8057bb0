"""The delivery queue in the console: what went out, what failed and why, resend and cancel.

Messages are read-only and their secrets masked whatever the status. Failed ones carry the
provider's error (``last_error``); "Failed in the last 24 hours" is the dashboard's link.
Agents with ``servicedesk.manage_messages`` resend a failed or cancelled message or cancel a
queued one, each after a page that asks for the reason; the services decide and audit.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from audit.admin import ChosenAccountFilter, console_time
from delivery.models import Message
from delivery.services import MessageRefused, message_cancel, message_resend
from portal.admin import FilterLookupsOnly


class FailedRecentlyFilter(admin.FieldListFilter):
    """``?updated_at__failed_within=24h``: messages given up in the last 24 hours (their
    last change is the failure). The parameter is named after the field because the admin
    checks every parameter against the filtered fields before any filter takes its own."""

    parameter = "updated_at__failed_within"

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        values = self.used_parameters.get(self.parameter) or []
        self.lookup_val = values[-1] if values else None
        self.title = "failed"

    def expected_parameters(self):
        return [self.parameter]

    def queryset(self, request, queryset):
        if self.lookup_val is None:
            return queryset
        if self.lookup_val != "24h":
            raise IncorrectLookupParameters(f"Unknown period {self.lookup_val!r}.")
        since = timezone.now() - timedelta(hours=24)
        return queryset.filter(status=Message.Status.FAILED, **{f"{self.field_path}__gte": since})

    def choices(self, changelist):
        yield {
            "selected": self.lookup_val is None,
            "query_string": changelist.get_query_string(remove=[self.parameter]),
            "display": "All",
        }
        yield {
            "selected": self.lookup_val == "24h",
            "query_string": changelist.get_query_string({self.parameter: "24h"}),
            "display": "In the last 24 hours",
        }


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="What the person asked for, or why. It goes in the audit trail.",
        error_messages={"required": "Write a reason."},
    )

    def clean_reason(self) -> str:
        reason = " ".join(self.cleaned_data["reason"].split())
        if not reason:
            raise forms.ValidationError("Write a reason.")
        return reason


@admin.register(Message)
class MessageAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Messages, read-only, with their secrets masked whatever the status.

    Service-desk staff can see whether and when a message went out, never the code or link
    it carried: the raw ``body`` and the ``secret_spans`` are not among the fields shown.
    """

    list_display = (
        "when",
        "channel",
        "purpose",
        "to",
        "account",
        "status",
        "attempts",
        "last_error",
        "sent",
    )
    list_filter = (
        ("user", ChosenAccountFilter),
        ("updated_at", FailedRecentlyFilter),
        "status",
        "channel",
        "purpose",
    )
    search_fields = ("recipient",)
    search_help_text = "A phone number or email address the message went to."
    date_hierarchy = "created_at"
    fields = (
        "channel",
        "to",
        "purpose",
        "account",
        "status",
        "attempts",
        "subject",
        "masked_body",
        "provider_id",
        "last_error",
        "created",
        "updated",
        "next_attempt",
        "claimed",
        "sent",
        "expires",
    )
    readonly_fields = fields
    list_select_related = ("user",)
    actions = ["resend_messages", "cancel_messages"]

    @admin.display(description="to")
    def to(self, obj: Message) -> str:
        """Masked: an agent finds a message by its full address (the search), but a page of
        messages does not list people's phone numbers and mailboxes."""
        return obj.masked_recipient

    @admin.display(description="body (secrets masked)")
    def masked_body(self, obj: Message) -> str:
        return obj.masked_body

    @admin.display(description="created", ordering="created_at")
    def when(self, obj: Message) -> str:
        return console_time(obj.created_at)

    @admin.display(description="account", ordering="user__username")
    def account(self, obj: Message):
        if obj.user is None:
            return "—"
        url = reverse("admin:servicedesk_deskaccount_change", args=[obj.user.pk])
        return format_html('<a href="{}">{}</a>', url, obj.user.username)

    @admin.display(description="created")
    def created(self, obj: Message) -> str:
        return console_time(obj.created_at)

    @admin.display(description="last change")
    def updated(self, obj: Message) -> str:
        return console_time(obj.updated_at)

    @admin.display(description="next attempt")
    def next_attempt(self, obj: Message) -> str:
        return console_time(obj.next_attempt_at)

    @admin.display(description="claimed by a worker")
    def claimed(self, obj: Message) -> str:
        return console_time(obj.claimed_at)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, obj: Message) -> str:
        return console_time(obj.sent_at)

    @admin.display(description="expires")
    def expires(self, obj: Message) -> str:
        return console_time(obj.expires_at)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_manage_messages_permission(self, request) -> bool:
        return request.user.has_perm("servicedesk.manage_messages")

    # Resend and cancel --------------------------------------------------------------------

    @admin.action(
        description="Resend the selected failed or cancelled messages",
        permissions=["manage_messages"],
    )
    def resend_messages(self, request, queryset):
        return self._with_reason(
            request, queryset, name="resend_messages", verb="Resend", service=message_resend
        )

    @admin.action(
        description="Cancel the selected queued messages", permissions=["manage_messages"]
    )
    def cancel_messages(self, request, queryset):
        return self._with_reason(
            request, queryset, name="cancel_messages", verb="Cancel", service=message_cancel
        )

    def _with_reason(self, request, queryset, *, name: str, verb: str, service):
        """Ask for the reason on a page of its own; then run ``service`` on each message."""
        chosen = list(queryset.select_related("user").order_by("-created_at", "-pk"))
        form = ReasonForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            done, refused = 0, []
            for message in chosen:
                try:
                    service(
                        message_id=message.pk,
                        agent=request.user,
                        reason=form.cleaned_data["reason"],
                        request=request,
                    )
                except MessageRefused as refusal:
                    refused.append(f"{message}: {refusal}")
                else:
                    done += 1
                    _tell(message, verb=verb)
            past = "Queued again" if verb == "Resend" else "Cancelled"
            if done:
                self.message_user(request, f"{past}: {done} message(s).", messages.SUCCESS)
            for line in refused:
                self.message_user(request, f"Not done: {line}", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb} messages",
            "opts": self.opts,
            "verb": verb,
            "action": name,
            "back": reverse("admin:delivery_message_changelist"),
            "chosen": chosen,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/delivery/message/confirm_action.html", context)


def _tell(message: Message, *, verb: str) -> None:
    """The person a resent or cancelled message was for is told, as for every desk action."""
    if message.user is None:
        return
    from accounts.services.notices import Reach, notice_send

    what = message.subject or message.purpose
    done = (
        f"Sent again a message that had not reached you ({what})."
        if verb == "Resend"
        else f"Cancelled a message to you that had not been sent ({what})."
    )
    notice_send(
        user=message.user,
        name="servicedesk/action_taken",
        context={"done": done},
        reach=Reach.ACCOUNT_AND_SAFECODE_EMAILS,
        purpose="desk_action",
    )
