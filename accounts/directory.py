"""The directory feed from HR and the registrars: a CSV upserted into Person by Harvard ID.

The file is streamed: rows are validated one by one and written in batches, each batch in its
own transaction (one SELECT of the batch's people, one bulk INSERT, one bulk UPDATE). Memory is
bounded by the batch size plus one small entry per Harvard ID seen, which duplicate detection and
``full`` imports need.

Decisions worth knowing:

- A repeated Harvard ID: the first row wins; each later one is rejected, naming the first line.
- A column missing from the header leaves that field alone; a blank cell in a present column
  clears the field (the feed is the source of truth). A blank ``school`` means HMS for a new
  person and "unchanged" for an existing one, since a person always has a school.
- Line numbers are the file's physical lines, the header being line 1; a quoted cell spanning
  lines puts its row at the row's last line.
- Error reasons never repeat the rejected value: stderr and logs must not collect dates of
  birth or SSNs.
- A ``full`` import deactivates people missing from the file, never deletes them. A row rejected
  for a data error still counts as "present" when its Harvard ID is valid, so a typo in a date
  does not lock someone out. A file without a single valid Harvard ID deactivates nobody.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Affiliation, Person, School, ssn_digest, ssn_last4_digest
from accounts.normalize import digits
from audit.models import AuditEvent
from audit.services import audit_record

BATCH_SIZE = 1000
ERRORS_KEPT = 1000

COLUMNS = (
    "huid", "first_name", "last_name", "date_of_birth", "ssn", "affiliation", "school",
    "full_time", "department", "email", "phone", "office_address",
)  # fmt: skip
REQUIRED_COLUMNS = ("huid", "first_name", "last_name", "affiliation")
# Column -> Person field, where they differ.
FIELD_OF_COLUMN = {"phone": "office_phone", "ssn": "ssn_hash"}
KEY_FIELDS = ("first_name_key", "last_name_key", "department_key")

_HUID = re.compile(r"\d{8}", re.ASCII)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)
_BOOLEANS = {
    "": False, "true": True, "false": False, "yes": True, "no": False,
    "y": True, "n": False, "1": True, "0": False,
}  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_AFFILIATIONS = frozenset(Affiliation.values)
_SCHOOLS = frozenset(School.values)
# A session-level PostgreSQL advisory lock: two imports never interleave their batches.
_LOCK_KEY = 0x4843_4449  # "HCDI"


class DirectoryImportError(Exception):
    """The file as a whole cannot be imported (no header, a required column missing, ...)."""


class RowError(Exception):
    """One row is rejected; the message is the reason shown to the operator."""


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reactivated: int = 0  # also counted in ``updated``
    deactivated: int = 0
    full: bool = False
    # The first ERRORS_KEPT (line number, reason) pairs; ``rejected`` counts them all.
    errors: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        line = (
            f"created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {self.rejected}"
        )
        return f"{line}, deactivated {self.deactivated}" if self.full else line

    def counts(self) -> dict[str, Any]:
        return {
            "full": self.full,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "reactivated": self.reactivated,
            "deactivated": self.deactivated,
        }


@dataclass
class _Row:
    line: int
    huid: str
    values: dict[str, Any]  # Person field -> value, only for the columns the file has


def people_import(
    *,
    lines: Iterable[str],
    full: bool,
    on_error: Callable[[int, str], None] | None = None,
    source: str = "",
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Upsert the people of a directory CSV by Harvard ID; see the module docstring.

    ``lines`` is any iterable of text lines, typically a file opened with
    ``encoding="utf-8-sig", newline=""``. Each rejected row is passed to ``on_error`` as
    ``(line_number, reason)`` as soon as it is found. With ``full``, people absent from the
    file are deactivated once the whole file has been read. One ``directory.import`` audit event
    records the counts (never a person's details), also when the import fails part way.
    """
    result = ImportResult(full=full)

    def reject(line: int, reason: str) -> None:
        result.rejected += 1
        if len(result.errors) < ERRORS_KEPT:
            result.errors.append((line, reason))
        if on_error is not None:
            on_error(line, reason)

    try:
        with _import_lock():
            seen = _import_rows(lines, result, reject, batch_size)
            if full:
                if not seen:
                    raise DirectoryImportError(
                        "The file has no row with a valid Harvard ID; "
                        "a full import of it would deactivate everyone. Nobody was deactivated."
                    )
                result.deactivated = _deactivate_missing(seen, batch_size)
    except BaseException as exc:
        audit_record(
            event="directory.import",
            outcome=AuditEvent.Outcome.FAILURE,
            source=source,
            error=type(exc).__name__,
            **result.counts(),
        )
        raise
    audit_record(event="directory.import", source=source, **result.counts())
    return result


def _import_rows(
    lines: Iterable[str],
    result: ImportResult,
    reject: Callable[[int, str], None],
    batch_size: int,
) -> dict[str, int]:
    """Validate and write every row; return each valid Harvard ID with its first line."""
    reader = csv.DictReader(_without_bom(lines))
    columns = _read_header(reader)
    seen: dict[str, int] = {}
    batch: list[_Row] = []
    today = timezone.localdate()
    for line, raw in _records(reader):
        if raw is None:
            reject(line, "the line is not valid CSV")
            continue
        try:
            huid = _huid(raw.get("huid"))
        except RowError as exc:
            reject(line, str(exc))
            continue
        first_line = seen.setdefault(huid, line)
        if first_line != line:
            reject(line, f"duplicate Harvard ID (first on line {first_line})")
            continue
        try:
            values = _row_values(raw, columns, today)
        except RowError as exc:
            reject(line, str(exc))
            continue
        batch.append(_Row(line=line, huid=huid, values=values))
        if len(batch) >= batch_size:
            _write_batch(batch, result)
            batch = []
    if batch:
        _write_batch(batch, result)
    return seen


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    iterator = iter(lines)
    for first in iterator:
        yield first.removeprefix("\ufeff")
        break
    yield from iterator


def _read_header(reader: csv.DictReader) -> frozenset[str]:
    try:
        header = reader.fieldnames
    except UnicodeDecodeError as exc:
        raise DirectoryImportError(
            "The file is not UTF-8 text (bad bytes near its start); nothing was imported."
        ) from exc
    except csv.Error as exc:
        raise DirectoryImportError(f"The header line is not valid CSV: {exc}") from exc
    if not header:
        raise DirectoryImportError("The file is empty: it has no header line.")
    names = [(name or "").strip().lower() for name in header]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        raise DirectoryImportError(f"The header repeats a column: {', '.join(repeated)}.")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise DirectoryImportError(f"The header lacks a required column: {', '.join(missing)}.")
    reader.fieldnames = names
    return frozenset(names) & frozenset(COLUMNS)


def _records(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, str | None] | None]]:
    """(line number, row) pairs; the row is None for a line the csv module refused."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            # DictReader.line_num still names the previous row; its reader has moved on.
            yield reader.reader.line_num, None
            continue
        except UnicodeDecodeError as exc:
            raise DirectoryImportError(
                f"The file is not UTF-8 text (bad bytes after line {reader.reader.line_num}). "
                "Rows before them were imported; nobody was deactivated."
            ) from exc
        yield reader.line_num, row


# Validation ---------------------------------------------------------------------------------


def _text(raw: str | None, name: str, *, max_length: int) -> str:
    """A cell as stored: NFC, whitespace runs (line breaks too) collapsed, no control chars."""
    value = " ".join(unicodedata.normalize("NFC", raw or "").split())
    if _CONTROL.search(value):
        raise RowError(f"{name} contains control characters")
    if len(value) > max_length:
        raise RowError(f"{name} is longer than {max_length} characters")
    return value


def _huid(raw: str | None) -> str:
    value = (raw or "").strip()
    if not value:
        raise RowError("the Harvard ID is missing")
    if not _HUID.fullmatch(value):
        raise RowError("the Harvard ID is not 8 digits")
    return value


def _date_of_birth(raw: str | None, today: date) -> date | None:
    value = (raw or "").strip()
    if not value:
        return None
    if iso := _ISO_DATE.fullmatch(value):
        year, month, day = iso.groups()
    elif us := _US_DATE.fullmatch(value):
        month, day, year = us.groups()
    else:
        raise RowError("date_of_birth is not a date (use YYYY-MM-DD or MM/DD/YYYY)")
    try:
        born = date(int(year), int(month), int(day))
    except ValueError:
        raise RowError("date_of_birth is not a real calendar date") from None
    if born.year < 1900 or born > today:
        raise RowError("date_of_birth is out of range")
    return born


def _max_length(name: str) -> int:
    return Person._meta.get_field(name).max_length


_LIMITS = {
    name: _max_length(name)
    for name in ("first_name", "last_name", "department", "office_phone", "office_address")
}


def _row_values(raw: dict[str, str | None], columns: frozenset[str], today: date) -> dict[str, Any]:
    """The Person fields a valid row sets; raise RowError for the first problem found."""
    values: dict[str, Any] = {}
    for name in ("first_name", "last_name"):
        values[name] = _text(raw.get(name), name, max_length=_LIMITS[name])
        if not values[name]:
            raise RowError(f"{name} is missing")

    affiliation = (raw.get("affiliation") or "").strip().lower()
    if affiliation not in _AFFILIATIONS:
        raise RowError("affiliation is missing" if not affiliation else "unknown affiliation")
    values["affiliation"] = affiliation

    if "school" in columns:
        school = (raw.get("school") or "").strip().upper()
        if school and school not in _SCHOOLS:
            raise RowError("unknown school")
        if school:
            values["school"] = school

    if "date_of_birth" in columns:
        values["date_of_birth"] = _date_of_birth(raw.get("date_of_birth"), today)

    if "ssn" in columns:
        ssn = (raw.get("ssn") or "").strip()
        if ssn and len(digits(ssn)) != 9:
            raise RowError("ssn is not 9 digits")
        values["ssn_hash"] = ssn_digest(ssn) if ssn else ""
        # For the service desk's caller check (accounts.models.ssn_last4_digest).
        huid = (raw.get("huid") or "").strip()
        values["ssn_last4_hash"] = ssn_last4_digest(ssn, huid=huid) if ssn else ""

    if "full_time" in columns:
        flag = (raw.get("full_time") or "").strip().lower()
        if flag not in _BOOLEANS:
            raise RowError("full_time is not one of true/false/yes/no/y/n/1/0")
        values["full_time"] = _BOOLEANS[flag]

    for column in ("department", "phone", "office_address"):
        if column in columns:
            name = FIELD_OF_COLUMN.get(column, column)
            values[name] = _text(raw.get(column), column, max_length=_LIMITS[name])

    if "email" in columns:
        email = _text(raw.get("email"), "email", max_length=254)
        if email:
            local, _, domain = email.rpartition("@")
            email = f"{local}@{domain.lower()}"
            try:
                validate_email(email)
            except ValidationError:
                raise RowError("email is not a valid address") from None
        values["email"] = email
    return values


# Writing ------------------------------------------------------------------------------------


def _write_batch(batch: Sequence[_Row], result: ImportResult) -> None:
    """Insert the new people and update the changed ones of one batch, in one transaction.

    The batch's existing rows are locked (``select_for_update``) so that an edit made
    meanwhile (service desk, admin) is not overwritten with values read before it.
    """
    now = timezone.now()
    with transaction.atomic():
        existing = {
            person.huid: person
            for person in Person.objects.select_for_update().filter(
                huid__in=[row.huid for row in batch]
            )
        }
        created: list[Person] = []
        changes: list[tuple[Person, set[str]]] = []
        reactivated = 0
        for row in batch:
            person = existing.get(row.huid)
            if person is None:
                person = Person(huid=row.huid, **row.values)
                person.refresh_keys()
                created.append(person)
                continue
            changed = _apply(person, row.values)
            if not person.is_active:
                person.is_active = True
                changed.add("is_active")
                reactivated += 1
            if changed:
                person.updated_at = now
                changes.append((person, changed))
        Person.objects.bulk_create(created)
        if changes:
            fields = set().union(*(changed for _, changed in changes)) | {"updated_at"}
            Person.objects.bulk_update([person for person, _ in changes], sorted(fields))
        _confirm_requested_changes(changes)
    result.created += len(created)
    result.updated += len(changes)
    result.unchanged += len(batch) - len(created) - len(changes)
    result.reactivated += reactivated


def _apply(person: Person, values: dict[str, Any]) -> set[str]:
    """Set the feed's values on ``person``; return the names of the fields that changed."""
    changed = {name for name, value in values.items() if getattr(person, name) != value}
    for name in changed:
        setattr(person, name, values[name])
    keys = [getattr(person, name) for name in KEY_FIELDS]
    person.refresh_keys()
    changed.update(
        name for name, old in zip(KEY_FIELDS, keys, strict=True) if getattr(person, name) != old
    )
    return changed


def _deactivate_missing(seen: dict[str, int], batch_size: int) -> int:
    """Deactivate active people whose Harvard ID the file did not have; return how many."""
    missing = [
        pk
        for pk, huid in Person.objects.filter(is_active=True)
        .values_list("pk", "huid")
        .iterator(chunk_size=5000)
        if huid not in seen
    ]
    deactivated = 0
    now = timezone.now()
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        with transaction.atomic():
            deactivated += Person.objects.filter(pk__in=chunk, is_active=True).update(
                is_active=False, updated_at=now
            )
    return deactivated


@contextmanager
def _import_lock() -> Iterator[None]:
    """On PostgreSQL, refuse to run while another import runs (an overlapping cron job)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
        (locked,) = cursor.fetchone()
    if not locked:
        raise DirectoryImportError("Another directory import is running; try again later.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


def _confirm_requested_changes(changes: list[tuple[Person, set[str]]]) -> None:
    """A change the person asked HR for stops showing as pending once the feed carries it."""
    from accounts.models import DirectoryChangeRequest
    from accounts.services.profile import directory_changes_confirm

    requestable = set(DirectoryChangeRequest.Field.values)
    touched = {person.pk: person for person, fields in changes if fields & requestable}
    if not touched:
        return
    pending = DirectoryChangeRequest.objects.filter(
        person_id__in=touched, confirmed_at__isnull=True
    ).values_list("person_id", flat=True)
    for person_id in set(pending):
        directory_changes_confirm(person=touched[person_id])
