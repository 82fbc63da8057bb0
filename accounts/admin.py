"""The accounts part of the service-desk console.

Least privilege (SECURITY.md, Service desk): the service desk sees accounts and acts on them
through actions; it cannot edit raw fields, grant privileges or set a password by any form,
URL or forged POST, because those fields are read-only for it (Django ignores posted values of
read-only fields) and the password page refuses it. No password hash is shown to anyone. A
password can be set only by an identity administrator (``accounts.set_user_password``), and
only through the password service: history, expiry, lock cleared, other sessions ended, audit,
notice, and a change required at the next sign-in. Every change saved here is an audit event
naming the agent and the fields changed, never their values.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import password_validation
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from accounts.models import Person, User
from accounts.services.admin_passwords import password_set_by_administrator
from accounts.services.registration import affiliate_decide
from audit.models import AuditEvent
from audit.services import audit_record
from portal.admin import FilterLookupsOnly

PRIVILEGE_FIELDS = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")


class AuditedAdminMixin:
    """Every change saved through the console is on the record: who, what, which fields."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            event="admin.changed" if change else "admin.added",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=obj if isinstance(obj, User) else _account_of(obj),
            request=request,
            model=obj._meta.label_lower,
            object_id=obj.pk,
            fields=sorted(form.changed_data),
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        related = sorted(
            f.name for f in form.instance._meta.many_to_many if f.name in form.changed_data
        )
        if related:
            audit_record(
                event="admin.changed_related",
                outcome=AuditEvent.Outcome.SUCCESS,
                subject=form.instance if isinstance(form.instance, User) else None,
                request=request,
                model=form.instance._meta.label_lower,
                object_id=form.instance.pk,
                fields=related,
            )

    def delete_model(self, request, obj):
        audit_record(
            event="admin.deleted",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=obj if isinstance(obj, User) else _account_of(obj),
            request=request,
            model=obj._meta.label_lower,
            object_id=obj.pk,
        )
        super().delete_model(request, obj)


def _account_of(obj):
    account = getattr(obj, "account", None)
    return account if isinstance(account, User) else None


@admin.register(Person)
class PersonAdmin(FilterLookupsOnly, AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "huid",
        "last_name",
        "first_name",
        "affiliation",
        "school",
        "department",
        "is_active",
    )
    list_filter = ("affiliation", "school", "is_active", "full_time")
    search_fields = ("huid", "last_name_key", "first_name_key", "email")
    exclude = ("ssn_hash",)
    readonly_fields = ("created_at", "updated_at")


class AdministratorPasswordForm(forms.Form):
    """A new password for someone else's account, checked against the same policy."""

    password1 = forms.CharField(
        label="New password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "off"})
    )
    password2 = forms.CharField(
        label="New password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    reason = forms.CharField(label="Reason", max_length=300, widget=forms.Textarea)

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords are not the same.")
        elif first:
            try:
                password_validation.validate_password(first, self.user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


@admin.register(User)
class UserAdmin(FilterLookupsOnly, AuditedAdminMixin, DjangoUserAdmin):
    list_display = ("username", "display_name", "kind", "status", "is_locked", "last_login")
    list_filter = ("status", "kind", "is_staff")
    search_fields = ("username", "email", "first_name", "last_name", "person__huid")
    list_select_related = ("person",)
    raw_id_fields = ("person",)
    change_password_form = AdministratorPasswordForm
    fieldsets = (
        (None, {"fields": ("username", "password_state", "kind", "status", "person")}),
        ("Contact", {"fields": ("first_name", "last_name", "email")}),
        (
            "Security",
            {
                "fields": (
                    "failed_login_count",
                    "locked_at",
                    "password_changed_at",
                    "must_change_password",
                    "safecode_skips",
                    "codes_paused",
                )
            },
        ),
        ("Permissions", {"fields": PRIVILEGE_FIELDS}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    always_read_only = (
        "password_state",
        "codes_paused",
        "failed_login_count",
        "locked_at",
        "password_changed_at",
        "must_change_password",
        "last_login",
        "date_joined",
    )
    actions = ["approve_affiliates", "refuse_affiliates"]

    def has_add_permission(self, request):
        # Accounts come from registration, the directory feed and approved affiliates; an
        # account made here would skip the identity checks those make.
        return False

    def get_readonly_fields(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return super().get_readonly_fields(request, obj)
        if not request.user.has_perm("accounts.change_user_privileges"):
            # The service desk changes nothing by hand: it works through the actions.
            return tuple(name for fieldset in self.fieldsets for name in fieldset[1]["fields"])
        if not request.user.is_superuser:
            return (*self.always_read_only, "is_superuser")
        return self.always_read_only

    @admin.display(description="Password")
    def password_state(self, obj):
        if not obj.has_usable_password():
            return "No password set"
        when = obj.password_changed_at or obj.date_joined
        state = f"Set on {date_format(when, 'DATE_FORMAT')}"
        if obj.must_change_password:
            state += "; must be changed at the next sign-in"
        return state

    @admin.display(description="SafeCodes paused")
    def codes_paused(self, obj):
        from safecode.selectors import safecode_pauses

        pauses = safecode_pauses(obj)
        if not pauses:
            return "No: codes can be sent"
        return format_html_join(
            mark_safe("<br>"),
            "{}: paused until {} ({})",
            (
                (label, date_format(timezone.localtime(until), "DATETIME_FORMAT"), why)
                for label, until, why in pauses
            ),
        )

    @admin.display(boolean=True, description="Locked")
    def is_locked(self, obj):
        return obj.is_locked

    def get_urls(self):
        urls = [url for url in super().get_urls() if url.name != "accounts_user_password_change"]
        return [
            path(
                "<int:id>/password/",
                self.admin_site.admin_view(self.user_change_password),
                name="accounts_user_password_change",
            ),
            *urls,
        ]

    def user_change_password(self, request, id, form_url=""):
        """Set a password for someone else: identity administrators only, through the service."""
        if not request.user.has_perm("accounts.set_user_password"):
            raise PermissionDenied
        user = get_object_or_404(User, pk=id)
        form = AdministratorPasswordForm(request.POST or None, user=user)
        if request.method == "POST" and form.is_valid():
            password_set_by_administrator(
                user=user,
                new_password=form.cleaned_data["password1"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
                request=request,
            )
            self.message_user(
                request,
                f"Password set for {user.username}; it must be changed at the next sign-in.",
                messages.SUCCESS,
            )
            return redirect(reverse("admin:accounts_user_change", args=[user.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Set a password for {user.username}",
            "form": form,
            "original": user,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/accounts/user/set_password.html", context)

    def _decide(self, request, queryset, approve: bool):
        done = 0
        for user in queryset.filter(status=User.Status.PENDING_APPROVAL):
            done += affiliate_decide(
                user=user,
                approve=approve,
                actor=request.user,
                reason="decided in the service-desk console",
                request=request,
            )
        verb = "approved" if approve else "refused"
        self.message_user(request, f"{done} account request(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Approve selected affiliate requests", permissions=["change"])
    def approve_affiliates(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Refuse selected affiliate requests", permissions=["change"])
    def refuse_affiliates(self, request, queryset):
        self._decide(request, queryset, approve=False)
