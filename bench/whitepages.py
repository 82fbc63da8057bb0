"""Whitepages search: p50/p95 over a few hundred varied searches, through the test client.

The directory holds the given number of people. Each search is a signed-in GET of /whitepages/
going through every middleware, the session, the search, the count, the page and the template.
Baselines from the same run: a single-row primary-key fetch (the cheapest query there is) and
/whitepages/ without a search (the page around the results). On PostgreSQL the plans of a few
searches are printed, to show which indexes answer them.
"""

from __future__ import annotations

import random
import re
import string
from collections import defaultdict

from bench._harness import (
    analyze,
    empty_people_table,
    ms,
    people_rows,
    percentile,
    person_from_row,
    timed,
)

URL = "/whitepages/"
KINDS = (
    "last name prefix",
    "first name",
    "first last",
    "last, first",
    "department prefix",
    "name + department filter",
    "one letter",
    "no match",
)


def run(*, people: int = 100_000, queries: int = 300, seed: int = 7) -> dict[str, float]:
    from django.test import Client

    from accounts.models import Person

    print(f"\n== whitepages: {people:,} people, {queries} searches ==")
    empty_people_table()
    rows = list(people_rows(people))
    Person.objects.bulk_create((person_from_row(row) for row in rows), batch_size=2000)
    analyze()
    client = Client()
    client.force_login(_viewer())
    rng = random.Random(seed)
    searches = [_search(rng.choice(rows), rng) for _ in range(queries)]
    _check(client, searches[0][1])

    for _, params in searches[:20]:  # warm up caches and the connection
        client.get(URL, params)
    pks = list(Person.objects.values_list("pk", flat=True)[:10_000])
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, params in searches:
        by_kind[kind].append(timed(lambda params=params: client.get(URL, params)))
    everything = [t for samples in by_kind.values() for t in samples]
    pk_fetch = [
        timed(lambda pk=pk: Person.objects.get(pk=pk)) for pk in rng.sample(pks, len(searches))
    ]
    empty_page = [timed(lambda: client.get(URL)) for _ in range(len(searches) // 2)]

    p95 = percentile(everything, 95)
    base95 = percentile(pk_fetch, 95)
    page95 = percentile(empty_page, 95)
    print(_line("baseline  Person.objects.get(pk=...)", pk_fetch))
    print(_line("baseline  /whitepages/ with no search", empty_page))
    print(_line(f"search    /whitepages/?q=... ({len(everything)})", everything))
    for kind in KINDS:
        if by_kind[kind]:
            print(_line(f"            {kind} ({len(by_kind[kind])})", by_kind[kind]))
    print(f"ratio     search p95 / pk fetch p95        {p95 / base95:>8.1f}x")
    print(f"ratio     search p95 / no-search page p95  {p95 / page95:>8.2f}x")
    _plans(rows, rng)
    empty_people_table()
    return {"p95": p95, "ratio_pk": p95 / base95, "ratio_page": p95 / page95}


def _line(label: str, samples: list[float]) -> str:
    return (
        f"{label:<44} p50 {ms(percentile(samples, 50)):>10}   p95 {ms(percentile(samples, 95)):>10}"
    )


def _viewer():
    """A signed-in account with a verified SafeCode channel (so no prompt redirects)."""
    from django.utils import timezone

    from accounts.models import User
    from safecode.models import Channel

    user = User.objects.create(username="bench.viewer", kind=User.Kind.DEPARTMENTAL)
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.EMAIL,
        address="bench.viewer@example.org",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    return user


def _search(row: dict[str, str], rng: random.Random) -> tuple[str, dict[str, str]]:
    kind = rng.choice(KINDS)
    first, last, department = row["first_name"], row["last_name"], row["department"]
    params: dict[str, str] = {}
    if kind == "last name prefix":
        params["q"] = last[: rng.randint(2, 6)]
    elif kind == "first name":
        params["q"] = first
    elif kind == "first last":
        params["q"] = f"{first} {last[: rng.randint(1, 4)]}"
    elif kind == "last, first":
        params["q"] = f"{last}, {first[: rng.randint(1, 3)]}"
    elif kind == "department prefix":
        params["q"] = department[: rng.randint(3, 10)]
    elif kind == "name + department filter":
        params["q"] = last[:3]
        params["department"] = department[:5]
    elif kind == "one letter":
        params["q"] = rng.choice(string.ascii_lowercase)
    else:
        params["q"] = "zq" + "".join(rng.choices(string.ascii_lowercase, k=4))
    if rng.random() < 0.3:
        params["q"] = params["q"].upper()
    if rng.random() < 0.1:
        params["page"] = str(rng.randint(2, 3))
    return kind, params


def _check(client, params: dict[str, str]) -> None:
    response = client.get(URL, params)
    if response.status_code != 200 or b'role="status"' not in response.content:
        raise SystemExit(f"whitepages bench: GET {URL} answered {response.status_code}")


def _plans(rows: list[dict[str, str]], rng: random.Random) -> None:
    """Which indexes answer the searches (PostgreSQL), and what LIKE would do instead."""
    from django.db import connection

    from accounts import selectors
    from accounts.models import Person
    from accounts.selectors import people_search

    if connection.vendor != "postgresql":
        return
    prefix = selectors._prefix_lookup()
    form = "range" if prefix is selectors._range_prefix else "LIKE"
    print(f"plans     prefix matches are written as a {form} here")
    samples = {kind: _search(rng.choice(rows), rng)[1] for kind in KINDS[:6]}
    for kind, params in samples.items():
        query = people_search(query=params["q"], department=params.get("department", ""))
        print(f"            {kind:<26} {_scans(query[:25].explain())}")
    key = selectors.search_key(rows[0]["last_name"][:3])
    for name, lookup in (("range", selectors._range_prefix), ("LIKE", selectors._like_prefix)):
        query = Person.objects.filter(lookup("last_name_key", key)).values("pk")
        print(f"            last_name_key as a {name:<7} {_scans(query.explain())}")


def _scans(plan: str) -> str:
    found = re.findall(r"((?:Bitmap Index|Index Only|Index|Seq) Scan)(?: Backward)? on (\w+)", plan)
    found += re.findall(r"((?:Bitmap Index|Index Only|Index) Scan) using (\w+)", plan)
    return ", ".join(f"{scan} {name}" for scan, name in found) or plan.splitlines()[0]
