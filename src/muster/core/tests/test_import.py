import csv
import io
import re
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from muster import cli
from muster.core import csvimport
from muster.core.testing import make_account
from muster.custody import ledger
from muster.custody.imports import ArmoryImporter, ItemImporter
from muster.custody.models import Armory, Item, ItemType, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.members import services
from muster.members.imports import MemberImporter, UnitImporter
from muster.members.models import Account, Member, Unit
from muster.training.imports import TrainingImporter
from muster.training.models import MemberQualification
from muster.training.testing import make_qualification

IMPORTERS = {
    "units": UnitImporter,
    "armories": ArmoryImporter,
    "members": MemberImporter,
    "items": ItemImporter,
    "training": TrainingImporter,
}
# Spelled out, not taken from the importer, so that a change to the documented columns fails a test.
MEMBERS_HEADER = "member_no,first_name,last_name,phone,email,unit_code,status,is_veteran,vetting_valid_until,joined_on"
ITEMS_HEADER = ",".join(ItemImporter.columns[:-1])  # files without the optional last column stay valid


def call(*args) -> tuple[int, str, str]:
    """Run a command as the CLI would; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str, *, encoding: str = "utf-8", name: str = "import.csv"):
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return str(path)

    return write


@pytest.mark.parametrize("kind", ["units", "armories", "members", "items", "training"])
def test_it_prints_the_header_row_as_a_template(kind):
    code, out, _ = call("import", kind, "--template")
    assert code == 0
    assert out.strip() == ",".join(IMPORTERS[kind].columns)


def test_the_muster_console_script_exits_0_for_a_template_and_4_without_an_actor(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "argv", ["muster", "import", "members", "--template"])
    cli.main()
    assert capsys.readouterr().out.strip() == MEMBERS_HEADER
    monkeypatch.setattr(sys, "argv", ["muster", "import", "members", str(tmp_path / "x.csv")])
    monkeypatch.delenv("MUSTER_USER", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 4
    assert "--as USERNAME" in capsys.readouterr().err


@pytest.mark.django_db
def test_it_imports_units_whose_parents_come_earlier_in_the_same_file(world, csv_file):
    root = make_account("root")
    root.is_superuser = True
    root.save()
    path = csv_file(
        "code,name,kind,parent_code\nS,South region,region,\nS-1,1st Battalion,battalion,S\nS-1-A,A Coy,,S-1\n"
    )
    code, out, _ = call("import", "units", path, "--as", "root")
    assert (code, out.strip()) == (0, "imported 3 units")
    company = Unit.objects.get(code="S-1-A")
    assert company.kind == Unit.Kind.OTHER
    assert company.parent.code == "S-1"
    assert company.path.startswith(Unit.objects.get(code="S").path)


@pytest.mark.django_db
def test_it_refuses_units_outside_the_actors_command(world, csv_file):
    path = csv_file(
        "code,name,kind,parent_code\nA-1,Platoon 1,platoon,A\nB-1,Platoon 1 of B,platoon,B\nTOP,Top,region,\n"
    )
    code, _, err = call("import", "units", path, "--as", "dave")
    assert code == 1
    assert "line 3, column parent_code: no unit 'B' in your units" in err
    assert "line 4, column parent_code: Only a superuser may create a top-level unit." in err
    assert not Unit.objects.filter(code__in=["A-1", "B-1", "TOP"]).exists()


@pytest.mark.django_db
def test_it_says_when_a_units_parent_is_on_a_bad_line(world, csv_file):
    path = csv_file("code,name,kind,parent_code\nA 1,Platoon 1,platoon,A\nA-1-X,Post X,post,A 1\n")
    code, _, err = call("import", "units", path, "--as", "dave")
    assert code == 1
    assert err.splitlines()[:2] == [
        "line 2, column code: 'A 1' may hold only letters, digits, '-' and '_'",
        "line 3, column parent_code: parent 'A 1' is on line 2, which has errors",
    ]
    assert not Unit.objects.filter(code__startswith="A-").exists()


@pytest.mark.django_db
def test_it_imports_armories(world, csv_file):
    path = csv_file("code,name,unit_code,address\nARM-A2,Vehicle park A,A,1 Depot Road\nARM-A3,Radio store A,A,\n")
    code, out, _ = call("import", "armories", path, "--as", "dave")
    assert (code, out.strip()) == (0, "imported 2 armories")
    assert Armory.objects.get(code="ARM-A2").unit == world.unit_a
    assert Armory.objects.get(code="ARM-A3").address == ""


@pytest.mark.django_db
def test_it_imports_members(world, csv_file):
    path = csv_file(
        "\ufeff" + MEMBERS_HEADER + "\n"
        "M-1,Olena,Koval,+380501234567,olena@example.org,A,active,yes,2030-06-30,2024-03-01\n"
        "\n"
        "M-2,Petro,Shevchenko,,,A,,no,,\n"
    )
    code, out, _ = call("import", "members", path, "--as", "dave")
    assert (code, out.strip()) == (0, "imported 2 members")
    olena = Member.objects.get(member_no="M-1")
    assert (olena.unit, olena.status, olena.is_veteran, str(olena.vetting_valid_until)) == (
        world.unit_a,
        Member.Status.ACTIVE,
        True,
        "2030-06-30",
    )
    assert list(olena.status_changes.values_list("from_status", "to_status", "reason", "changed_by")) == [
        ("", "active", "imported", world.dave.pk)
    ]
    petro = Member.objects.get(member_no="M-2")
    assert (petro.status, petro.is_veteran, petro.vetting_valid_until) == (Member.Status.APPLICANT, False, None)


@pytest.mark.django_db
def test_it_imports_items_each_with_a_register_event(world, csv_file):
    make_item(world.armory_a, world.alice, serial="OLD-1")  # an existing type and event before the import
    path = csv_file(
        ITEMS_HEADER + "\n"
        "AK-74M assault rifle,firearm,,,AK-100,ARM-A,serviceable,Izhmash,1991,inv 1\n"
        "Bukovel-AD jammer,counter_drone,Bukovel-AD,,J-7,ARM-A,needs_repair,Proximus,2023,\n"
        "Bukovel-AD jammer,,,,J-8,ARM-A,,,,\n"
    )
    code, out, _ = call("import", "items", path, "--as", "alice")
    assert (code, out.strip()) == (0, "imported 3 items")
    jammer_type = ItemType.objects.get(name="Bukovel-AD jammer")
    assert (jammer_type.category, jammer_type.model) == ("counter_drone", "Bukovel-AD")
    imported = Item.objects.filter(serial_number__in=["AK-100", "J-7", "J-8"])
    assert imported.count() == 3
    for item in imported:
        assert item.holder_armory == world.armory_a
        assert list(item.events.values_list("kind", "actor_id")) == [("register", world.alice.pk)]
    assert Item.objects.get(serial_number="J-7").condition == Item.Condition.NEEDS_REPAIR
    assert LedgerEvent.objects.count() == 4
    assert ledger.verify().ok


@pytest.mark.django_db
def test_it_refuses_items_of_an_armory_the_actor_is_not_armorer_of(world, csv_file):
    path = csv_file(
        ITEMS_HEADER + "\n"
        "AK-74M assault rifle,firearm,,,AK-1,ARM-A,,,,\n"
        "AK-74M assault rifle,firearm,,,AK-2,ARM-B,,,,\n"
    )
    code, _, err = call("import", "items", path, "--as", "dave")  # commander of A, not its armorer
    assert code == 1
    assert "line 2, column home_armory_code: you are not an armorer of A, which owns ARM-A" in err
    assert "line 3, column home_armory_code: no armory 'ARM-B' in your units" in err
    assert not Item.objects.exists()
    assert not LedgerEvent.objects.exists()


@pytest.mark.django_db
def test_it_imports_nothing_and_reports_every_bad_row(world, csv_file):
    make_item_type()
    make_item(world.armory_a, world.alice, serial="TAKEN-1")
    path = csv_file(
        ITEMS_HEADER + "\n"
        "AK-74M assault rifle,,,,GOOD-1,ARM-A,,,,\n"
        "AK-74M assault rifle,,,,TAKEN-1,ARM-A,,,,\n"
        "AK-74M assault rifle,,,9 mm,GOOD-2,ARM-A,,,,\n"
        "New rifle,,,,NEW-1,ARM-A,,,,\n"
        "AK-74M assault rifle,,,,GOOD-3,ARM-A,broken,,19x1,\n"
        "AK-74M assault rifle,,,,GOOD-1,ARM-A,,,,\n"
        "AK-74M assault rifle,,,,,ARM-A,,,,,extra\n"
    )
    code, _, err = call("import", "items", path, "--as", "alice")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("line ")]
    assert lines == [
        "line 3, column serial_number: AK-74M assault rifle #TAKEN-1 is already registered",
        "line 4, column calibre: '9 mm' differs from '5.45×39 mm' given for 'AK-74M assault rifle' on the existing "
        "item type",
        "line 5, column category: required for the new item type 'New rifle'",
        "line 6, column condition: 'broken' is not one of serviceable, needs_repair, unserviceable",
        f"line 6, column year_of_manufacture: not a whole number from 1850 to {timezone.localdate().year}: '19x1'",
        "line 7, column serial_number: duplicate of line 2: AK-74M assault rifle #GOOD-1",
        "line 8: has 11 fields, the header has 10",
    ]
    assert "6 bad rows in the items file; nothing was imported" in err
    assert list(Item.objects.values_list("serial_number", flat=True)) == ["TAKEN-1"]
    assert LedgerEvent.objects.count() == 1
    assert ledger.verify().ok


@pytest.mark.django_db
def test_it_reports_a_bad_date_with_its_line_and_column(world, csv_file):
    path = csv_file(
        MEMBERS_HEADER + "\n"
        "M-1,Olena,Koval,,,A,active,no,2030-06-30,2024-03-01\n"
        "M-2,Petro,Shevchenko,,not-an-email,A,active,maybe,2024-13-01,\n"
    )
    code, _, err = call("import", "members", path, "--as", "dave")
    assert code == 1
    assert "line 3, column vetting_valid_until: not a date (YYYY-MM-DD): '2024-13-01'" in err
    assert "line 3, column email: not an e-mail address: 'not-an-email'" in err
    assert "line 3, column is_veteran: not yes/no/true/false/1/0: 'maybe'" in err
    assert not Member.objects.filter(member_no__in=["M-1", "M-2"]).exists()


@pytest.mark.django_db
def test_it_refuses_a_member_number_repeated_in_the_file_or_taken_in_the_database(world, csv_file):
    path = csv_file(
        MEMBERS_HEADER + "\n"
        "M-1,Olena,Koval,,,A,active,no,,\n"
        "M-1,Olena,Again,,,A,active,no,,\n"
        f"{world.bob_member.member_no},Bob,Twice,,,A,active,no,,\n"
    )
    code, _, err = call("import", "members", path, "--as", "dave")
    assert code == 1
    assert "line 3, column member_no: duplicate of line 2: 'M-1'" in err
    assert f"line 4, column member_no: member number '{world.bob_member.member_no}' is already taken" in err
    assert not Member.objects.filter(member_no="M-1").exists()
    assert Member.objects.get(member_no=world.bob_member.member_no).last_name == "Baker"


@pytest.mark.django_db
def test_it_refuses_members_of_a_unit_the_actor_does_not_command(world, csv_file):
    path = csv_file(MEMBERS_HEADER + "\nM-1,Olena,Koval,,,A,active,no,,\n")
    code, _, err = call("import", "members", path, "--as", "alice")  # armorer of A, not commander
    assert code == 1
    assert "line 2, column unit_code: alice is not a commander of A; cannot add members to it." in err
    assert not Member.objects.filter(member_no="M-1").exists()


@pytest.mark.django_db
def test_it_refuses_a_file_whose_header_does_not_match(world, csv_file):
    path = csv_file("member_no,first_name,surname,phone,email,unit_code,status,is_veteran,vetting_valid_until\n")
    code, _, err = call("import", "members", path, "--as", "dave")
    assert code == 2
    assert "missing columns: last_name, joined_on" in err
    assert "unknown column: 'surname'" in err


@pytest.mark.django_db
def test_it_refuses_a_file_that_is_not_utf8(world, csv_file):
    path = csv_file(MEMBERS_HEADER + "\nM-1,Олена,Коваль,,,A,active,no,,\n", encoding="cp1251")
    code, _, err = call("import", "members", path, "--as", "dave")
    assert code == 2
    assert "is not UTF-8 text (line 2" in err
    assert not Member.objects.filter(member_no="M-1").exists()


@pytest.mark.django_db
def test_it_refuses_a_file_over_the_size_limit(world, csv_file):
    path = csv_file(MEMBERS_HEADER + "\n" + "M-1,Olena,Koval,,,A,active,no,,\n" * 10)
    with pytest.raises(csvimport.Invalid) as refusal:
        csvimport.run(MemberImporter(world.dave), path, max_bytes=100)
    assert refusal.value.code == "csv_too_large"
    assert not Member.objects.filter(member_no="M-1").exists()


@pytest.mark.django_db
def test_it_reads_semicolon_separated_files_from_spreadsheets(world, csv_file):
    path = csv_file(MEMBERS_HEADER.replace(",", ";") + "\nM-1;Olena;Koval;;;A;active;no;;\n")
    assert csvimport.run(MemberImporter(world.dave), path) == 1
    assert Member.objects.get(member_no="M-1").unit == world.unit_a


@pytest.mark.django_db
def test_it_needs_a_file_or_template(world):
    code, _, err = call("import", "units", "--as", "dave")
    assert code == 2
    assert "Name the file to import, .csv or .xlsx" in err


@pytest.mark.django_db
def test_it_refuses_an_unknown_acting_account(world, csv_file):
    path = csv_file(MEMBERS_HEADER + "\nM-1,Olena,Koval,,,A,active,no,,\n")
    code, _, err = call("import", "members", path, "--as", "nobody")
    assert code == 4
    assert "No account named 'nobody'" in err
    assert not Member.objects.filter(member_no="M-1").exists()


@pytest.mark.django_db
def test_the_example_files_in_the_docs_match_the_columns_and_import_in_order(csv_file):
    docs = Path(__file__).resolve().parents[4] / "docs" / "cli.md"
    blocks = re.findall(r"```csv\n(.*?)```", docs.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == len(IMPORTERS)
    root = Account.objects.create_superuser("root", password="unused-password-1")
    services.create_unit(code="N-1BN", name="1st Battalion", kind=Unit.Kind.BATTALION, parent=None, actor=root)
    make_qualification("rifle-ak", validity_days=365)
    for (kind, importer), block in zip(IMPORTERS.items(), blocks, strict=True):
        assert list(csv.reader(io.StringIO(block))) == [list(importer.columns), list(importer.example)]
        code, out, err = call("import", kind, csv_file(block, name=f"{kind}.csv"), "--as", "root")
        assert (code, out.strip()) == (0, f"imported 1 {importer.noun or kind}"), err
    item = Item.objects.get(serial_number="1234567")
    assert (item.home_armory.code, item.home_armory.unit.code) == ("N-1BN-A-ARMS", "N-1BN-A")
    assert Member.objects.get(member_no="M-1042").unit.code == "N-1BN-A"
    grant = MemberQualification.objects.get(member__member_no="M-1042")
    assert (str(grant.granted_on), str(grant.expires_on)) == ("2023-05-10", "2024-05-09")


# --- XLSX workbooks, and files that must be refused ---------------------------------------------------------------


def zip_with(path: Path, parts: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return str(path)


WORKBOOK_PARTS = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("parts", "code", "message"),
    [
        ({**WORKBOOK_PARTS, "xl/worksheets/sheet1.xml": bytes(3 * 1048576)}, "xlsx_bomb", "compressed 1"),
        ({**WORKBOOK_PARTS, "xl/worksheets/sheet1.xml": b" " * (51 * 1048576)}, "xlsx_too_large", "unpacks to 51 MB"),
        (WORKBOOK_PARTS, "xlsx_corrupt", "is not a readable XLSX workbook"),
        ({"word/document.xml": b"<w/>"}, "xlsx_corrupt", "a zip archive but not an XLSX workbook"),
    ],
    ids=["zip-bomb", "unpacks-too-large", "damaged-workbook", "not-a-workbook"],
)
def test_it_refuses_a_hostile_or_damaged_workbook_before_reading_it(world, tmp_path, parts, code, message):
    path = zip_with(tmp_path / "roster.xlsx", parts)
    with pytest.raises(csvimport.Invalid) as refusal:
        csvimport.run(MemberImporter(world.dave), path)
    assert refusal.value.code == code
    assert message in refusal.value.detail
    assert Member.objects.count() == 4


@pytest.mark.django_db
def test_it_refuses_a_workbook_that_is_not_a_zip_archive_with_exit_2(world, csv_file):
    path = csv_file(MEMBERS_HEADER + "\nM-1,Olena,Koval,,,A,active,no,,\n", name="roster.xlsx")
    code, _, err = call("import", "members", path, "--as", "dave")
    assert code == 2
    assert "xlsx_corrupt" in err
    assert "is not an XLSX workbook (not a zip archive" in err
    assert not Member.objects.filter(member_no="M-1").exists()


@pytest.mark.django_db
def test_it_refuses_a_workbook_over_the_size_limit(world, tmp_path):
    path = zip_with(tmp_path / "roster.xlsx", {**WORKBOOK_PARTS, "xl/worksheets/sheet1.xml": b"<x/>" * 400})
    with pytest.raises(csvimport.Invalid) as refusal:
        csvimport.run(MemberImporter(world.dave), path, max_bytes=200)
    assert refusal.value.code == "xlsx_too_large"
    assert not Member.objects.filter(member_no="M-1").exists()


@pytest.mark.django_db
def test_it_refuses_a_workbook_header_that_does_not_match(world, tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["member_no", "name"])
    book.save(tmp_path / "roster.xlsx")
    path = str(tmp_path / "roster.xlsx")
    code, _, err = call("import", "members", path, "--as", "dave")
    assert code == 2
    assert "xlsx_header" in err and "missing columns: first_name, last_name" in err


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["roster.xls", "roster.ods", "roster.txt"])
def test_it_refuses_files_that_are_neither_csv_nor_xlsx(world, csv_file, name):
    code, _, err = call("import", "members", csv_file(MEMBERS_HEADER + "\n", name=name), "--as", "dave")
    assert code == 2
    assert "file_type" in err


@pytest.mark.django_db
def test_it_imports_a_key_with_the_armory_it_opens_and_refuses_one_for_a_rifle(world, csv_file):
    header = ITEMS_HEADER + ",opens_armory_code"
    bad = csv_file(
        header + "\nAK-74M assault rifle,firearm,,,AK-9,ARM-A,,,,,ARM-A\nArms room key,key,,,K-1,ARM-A,,,,,ARM-Z\n"
    )
    code, _, err = call("import", "items", bad, "--as", "alice")
    assert code == 1
    assert "line 2, column opens_armory_code: only keys and seals open an armory" in err
    assert "line 3, column opens_armory_code: no armory 'ARM-Z' in your units" in err
    assert not Item.objects.exists()
    good = csv_file(header + "\nArms room key,key,,,K-1,ARM-A,,,,duty copy,ARM-A\n")
    code, out, _ = call("import", "items", good, "--as", "alice")
    assert (code, out.strip()) == (0, "imported 1 items")
    assert Item.objects.get(serial_number="K-1").opens_armory == world.armory_a
