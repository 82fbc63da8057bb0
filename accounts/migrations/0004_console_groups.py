"""The two groups of the service-desk console, with least privilege.

"Service desk" looks accounts and people up, reads the audit trail and acts through the
console's actions; it edits no raw field, grants nothing and sets no password. "Identity
administrators" may do everything the console offers, setting passwords (through the password
service) and changing privileges included.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SERVICE_DESK = "Service desk"
IDENTITY_ADMINISTRATORS = "Identity administrators"

DESK_PERMISSIONS = [
    ("accounts", "view_user"),
    ("accounts", "change_user"),
    ("accounts", "view_person"),
    ("audit", "view_auditevent"),
    ("delivery", "view_message"),
]
ADMIN_APPS = ["accounts", "safecode", "delivery"]
ADMIN_EXTRA = [("audit", "view_auditevent")]


def create_groups(apps, schema_editor):
    for label in ["accounts", "audit", "delivery", "safecode"]:
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def pick(pairs):
        found = []
        for app_label, codename in pairs:
            found.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        return found

    desk, _ = Group.objects.get_or_create(name=SERVICE_DESK)
    desk.permissions.set(pick(DESK_PERMISSIONS))
    admins, _ = Group.objects.get_or_create(name=IDENTITY_ADMINISTRATORS)
    everything = list(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
    admins.permissions.set(everything + pick(ADMIN_EXTRA))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=[SERVICE_DESK, IDENTITY_ADMINISTRATORS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_signin_rules"),
        ("audit", "0001_initial"),
        ("delivery", "0001_initial"),
        ("safecode", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
