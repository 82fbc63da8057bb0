"""A demo guest for the embedded default (development only).

After ``seed_demo``: faculty.demo sponsors Gina Visitor of MIT for 90 days from the day this
first runs, and the guest registered as ``guest.demo`` with the demo password, through the same
services a sponsor and a guest use. Idempotent.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.management.commands.seed_demo import DEMO_PASSWORD
from accounts.models import User
from guests.services.redemption import guest_key_redeem
from guests.services.sponsorship import GuestDetails, guest_request_create

SPONSOR = "faculty.demo"
GUEST = "guest.demo"


class Command(BaseCommand):
    help = "Give faculty.demo a registered demo guest, guest.demo (development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise ImproperlyConfigured("seed_demo_guests runs only with DEBUG on.")
        sponsor = User.objects.filter(username=SPONSOR).first()
        if sponsor is None or User.objects.filter(username=GUEST).exists():
            self.stdout.write("demo guests: 0 new record(s)")
            return
        today = timezone.localdate()
        with transaction.atomic():
            issued = guest_request_create(
                sponsor=sponsor,
                details=GuestDetails(
                    first_name="Gina",
                    last_name="Visitor",
                    email="gina.visitor@example.org",
                    organisation="Massachusetts Institute of Technology",
                    purpose="Research collaboration with the Neurobiology department.",
                    start_date=today,
                    end_date=today + timedelta(days=90),
                ),
                attested=True,
            )
            guest_key_redeem(
                key_id=issued.sponsorship.keys.get().pk,
                username=GUEST,
                password=DEMO_PASSWORD,
                request=None,
            )
        self.stdout.write("demo guests: guest.demo, sponsored by faculty.demo")
