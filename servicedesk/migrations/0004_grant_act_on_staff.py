"""Acting on the accounts of console staff is for identity administrators only."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    config = apps.get_app_config("servicedesk")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="servicedesk", codename="act_on_staff")
    Group.objects.get(name="Identity administrators").permissions.add(permission)
    Group.objects.get(name="Service desk").permissions.remove(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="servicedesk", codename="act_on_staff"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("servicedesk", "0003_act_on_staff")]

    operations = [migrations.RunPython(grant, revoke)]
