"""The directory import: rows per second of ``people_import`` next to a plain bulk_create.

Both load the same rows into an empty person table in the same run; the figure is how many
times longer the import takes than the bare INSERTs (it also parses, validates, hashes SSNs,
looks up existing people and commits batch by batch). A second import of the same file, where
every row is unchanged, is measured too.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from bench._harness import (
    analyze,
    empty_people_table,
    median,
    people_rows,
    person_from_row,
    timed,
)

COLUMNS = (
    "huid", "first_name", "last_name", "date_of_birth", "ssn", "affiliation", "school",
    "full_time", "department", "email", "phone", "office_address",
)  # fmt: skip


def run(*, rows: int = 100_000, repeat: int = 3) -> dict[str, float]:
    from accounts.directory import people_import
    from accounts.models import Person

    print(f"\n== import_people: {rows:,} rows, median of {repeat} runs ==")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        path = Path(folder) / "feed.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(people_rows(rows))
        people = [person_from_row(row) for row in people_rows(rows)]

        def bulk_create():
            Person.objects.bulk_create(people, batch_size=1000)

        def import_file():
            with path.open(encoding="utf-8-sig", newline="") as lines:
                result = people_import(lines=lines, full=False, source=path.name)
            return result

        baseline, created, unchanged = [], [], []
        for _ in range(repeat):
            empty_people_table()
            for person in people:
                person.pk = None  # bulk_create sets it on PostgreSQL
            baseline.append(timed(bulk_create))
            empty_people_table()
            created.append(timed(lambda: _expect(import_file(), created=rows)))
            analyze()
            unchanged.append(timed(lambda: _expect(import_file(), unchanged=rows)))
        empty_people_table()

    base, new, same = median(baseline), median(created), median(unchanged)
    print(f"baseline  Person.objects.bulk_create      {rows / base:>10,.0f} rows/s  ({base:.2f} s)")
    print(f"import    into an empty table            {rows / new:>10,.0f} rows/s  ({new:.2f} s)")
    print(f"import    again, every row unchanged     {rows / same:>10,.0f} rows/s  ({same:.2f} s)")
    print(f"ratio     import / bulk_create time       {new / base:>10.2f}x")
    print(f"ratio     unchanged re-import / bulk_create {same / base:>8.2f}x")
    return {
        "import_ratio": new / base,
        "reimport_ratio": same / base,
        "throughput_ratio": base / new,
        "rows": rows,
        "import_s": new,
        "bulk_s": base,
        "reimport_s": same,
        "reps_import_s": created,
        "reps_bulk_s": baseline,
        "reps_reimport_s": unchanged,
    }


def _expect(result, *, created: int = 0, unchanged: int = 0) -> None:
    got = (result.created, result.updated, result.unchanged, result.rejected)
    if got != (created, 0, unchanged, 0):
        raise SystemExit(f"import_people bench: unexpected counts {result.summary()}")
