"""Demo data for the embedded default: a small directory and a few accounts.

Idempotent: a second run changes nothing. Refuses to run when DEBUG is off.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Affiliation, Person, User
from accounts.services.passwords import password_set

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - documented demo credential, DEBUG only

PEOPLE = [
    # huid, first, last, dob, affiliation, full_time, department, email
    (
        "10000001",
        "Sam",
        "Staffer",
        date(1985, 3, 14),
        Affiliation.STAFF,
        True,
        "Information Technology",
        "sam_staffer@hms.harvard.edu",
    ),
    (
        "10000002",
        "Fiona",
        "Faculty",
        date(1970, 7, 2),
        Affiliation.FACULTY,
        True,
        "Neurobiology",
        "fiona_faculty@hms.harvard.edu",
    ),
    (
        "10000003",
        "Desmond",
        "Desk",
        date(1990, 1, 20),
        Affiliation.STAFF,
        True,
        "IT Service Desk",
        "desmond_desk@hms.harvard.edu",
    ),
    (
        "10000004",
        "Nadia",
        "Newcomer",
        date(1998, 11, 5),
        Affiliation.STUDENT,
        True,
        "MD Program",
        "nadia_newcomer@hms.harvard.edu",
    ),
    (
        "10000005",
        "Hugo",
        "Hospitalist",
        date(1979, 5, 30),
        Affiliation.AFFILIATE,
        True,
        "Medicine (BIDMC)",
        "hugo_hospitalist@hms.harvard.edu",
    ),
    (
        "10000006",
        "José",
        "Núñez-García",
        date(1988, 9, 9),
        Affiliation.STAFF,
        False,
        "Genetics",
        "jose_nunez@hms.harvard.edu",
    ),
]

ACCOUNTS = [
    # username, huid or None, kind, staff, group
    ("staff.demo", "10000001", User.Kind.PERSONAL, False, None),
    ("faculty.demo", "10000002", User.Kind.PERSONAL, False, None),
    ("desk.demo", "10000003", User.Kind.PERSONAL, True, "Service desk"),
    ("dept.radiology", None, User.Kind.DEPARTMENTAL, False, None),
]


class Command(BaseCommand):
    help = "Load demo people and accounts (development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise ImproperlyConfigured(
                "seed_demo loads known passwords and runs only with DEBUG on."
            )
        with transaction.atomic():
            created = self._seed()
        self.stdout.write(
            f"demo data: {created} new record(s); password for every demo login: {DEMO_PASSWORD}"
        )

    def _seed(self) -> int:
        created = 0
        for huid, first, last, dob, affiliation, full_time, dept, email in PEOPLE:
            _, new = Person.objects.get_or_create(
                huid=huid,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "date_of_birth": dob,
                    "affiliation": affiliation,
                    "full_time": full_time,
                    "department": dept,
                    "email": email,
                    "office_phone": "617-432-0000",
                    "office_address": "25 Shattuck Street, Boston, MA 02115",
                },
            )
            created += new
        for username, huid, kind, staff, group in ACCOUNTS:
            if User.objects.filter(username=username).exists():
                continue
            person = Person.objects.get(huid=huid) if huid else None
            user = User.objects.create(
                username=username,
                person=person,
                kind=kind,
                is_staff=staff,
                email=person.email if person else "radiology@hms.harvard.edu",
                first_name=person.first_name if person else "Radiology",
                last_name=person.last_name if person else "Department",
            )
            password_set(user=user, raw_password=DEMO_PASSWORD)
            if group:
                user.groups.add(Group.objects.get(name=group))
            created += 1
        return created
