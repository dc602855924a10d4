import csv
import io
import logging
import os
from datetime import date, datetime, timedelta

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from muster.core import exports
from muster.core.testing import make_member
from muster.members.models import Member
from muster.training.testing import make_qualification, qualify

HEADER = ["member_no", "last_name", "first_name", "unit", "status", "phone", "email", "vetting_valid_until"]


def call(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


def rows_by_member(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    header, *rows = list(csv.reader(io.StringIO(text)))
    return header, {row[0]: dict(zip(header, row, strict=True)) for row in rows}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+380501234567", "'+380501234567"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Olena", "Olena"),
        ("", ""),
        ("a=b", "a=b"),
        (42, 42),
        (None, None),
        (date(2026, 1, 1), date(2026, 1, 1)),
    ],
)
def test_it_neutralises_text_a_spreadsheet_would_run_as_a_formula(value, written):
    assert exports.neutralise(value) == written


@pytest.fixture
def trained(world):
    """Bob holds the rifle qualification twice (the later expiry counts); a departed member and B's member exist."""
    rifle = make_qualification("rifle-ak", name="Rifle (AK family)")
    make_qualification("counter-drone", name="Counter-drone operator")
    qualify(world.bob_member, rifle, world.dave, days_left=10)
    qualify(world.bob_member, rifle, world.dave, days_left=300)
    qualify(world.member_b, rifle, world.dave, days_left=50)
    make_member(world.unit_a, member_no="GONE-1", status=Member.Status.DEPARTED)
    return rifle


@pytest.mark.django_db
def test_it_exports_the_roster_of_the_actors_units_with_the_latest_expiry_per_qualification(world, trained, caplog):
    with caplog.at_level(logging.INFO, logger="muster.audit"):
        code, out, _ = call("export", "roster", "--as", "dave")
    assert code == 0
    header, rows = rows_by_member(out)
    assert header == [*HEADER, "Counter-drone operator", "Rifle (AK family)"]
    assert set(rows) == {world.bob_member.member_no, world.alice.member.member_no}  # not B's member, not departed
    bob = rows[world.bob_member.member_no]
    expected = (timezone.localdate() + timedelta(days=300)).isoformat()
    assert (bob["unit"], bob["Rifle (AK family)"], bob["Counter-drone operator"]) == ("A", expected, "")
    assert bob["phone"] == "'" + world.bob_member.phone  # "+1000..." would be read as a formula
    from muster.core.models import AuditEvent

    event = AuditEvent.objects.get(kind="export")
    assert (event.username, event.detail) == ("dave", "roster: 2 rows from units A as csv to stdout")
    assert [record.getMessage() for record in caplog.records if record.name == "muster.audit"] == [
        "export user=dave ip=- path=- roster: 2 rows from units A as csv to stdout"
    ]


@pytest.mark.django_db
def test_an_account_on_the_region_exports_every_unit_below_it_or_one_unit_with_unit(world, trained):
    _, rows = rows_by_member(call("export", "roster", "--as", "rita")[1])
    assert world.member_b.member_no in rows and world.bob_member.member_no in rows
    _, rows = rows_by_member(call("export", "roster", "--unit", "B", "--as", "rita")[1])
    assert set(rows) == {world.member_b.member_no, world.carol.member.member_no}
    _, rows = rows_by_member(call("export", "roster", "--include-departed", "--as", "dave")[1])
    assert rows["GONE-1"]["status"] == "departed"


@pytest.mark.django_db
def test_it_answers_not_found_for_a_unit_outside_the_actors_units(world, trained, caplog):
    with caplog.at_level(logging.INFO, logger="muster.audit"):
        code, out, err = call("export", "roster", "--unit", "B", "--as", "dave")
    assert (code, out) == (5, "")
    assert "unit_not_found" in err
    assert not [record for record in caplog.records if record.name == "muster.audit"]


@pytest.mark.django_db
def test_a_member_without_a_staff_role_may_not_export(world, trained):
    code, out, err = call("export", "roster", "--as", "bob")
    assert (code, out) == (4, "")
    assert "not_staff" in err


@pytest.mark.django_db
def test_it_writes_a_workbook_with_real_dates_and_neutralised_names_readable_by_its_owner_only(
    world, trained, tmp_path, caplog
):
    make_member(world.unit_a, member_no="X-1", first_name='=HYPERLINK("http://evil.example","open")', last_name="@x")
    path = tmp_path / "roster.xlsx"
    with caplog.at_level(logging.INFO, logger="muster.audit"):
        code, out, _ = call("export", "roster", "--output", str(path), "--as", "dave")
    assert (code, out.strip()) == (0, f"exported 3 members to {path}")
    assert os.stat(path).st_mode & 0o777 == 0o600
    sheet = openpyxl.load_workbook(path).active
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    first_name = rows["X-1"][2]
    assert (first_name.value, first_name.data_type) == ('\'=HYPERLINK("http://evil.example","open")', "s")
    assert rows["X-1"][1].value == "'@x"
    rifle = rows[world.bob_member.member_no][9]
    assert rifle.value == datetime.combine(timezone.localdate() + timedelta(days=300), datetime.min.time())
    assert rifle.is_date
    assert f"as xlsx to {path}" in caplog.text


@pytest.mark.django_db
def test_it_neutralises_formulas_in_the_csv_export(world, trained, tmp_path):
    make_member(world.unit_a, member_no="X-1", first_name='=HYPERLINK("http://evil.example","open")')
    path = tmp_path / "roster.csv"
    assert call("export", "roster", "--output", str(path), "--as", "dave")[0] == 0
    _, rows = rows_by_member(path.read_text(encoding="utf-8"))
    assert rows["X-1"]["first_name"] == '\'=HYPERLINK("http://evil.example","open")'


@pytest.mark.django_db
def test_an_xlsx_export_needs_an_output_file(world):
    code, out, err = call("export", "roster", "--format", "xlsx", "--as", "dave")
    assert (code, out) == (2, "")
    assert "--output FILE" in err
