"""python -m bench [import_people] [whitepages] [captcha_ocr] [push_approval] [--rows N]
[--repeat N] [--queries N] [--pictures N] [--approvals N]"""

from __future__ import annotations

import argparse
import os
import sys

BENCHES = ("import_people", "whitepages", "captcha_ocr", "push_approval")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHES)}")
    parser.add_argument("--rows", type=int, default=100_000, help="people in the directory")
    parser.add_argument("--repeat", type=int, default=3, help="import runs (median is shown)")
    parser.add_argument("--queries", type=int, default=300, help="whitepages searches timed")
    parser.add_argument(
        "--pictures", type=int, default=200, help="CAPTCHA pictures given to OCR (at least 200)"
    )
    parser.add_argument(
        "--approvals", type=int, default=50, help="pushes approved on the phone and timed"
    )
    args = parser.parse_args(argv)
    names = args.names or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark: {', '.join(unknown)} (choose from {', '.join(BENCHES)})")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    import django

    django.setup()
    from django.db import connection

    from bench import captcha_ocr, import_people, push_approval, whitepages
    from bench._harness import scratch_database

    if connection.vendor != "postgresql":
        print(
            "NOTE: running on SQLite, not PostgreSQL. The figures say little about production;\n"
            "      run with DATABASE_URL=postgres://... (see bench/README.md).",
            file=sys.stderr,
        )
    failed = False
    with scratch_database() as vendor:
        print(f"database: {vendor}, scratch database {connection.settings_dict['NAME']}")
        if "import_people" in names:
            import_people.run(rows=args.rows, repeat=args.repeat)
        if "whitepages" in names:
            whitepages.run(people=args.rows, queries=args.queries)
        if "captcha_ocr" in names:
            rate = captcha_ocr.run(pictures=args.pictures)
            if rate >= captcha_ocr.BAR:
                print(f"FAIL: OCR solved {rate:.2%} of the CAPTCHA pictures", file=sys.stderr)
                failed = True
        if "push_approval" in names:
            push_approval.run(approvals=args.approvals)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
