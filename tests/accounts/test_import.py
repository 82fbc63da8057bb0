"""The directory import: ``manage.py import_people`` and the ``people_import`` service."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import directory
from accounts.directory import people_import
from accounts.models import Affiliation, Person, School, ssn_digest
from audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, PersonFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "huid,first_name,last_name,date_of_birth,ssn,affiliation,school,full_time,"
    "department,email,phone,office_address"
)
JOSE = (
    "80000001,José,Núñez-García,1980-02-29,123-45-6789,faculty,HMS,yes,"
    'Neurobiology,jose.nunez@hms.harvard.edu,617-432-1000,"220 Longwood Ave, Boston"'
)
ANA = "80000002,Ana,Smith,,,staff,HSDM,no,Cell Biology,ana.smith@hsdm.harvard.edu,,"
LEE = "80000003,Lee,Wong,03/14/1975,,student,,,Genetics,,,"


def write_csv(tmp_path, *rows, header=HEADER, newline="\n", bom=False, name="feed.csv"):
    text = newline.join([header, *rows]) + newline
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run(path, *args):
    """Run the command; return (stdout lines, stderr lines)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_people", str(path), *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue().splitlines()


def test_import_creates_people_with_search_keys_and_prints_one_summary_line(tmp_path):
    out, err = run(write_csv(tmp_path, JOSE, ANA, LEE))

    assert out == ["created 3, updated 0, unchanged 0, rejected 0"]
    assert err == []
    jose = Person.objects.get(huid="80000001")
    assert (jose.first_name, jose.last_name) == ("José", "Núñez-García")
    assert (jose.first_name_key, jose.last_name_key) == ("jose", "nunez-garcia")
    assert jose.department_key == "neurobiology"
    assert jose.date_of_birth == date(1980, 2, 29)
    assert jose.affiliation == Affiliation.FACULTY and jose.full_time
    assert jose.office_phone == "617-432-1000"
    assert jose.office_address == "220 Longwood Ave, Boston"
    assert jose.is_active
    ana = Person.objects.get(huid="80000002")
    assert (ana.school, ana.full_time, ana.date_of_birth) == (School.HSDM, False, None)
    lee = Person.objects.get(huid="80000003")
    assert lee.date_of_birth == date(1975, 3, 14)  # MM/DD/YYYY is accepted too
    assert lee.school == School.HMS  # a blank school is HMS for a new person


def test_ssn_is_stored_only_as_a_keyed_hash(tmp_path):
    run(write_csv(tmp_path, JOSE))

    row = Person.objects.filter(huid="80000001").values().get()
    assert row["ssn_hash"] == ssn_digest("123456789")
    stored = " ".join(str(value) for value in row.values())
    assert "123456789" not in stored
    assert "123-45-6789" not in stored
    assert "6789" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_utf8_bom_and_crlf_line_endings(tmp_path):
    out, _ = run(write_csv(tmp_path, JOSE, ANA, newline="\r\n", bom=True))

    assert out == ["created 2, updated 0, unchanged 0, rejected 0"]
    assert set(Person.objects.values_list("huid", flat=True)) == {"80000001", "80000002"}
    assert Person.objects.get(huid="80000002").office_address == ""


def test_a_second_run_of_the_same_file_changes_nothing(tmp_path):
    path = write_csv(tmp_path, JOSE, ANA, LEE)
    run(path)
    before = dict(Person.objects.values_list("huid", "updated_at"))

    out, err = run(path)

    assert out == ["created 0, updated 0, unchanged 3, rejected 0"]
    assert err == []
    assert dict(Person.objects.values_list("huid", "updated_at")) == before


def test_changed_rows_are_updated_and_their_keys_recomputed(tmp_path):
    run(write_csv(tmp_path, JOSE, ANA, LEE))
    ana_moved = ANA.replace("Cell Biology", "Systems Biology")
    lee_renamed = LEE.replace("Lee,Wong", "Lee,Wong-Ōtani")

    out, _ = run(write_csv(tmp_path, JOSE, ana_moved, lee_renamed, name="next.csv"))

    assert out == ["created 0, updated 2, unchanged 1, rejected 0"]
    ana = Person.objects.get(huid="80000002")
    assert (ana.department, ana.department_key) == ("Systems Biology", "systems biology")
    assert Person.objects.get(huid="80000003").last_name_key == "wong-otani"


def test_bad_rows_are_reported_with_line_numbers_and_the_rest_imported(tmp_path):
    rows = [
        JOSE,  # line 2
        "8000001,Short,Id,,,staff,HMS,,,,,",  # 3
        "80000011,Bad,Date,1980-02-30,,staff,HMS,,,,,",  # 4
        "80000012,Bad,Format,30.01.1980,,staff,HMS,,,,,",  # 5
        "80000013,Odd,Role,,,wizard,HMS,,,,,",  # 6
        "80000014,Odd,School,,,staff,MIT,,,,,",  # 7
        "80000015,Bad,Mail,,,staff,HMS,,,not-an-address,,",  # 8
        "80000016,Bad,Flag,,,staff,HMS,maybe,,,,",  # 9
        "80000017,Bad,Ssn,,12345,staff,HMS,,,,,",  # 10
        "80000018,,Nameless,,,staff,HMS,,,,,",  # 11
        "80000019,Future,Born,2999-01-01,,staff,HMS,,,,,",  # 12
        ANA,  # 13
    ]

    out, err = run(write_csv(tmp_path, *rows))

    assert out == ["created 2, updated 0, unchanged 0, rejected 10"]
    assert err == [
        "line 3: the Harvard ID is not 8 digits",
        "line 4: date_of_birth is not a real calendar date",
        "line 5: date_of_birth is not a date (use YYYY-MM-DD or MM/DD/YYYY)",
        "line 6: unknown affiliation",
        "line 7: unknown school",
        "line 8: email is not a valid address",
        "line 9: full_time is not one of true/false/yes/no/y/n/1/0",
        "line 10: ssn is not 9 digits",
        "line 11: first_name is missing",
        "line 12: date_of_birth is out of range",
    ]
    assert set(Person.objects.values_list("huid", flat=True)) == {"80000001", "80000002"}


def test_full_time_accepts_the_usual_spellings(tmp_path):
    spellings = ["true", "FALSE", "Yes", "no", "y", "N", "1", "0", ""]
    rows = [f"8000010{i},P,Q,,,staff,HMS,{flag},,,," for i, flag in enumerate(spellings)]

    out, _ = run(write_csv(tmp_path, *rows))

    assert out == ["created 9, updated 0, unchanged 0, rejected 0"]
    flags = dict(Person.objects.values_list("huid", "full_time"))
    assert [flags[f"8000010{i}"] for i in range(9)] == [
        True, False, True, False, True, False, True, False, False
    ]  # fmt: skip


def test_a_repeated_harvard_id_keeps_the_first_row_and_rejects_the_later_ones(tmp_path):
    again = JOSE.replace("José,Núñez-García", "Joe,Nunez")

    out, err = run(write_csv(tmp_path, JOSE, ANA, again, again))

    assert out == ["created 2, updated 0, unchanged 0, rejected 2"]
    assert err == [
        "line 4: duplicate Harvard ID (first on line 2)",
        "line 5: duplicate Harvard ID (first on line 2)",
    ]
    assert Person.objects.get(huid="80000001").first_name == "José"


def test_unknown_columns_are_ignored_and_absent_columns_leave_fields_alone(tmp_path):
    run(write_csv(tmp_path, JOSE))
    header = "HUID, First_Name ,last_name,affiliation,badge_colour"

    out, _ = run(write_csv(tmp_path, "80000001,José,Núñez-García,faculty,green", header=header))

    assert out == ["created 0, updated 0, unchanged 1, rejected 0"]
    jose = Person.objects.get(huid="80000001")
    assert jose.department == "Neurobiology"
    assert jose.ssn_hash == ssn_digest("123456789")


def test_a_blank_cell_in_a_present_column_clears_the_field(tmp_path):
    run(write_csv(tmp_path, JOSE))
    cleared = "80000001,José,Núñez-García,,,faculty,HMS,yes,Neurobiology,,,"

    out, _ = run(write_csv(tmp_path, cleared, name="next.csv"))

    assert out == ["created 0, updated 1, unchanged 0, rejected 0"]
    jose = Person.objects.get(huid="80000001")
    assert (jose.date_of_birth, jose.ssn_hash, jose.email, jose.office_phone) == (None, "", "", "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no header line"),
        (b"huid,first_name,affiliation\n80000001,A,staff\n", "lacks a required column: last_name"),
        (b"huid,huid,first_name,last_name,affiliation\n", "repeats a column: huid"),
        (HEADER.encode() + b"\n80000001,Jos\xe9,N,,,staff,HMS,,,,,\n", "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_imported_stops_with_a_clear_error(tmp_path, content, message):
    path = tmp_path / "feed.csv"
    path.write_bytes(content)

    with pytest.raises(CommandError, match=message):
        run(path)
    assert not Person.objects.exists()


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(tmp_path / "absent.csv")


def test_full_deactivates_people_missing_from_the_feed_and_their_accounts_cannot_sign_in(
    tmp_path,
):
    leaver = UserFactory()
    stayer = UserFactory(person=PersonFactory(huid="80000002"))
    assert authenticate(username=leaver.username, password=DEFAULT_PASSWORD) == leaver

    out, _ = run(write_csv(tmp_path, JOSE, ANA), "--full")

    assert out == ["created 1, updated 1, unchanged 0, rejected 0, deactivated 1"]
    leaver.person.refresh_from_db()
    assert not leaver.person.is_active
    assert Person.objects.filter(pk=leaver.person.pk).exists()  # never deleted
    assert authenticate(username=leaver.username, password=DEFAULT_PASSWORD) is None
    assert authenticate(username=leaver.person.huid, password=DEFAULT_PASSWORD) is None
    assert authenticate(username=stayer.username, password=DEFAULT_PASSWORD) == stayer


def test_a_person_who_reappears_is_reactivated(tmp_path):
    person = PersonFactory(huid="80000002", is_active=False)
    user = UserFactory(person=person)

    out, _ = run(write_csv(tmp_path, ANA))

    assert out == ["created 0, updated 1, unchanged 0, rejected 0"]
    person.refresh_from_db()
    assert person.is_active
    assert authenticate(username=user.username, password=DEFAULT_PASSWORD) == user


def test_without_full_nobody_is_deactivated(tmp_path):
    person = PersonFactory()

    out, _ = run(write_csv(tmp_path, JOSE))

    assert out == ["created 1, updated 0, unchanged 0, rejected 0"]
    person.refresh_from_db()
    assert person.is_active


def test_full_keeps_people_whose_row_was_rejected_for_a_data_error(tmp_path):
    person = PersonFactory(huid="80000002")

    out, err = run(
        write_csv(tmp_path, JOSE, ANA.replace(",,,staff", ",1980-13-01,,staff")), "--full"
    )

    assert out == ["created 1, updated 0, unchanged 0, rejected 1, deactivated 0"]
    assert err == ["line 3: date_of_birth is not a real calendar date"]
    person.refresh_from_db()
    assert person.is_active


def test_full_with_no_valid_row_deactivates_nobody(tmp_path):
    person = PersonFactory()

    with pytest.raises(CommandError, match="Nobody was deactivated"):
        run(write_csv(tmp_path, "not-a-huid,A,B,,,staff,HMS,,,,,"), "--full")

    person.refresh_from_db()
    assert person.is_active


def test_each_import_is_audited_once_with_counts_and_no_personal_details(tmp_path):
    PersonFactory(huid="80000009")

    run(write_csv(tmp_path, JOSE, ANA, "bad,A,B,,,staff,HMS,,,,,"), "--full")

    event = AuditEvent.objects.get(event="directory.import")
    assert event.outcome == AuditEvent.Outcome.INFO
    assert event.detail == {
        "source": "feed.csv",
        "full": True,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "reactivated": 0,
        "deactivated": 1,
    }


def test_a_failed_import_is_audited_as_a_failure(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_bytes(HEADER.encode() + b"\n80000001,Jos\xe9,N,,,staff,HMS,,,,,\n")

    with pytest.raises(CommandError):
        run(path)

    event = AuditEvent.objects.get(event="directory.import")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.detail["error"] == "DirectoryImportError"


def test_the_service_reports_every_error_to_the_callback_and_keeps_the_first_few(monkeypatch):
    monkeypatch.setattr(directory, "ERRORS_KEPT", 2)
    reported = []
    lines = [HEADER, *(f"bad{i},A,B,,,staff,HMS,,,,," for i in range(5)), ANA]

    result = people_import(lines=lines, full=False, on_error=lambda *e: reported.append(e))

    assert (result.created, result.rejected) == (1, 5)
    assert result.errors == reported[:2]
    assert [line for line, _ in reported] == [2, 3, 4, 5, 6]


def _feed(count: int, *, start: int = 0):
    yield HEADER + "\n"
    for i in range(start, start + count):
        yield (
            f"{20_000_000 + i},First{i},Last{i % 997},1970-01-01,,staff,HMS,yes,"
            f"Dept {i % 50},p{i}@hms.harvard.edu,617-432-{i % 10_000:04d},\n"
        )


def test_rows_are_written_in_batches_while_the_file_is_still_being_read():
    written_while_reading = []

    def lines():
        for number, line in enumerate(_feed(3500)):
            if number == 2500:
                written_while_reading.append(Person.objects.count())
            yield line

    with CaptureQueriesContext(connection) as queries:
        result = people_import(lines=lines(), full=False, batch_size=1000)

    assert result.created == 3500
    assert written_while_reading == [2000]
    # One look-up of existing people per batch, and a few statements per batch (SQLite splits
    # a bulk INSERT by its parameter limit), never one per row.
    lookups = [q for q in queries if '"huid" IN' in q["sql"]]
    assert len(lookups) == 4
    assert len(queries) < 3500 / 20


def test_one_hundred_thousand_rows_through_the_command(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines(_feed(100_000))

    stdout, stderr = run(path)

    assert stdout == ["created 100000, updated 0, unchanged 0, rejected 0"]
    assert stderr == []
    assert Person.objects.count() == 100_000
    last = Person.objects.get(huid="20099999")
    assert (last.first_name_key, last.department_key) == ("first99999", "dept 49")


def test_a_line_the_csv_reader_refuses_is_rejected_and_the_rest_imported(tmp_path):
    huge = f'80000009,A,"{"x" * 200_000}",,,staff,HMS,,,,,'

    out, err = run(write_csv(tmp_path, JOSE, huge, ANA))

    assert out == ["created 2, updated 0, unchanged 0, rejected 1"]
    assert err == ["line 3: the line is not valid CSV"]


def test_control_characters_in_a_cell_reject_the_row_and_line_breaks_are_spaces(tmp_path):
    bell = "80000004,Bell\x07,Ringer,,,staff,HMS,,,,,"
    multiline = '80000005,Ann,Lee,,,staff,HMS,,,,,"1 Main St\r\nBoston"'

    out, err = run(write_csv(tmp_path, bell, multiline))

    assert out == ["created 1, updated 0, unchanged 0, rejected 1"]
    assert err == ["line 2: first_name contains control characters"]
    assert Person.objects.get(huid="80000005").office_address == "1 Main St Boston"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
def test_an_import_does_not_start_while_another_one_runs(tmp_path):
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [directory._LOCK_KEY])
        with pytest.raises(CommandError, match="Another directory import is running"):
            run(write_csv(tmp_path, JOSE))
    finally:
        other.close()
    assert not Person.objects.exists()
    assert run(write_csv(tmp_path, JOSE))[0] == ["created 1, updated 0, unchanged 0, rejected 0"]
