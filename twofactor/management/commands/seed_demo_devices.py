"""Demo SafeCode contacts and two-factor devices for the demo accounts (development only).

After ``seed_demo``: faculty.demo and desk.demo get a SafeCode email and a confirmed phone
that receives passcodes by text message, so their sign-in shows the second step with the
passcode in the dev outbox; staff.demo gets only the SafeCode email, to walk through
two-factor setup (with any authenticator app, or the key typed into one).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from safecode.models import Channel
from twofactor.models import Device, PhoneDevice

DEMO = {
    # username: (SafeCode email, demo phone for passcodes or None)
    "staff.demo": ("staff.demo@example.org", None),
    "faculty.demo": ("faculty.demo@example.org", "+16175550142"),
    "desk.demo": ("desk.demo@example.org", "+16175550143"),
}
# SafeCode phones of the demo accounts, by username: the console finds dept.radiology by it.
DEMO_SAFECODE_PHONES = {"dept.radiology": "+16175550150"}


class Command(BaseCommand):
    help = "Give the demo accounts SafeCode contacts and two-factor phones (development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise ImproperlyConfigured("seed_demo_devices runs only with DEBUG on.")
        with transaction.atomic():
            created = sum(self._seed(username, *rest) for username, rest in DEMO.items())
            created += sum(
                self._safecode_phone(username, phone)
                for username, phone in DEMO_SAFECODE_PHONES.items()
            )
        self.stdout.write(f"demo two-factor data: {created} new record(s)")

    def _seed(self, username: str, email: str, phone: str | None) -> int:
        user = User.objects.filter(username=username).first()
        if user is None:
            return 0
        created = 0
        now = timezone.now()
        if not Channel.objects.filter(user=user, kind=Channel.Kind.EMAIL).exists():
            Channel.objects.create(
                user=user,
                kind=Channel.Kind.EMAIL,
                address=email,
                status=Channel.Status.VERIFIED,
                verified_at=now,
            )
            created += 1
        if phone and not Device.objects.filter(user=user).exists():
            otp = PhoneDevice.objects.create(
                user=user, name="Demo phone", confirmed=True, number=phone
            )
            Device.objects.create(
                user=user,
                kind=Device.Kind.MOBILE,
                phone_type=Device.PhoneType.OTHER,
                name="Demo phone",
                number=phone,
                phone=otp,
                is_default=True,
                confirmed_at=now,
            )
            created += 1
        return created

    def _safecode_phone(self, username: str, phone: str) -> int:
        user = User.objects.filter(username=username).first()
        if user is None or Channel.objects.filter(user=user, kind=Channel.Kind.PHONE).exists():
            return 0
        Channel.objects.create(
            user=user,
            kind=Channel.Kind.PHONE,
            address=phone,
            region="US",
            status=Channel.Status.VERIFIED,
            verified_at=timezone.now(),
        )
        return 1
