"""The service desk works through the console's actions, never the raw forms.

"Service desk" gets the permissions of ``servicedesk.DeskAccount`` (finding a person, each kind
of action) and loses the raw account and person forms it had (``accounts.view_user``,
``change_user``, ``view_person``): raw account, person, channel and device forms stay with
identity administrators, who get every desk permission as well.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SERVICE_DESK = "Service desk"
IDENTITY_ADMINISTRATORS = "Identity administrators"
RAW = [("accounts", "view_user"), ("accounts", "change_user"), ("accounts", "view_person")]
GUESTS = [("guests", "view_sponsorship")]


def grant(apps, schema_editor):
    for label in ["servicedesk", "guests"]:
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

    desk_permissions = list(Permission.objects.filter(content_type__app_label="servicedesk"))
    desk, _ = Group.objects.get_or_create(name=SERVICE_DESK)
    desk.permissions.remove(*pick(RAW))
    desk.permissions.add(*desk_permissions, *pick(GUESTS))
    admins, _ = Group.objects.get_or_create(name=IDENTITY_ADMINISTRATORS)
    admins.permissions.add(*desk_permissions, *pick(GUESTS))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    desk_permissions = list(Permission.objects.filter(content_type__app_label="servicedesk"))
    for group in Group.objects.filter(name__in=[SERVICE_DESK, IDENTITY_ADMINISTRATORS]):
        group.permissions.remove(*desk_permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("servicedesk", "0001_initial"),
        ("accounts", "0004_console_groups"),
        ("guests", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
