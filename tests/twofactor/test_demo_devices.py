"""The demo data of `make run`: demo accounts that show the second step and the setup."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from accounts.models import User
from safecode.selectors import user_has_verified_channel
from twofactor.policy import user_devices

pytestmark = pytest.mark.django_db


def test_the_demo_accounts_get_what_their_journeys_need(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo_devices", verbosity=0)
    call_command("seed_demo_devices", verbosity=0)  # twice: nothing added again

    faculty = User.objects.get(username="faculty.demo")
    [phone] = user_devices(faculty)
    assert phone.is_default and phone.methods == ["sms", "call"]
    staff = User.objects.get(username="staff.demo")
    assert user_has_verified_channel(staff) and not user_devices(staff).exists()


def test_demo_devices_refuse_to_load_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured):
        call_command("seed_demo_devices")
