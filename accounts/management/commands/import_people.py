"""python manage.py import_people FILE.csv [--full]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.directory import COLUMNS, DirectoryImportError, people_import


class Command(BaseCommand):
    help = (
        "Import the HR/registrar directory feed, upserting people by Harvard ID. "
        f"CSV header: {','.join(COLUMNS)}. Prints one summary line; each rejected row goes to "
        "stderr with its line number and the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file (UTF-8, with or without BOM)")
        parser.add_argument(
            "--full",
            action="store_true",
            help="the file is the complete feed: deactivate active people missing from it "
            "(never deletes; their accounts can no longer sign in)",
        )

    def handle(self, *args, file: str, full: bool, **options):
        def report(line: int, reason: str) -> None:
            self.stderr.write(f"line {line}: {reason}")

        try:
            with open(file, encoding="utf-8-sig", newline="") as lines:
                result = people_import(
                    lines=lines, full=full, on_error=report, source=Path(file).name
                )
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from exc
        except DirectoryImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary())
