from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import Person, User
from accounts.services.registration import affiliate_decide


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
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


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "kind", "status", "is_locked", "last_login")
    list_filter = ("status", "kind", "is_staff")
    search_fields = ("username", "email", "first_name", "last_name", "person__huid")
    list_select_related = ("person",)
    raw_id_fields = ("person",)
    readonly_fields = (
        "password",
        "failed_login_count",
        "locked_at",
        "password_changed_at",
        "last_login",
        "date_joined",
    )
    fieldsets = (
        (None, {"fields": ("username", "password", "kind", "status", "person")}),
        ("Contact", {"fields": ("first_name", "last_name", "email")}),
        (
            "Security",
            {
                "fields": (
                    "failed_login_count",
                    "locked_at",
                    "password_changed_at",
                    "safecode_skips",
                )
            },
        ),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    actions = ["approve_affiliates", "refuse_affiliates"]

    @admin.display(boolean=True, description="Locked")
    def is_locked(self, obj):
        return obj.is_locked

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
