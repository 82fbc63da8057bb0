"""The demo data of `make run`: faculty.demo sponsors a registered guest who can sign in."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from accounts.management.commands.seed_demo import DEMO_PASSWORD
from accounts.models import User
from guests.models import Sponsorship
from tests.helpers import post_login

pytestmark = pytest.mark.django_db


def test_the_demo_sponsor_has_a_registered_guest_who_can_sign_in(settings, client):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo_guests", verbosity=0)
    call_command("seed_demo_guests", verbosity=0)  # twice: nothing added again

    [sponsorship] = Sponsorship.objects.all()
    assert sponsorship.sponsor.username == "faculty.demo"
    assert sponsorship.status == Sponsorship.Status.REGISTERED
    guest = User.objects.get(username="guest.demo")
    assert guest.kind == User.Kind.GUEST and guest.may_sign_in
    response = post_login(client, "guest.demo", DEMO_PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(guest.pk)


def test_demo_guests_refuse_to_load_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured):
        call_command("seed_demo_guests")
