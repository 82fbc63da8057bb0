"""The service desk reads and resolves push fraud reports; identity administrators too."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = [("twofactor", "view_fraudreport"), ("twofactor", "change_fraudreport")]
GROUPS = ["Service desk", "Identity administrators"]


def grant(apps, schema_editor):
    config = apps.get_app_config("twofactor")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    found = [
        Permission.objects.get(content_type__app_label=label, codename=codename)
        for label, codename in PERMISSIONS
    ]
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.add(*found)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    found = Permission.objects.filter(
        content_type__app_label="twofactor", codename__in=[c for _, c in PERMISSIONS]
    )
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*found)


class Migration(migrations.Migration):
    dependencies = [
        ("twofactor", "0003_push_and_security_keys"),
        ("accounts", "0004_console_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
