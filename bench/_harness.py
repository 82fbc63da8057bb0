"""What the benchmarks share: the scratch database, deterministic people, percentiles."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta

SCRATCH_DATABASE = "bench_portal"

FIRST_NAMES = (
    "Aaliyah", "Adam", "Aisha", "Alejandro", "Ana", "Andrew", "Anjali", "Benjamin", "Björn",
    "Camila", "Carlos", "Catherine", "Chen", "Chloé", "Daniel", "David", "Elena", "Elizabeth",
    "Emily", "Fatima", "François", "Gabriel", "Grace", "Hannah", "Hiroshi", "Ingrid", "Isabel",
    "James", "Jennifer", "John", "José", "Joseph", "Julia", "Kenji", "Laura", "Li", "Lucas",
    "María", "Mary Ann", "Matthew", "Mei", "Michael", "Mohammed", "Nadia", "Noah", "Olivia",
    "Omar", "Priya", "Rachel", "Rahul", "Robert", "Sarah", "Siobhán", "Sofia", "Søren",
    "Thomas", "Wei", "William", "Yusuf", "Zoë",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Ahmed", "Anderson", "Brown", "Chen", "Clark", "Cohen", "Davis", "Dubois",
    "Fernández", "Fischer", "García", "Gupta", "Hall", "Hernández", "Ito", "Jackson",
    "Johnson", "Kim", "Kowalski", "Lee", "Li", "López", "Martin", "Martínez", "Miller",
    "Moore", "Müller", "Nakamura", "Nguyen", "Núñez-García", "O'Brien", "Okafor", "Patel",
    "Pérez", "Rodríguez", "Rossi", "Sánchez", "Schmidt", "Shah", "Singh", "Smith", "Taylor",
    "Thomas", "Thompson", "Wang", "White", "Williams", "Wilson", "Wong", "Yamamoto", "Zhang",
)  # fmt: skip
SYLLABLES = (
    "ba", "ber", "ca", "dan", "der", "el", "fa", "gar", "han", "ka", "kov", "la", "lin", "ma",
    "mer", "na", "no", "ol", "pe", "ra", "ri", "san", "sen", "ta", "ton", "va", "wa", "yo", "zu",
)  # fmt: skip
# HMS departments, a few large and many small.
DEPARTMENTS = (
    ("Medicine", 14), ("Pediatrics", 8), ("Psychiatry", 7), ("Surgery", 7), ("Radiology", 5),
    ("Neurology", 4), ("Pathology", 4), ("Anesthesia", 4), ("Genetics", 3), ("Neurobiology", 3),
    ("Cell Biology", 3), ("Immunology", 3), ("Microbiology", 2), ("Systems Biology", 2),
    ("Biomedical Informatics", 2), ("Biological Chemistry and Molecular Pharmacology", 2),
    ("Global Health and Social Medicine", 2), ("Health Care Policy", 2),
    ("Stem Cell and Regenerative Biology", 2), ("Ophthalmology", 2), ("Otolaryngology", 1),
    ("Dermatology", 1), ("Population Medicine", 1), ("Radiation Oncology", 1),
    ("Orthopaedic Surgery", 1), ("Emergency Medicine", 1), ("Information Technology", 1),
    ("Countway Library", 1), ("Human Resources", 1), ("Finance", 1), ("Dean's Office", 1),
    ("Oral Medicine, Infection and Immunity", 1), ("Restorative Dentistry", 1),
)  # fmt: skip
AFFILIATIONS = (("staff", 5), ("faculty", 3), ("student", 3), ("affiliate", 1))


def people_rows(count: int, *, seed: int = 2026) -> Iterator[dict[str, str]]:
    """``count`` directory rows as the feed would send them (CSV column -> text)."""
    rng = random.Random(seed)
    departments, department_weights = zip(*DEPARTMENTS, strict=True)
    affiliations, affiliation_weights = zip(*AFFILIATIONS, strict=True)
    for i in range(count):
        first = rng.choice(FIRST_NAMES)
        if rng.random() < 0.5:
            last = rng.choice(LAST_NAMES)
        else:
            last = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).title()
            if rng.random() < 0.05:
                last = f"{last}-{rng.choice(LAST_NAMES)}"
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(20_000))
        yield {
            "huid": f"{30_000_000 + i:08d}",
            "first_name": first,
            "last_name": last,
            "date_of_birth": born.isoformat() if rng.random() < 0.9 else "",
            "ssn": f"9{rng.randrange(10**8):08d}" if rng.random() < 0.8 else "",
            "affiliation": rng.choices(affiliations, affiliation_weights)[0],
            "school": "HMS" if rng.random() < 0.9 else "HSDM",
            "full_time": "yes" if rng.random() < 0.7 else "no",
            "department": rng.choices(departments, department_weights)[0],
            "email": f"person{i}@hms.harvard.edu",
            "phone": f"617-432-{rng.randrange(10_000):04d}",
            "office_address": f"{rng.randrange(1, 400)} Longwood Avenue, Boston, MA 02115",
        }


def person_from_row(row: dict[str, str]):
    """The Person the import would create from ``row`` (search keys included)."""
    from accounts.models import Person, ssn_digest

    person = Person(
        huid=row["huid"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        date_of_birth=date.fromisoformat(row["date_of_birth"]) if row["date_of_birth"] else None,
        ssn_hash=ssn_digest(row["ssn"]) if row["ssn"] else "",
        affiliation=row["affiliation"],
        school=row["school"],
        full_time=row["full_time"] == "yes",
        department=row["department"],
        email=row["email"],
        office_phone=row["phone"],
        office_address=row["office_address"],
    )
    person.refresh_keys()
    return person


@contextmanager
def scratch_database(*, verbosity: int = 1) -> Iterator[str]:
    """Create the scratch database (``bench_portal`` on PostgreSQL), migrate it, drop it after.

    Django's test-database machinery does the work, so the database named by DATABASE_URL is
    never written to. Yields the vendor name.
    """
    from django.db import connection
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    if connection.vendor == "postgresql":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = SCRATCH_DATABASE
    setup_test_environment()
    config = setup_databases(verbosity=verbosity, interactive=False, aliases={"default"})
    try:
        yield connection.vendor
    finally:
        connection.close()
        teardown_databases(config, verbosity=verbosity)
        teardown_test_environment()


def empty_people_table() -> None:
    """Remove every person quickly (and whatever points at them), outside any transaction."""
    from django.db import connection

    from accounts.models import Person

    table = connection.ops.quote_name(Person._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
        else:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (a quoted table name)


def analyze() -> None:
    """Refresh the planner's statistics after a bulk load, as autovacuum would do shortly."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation, as numpy's default computes it."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# The benchmarks over HTTP: accounts in the stack's database, made by the portal's own code ----

# The password of every account the HTTP benchmarks make in the stack's database.
BENCH_PASSWORD = "bench sign-in 2026 correct"


def stack_call(stack, function: str, /, **arguments: object) -> object:
    """Call ``bench._harness.<function>(**arguments)`` in a Python process with the stack's
    environment (its settings, database and broker), and return what it returns (JSON)."""
    import json
    import subprocess
    import sys

    source = (
        "import json, sys, django; django.setup(); from bench import _harness; "
        f"result = _harness.{function}(**json.loads(sys.argv[1])); "
        "print('\\n@@result ' + json.dumps(result))"
    )
    done = subprocess.run(
        [sys.executable, "-c", source, json.dumps(arguments)],
        cwd=_base_dir(),
        env=stack.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{function} failed in the stack's environment:\n{done.stderr[-3000:]}")
    marker = done.stdout.rsplit("@@result ", 1)
    return json.loads(marker[1]) if len(marker) == 2 else None


def _base_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent


def make_accounts(
    *, prefix: str, count: int, device: bool = True, locked: bool = False
) -> list[dict[str, object]]:
    """``count`` active accounts ``<prefix>0000``... with BENCH_PASSWORD, a verified SafeCode
    email and, with ``device``, an authenticator app enrolled and confirmed with its passcode
    (twofactor.services.device_start and device_confirm), as every account of a portal that
    requires a second factor of everyone has; with ``locked``, locked as ten wrong passwords
    lock it (accounts.services.lockout.account_lock). Returns username, the app's TOTP key (hex)
    and the device's id for each. Runs in the stack's environment (``stack_call``)."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from django_otp.oath import TOTP

    from accounts.models import User
    from safecode.models import Channel
    from twofactor.models import Device
    from twofactor.services import device_confirm, device_start

    hashed = make_password(BENCH_PASSWORD)
    now = timezone.now()
    made = []
    for i in range(count):
        username = f"{prefix}{i:04d}"
        user = User.objects.create(
            username=username,
            first_name="Pat",
            last_name=f"Bench {prefix} {i}",
            email=f"{username}@bench.example.org",
            kind=User.Kind.AFFILIATE,
            password=hashed,
            password_changed_at=now,
        )
        Channel.objects.create(
            user=user,
            kind=Channel.Kind.EMAIL,
            address=f"{username}@bench.example.org",
            status=Channel.Status.VERIFIED,
            verified_at=now,
        )
        row: dict[str, object] = {"username": username, "id": user.pk}
        if device:
            found = device_start(
                user=user, kind=Device.Kind.MOBILE, name="iPhone", phone_type="iphone", app=True
            )
            totp = found.totp
            code = TOTP(totp.bin_key, totp.step, totp.t0, totp.digits, totp.drift).token()
            if not device_confirm(device=found, method="passcode", code=f"{code:06d}"):
                raise RuntimeError(f"the authenticator of {username} was not confirmed")
            row.update(device_id=found.pk, totp_key=totp.key)
        if locked:
            from accounts.services.lockout import account_lock

            account_lock(user=user, reason="wrong_passwords")
        made.append(row)
    return made


def queued_messages() -> int:
    """Messages not yet sent, given up or cancelled (the worker's backlog)."""
    from delivery.models import Message

    waiting = [Message.Status.QUEUED, Message.Status.SENDING]
    return Message.objects.filter(status__in=waiting).count()


def wait_for_delivery(stack, timeout: float = 120.0) -> int:
    """Until the Celery worker has no message left to send (or ``timeout``); what is left."""
    deadline = time.monotonic() + timeout
    left = stack_call(stack, "queued_messages")
    while left and time.monotonic() < deadline:
        time.sleep(1.0)
        left = stack_call(stack, "queued_messages")
    return int(left or 0)


def process_cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes ``pids`` have used so far."""
    import os
    from pathlib import Path

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def machine_busy() -> float:
    """The load average over the last minute (the machine is shared)."""
    import os

    return os.getloadavg()[0]


def captcha_answers(*, keys: list[str]) -> dict[str, str]:
    """The answers of the CAPTCHA pictures ``keys`` (read from the store, as a person would
    read the picture)."""
    from captcha.models import CaptchaStore

    return dict(CaptchaStore.objects.filter(hashkey__in=keys).values_list("hashkey", "response"))


def outbox_codes(*, recipients: list[str]) -> dict[str, str]:
    """The 6-digit code in the newest outbox message to each of ``recipients``."""
    import re

    from delivery.models import OutboxEntry

    codes: dict[str, str] = {}
    rows = OutboxEntry.objects.filter(recipient__in=recipients).order_by("created_at", "id")
    for recipient, body in rows.values_list("recipient", "body"):
        found = re.search(r"(?<!\d)(\d{6})(?!\d)", body)
        if found:
            codes[recipient] = found.group(1)
    return codes


def make_people(*, count: int) -> int:
    """``count`` directory people (``people_rows``), for the whitepages searches."""
    from accounts.models import Person

    people = [person_from_row(row) for row in people_rows(count)]
    Person.objects.bulk_create(people, batch_size=1000)
    return Person.objects.count()


def make_push_accounts(*, base: str, count: int, first: int = 0) -> list[dict[str, object]]:
    """``count`` accounts whose phone activated the portal's authenticator over HTTP (the
    suite's phone app, as bench/push_approval.py makes them); username and password."""
    from bench import push_approval

    made = []
    for i in range(first, first + count):
        username, _app = push_approval._account(base, i)
        made.append({"username": username, "password": push_approval.PASSWORD})
    return made


def call_in(*, module: str, function: str, **arguments: object) -> object:
    """``module.function(**arguments)``, for ``stack_call`` of a function outside this module."""
    import importlib

    return getattr(importlib.import_module(module), function)(**arguments)
