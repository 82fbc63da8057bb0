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
