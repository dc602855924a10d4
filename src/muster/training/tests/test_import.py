import io
from datetime import date, datetime, timedelta

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from muster.training.models import MemberQualification
from muster.training.testing import make_qualification, qualify

pytestmark = pytest.mark.django_db

HEADER = "member_no,qualification,granted_on,expires_on,evidence"  # spelled out: the documented columns


def call(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def rifle(world):
    return make_qualification("rifle-ak", name="Rifle (AK family)", validity_days=365)


@pytest.fixture
def drone(world):
    return make_qualification("counter-drone", name="Counter-drone operator", validity_days=730)


@pytest.fixture
def training_file(tmp_path):
    def write(text: str, name: str = "training.csv") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def row_errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("line ")]


def test_it_imports_prior_service_records_with_default_and_given_expiry(world, rifle, drone, training_file):
    bob = world.bob_member
    path = training_file(
        f"{HEADER}\n"
        f"{bob.member_no},rifle-ak,2025-01-10,,Certificate 1187\n"
        f"{bob.member_no},counter-drone,2025-02-01,2026-02-01,Unit record 72/15\n"
    )
    code, out, err = call("import", "training", path, "--as", "dave")
    assert (code, out.strip()) == (0, "imported 2 training records"), err
    grants = {grant.qualification.code: grant for grant in MemberQualification.objects.filter(member=bob)}
    assert (grants["rifle-ak"].granted_on, grants["rifle-ak"].expires_on) == (date(2025, 1, 10), date(2026, 1, 10))
    assert grants["counter-drone"].expires_on == date(2026, 2, 1)
    for grant in grants.values():
        assert (grant.source, grant.granted_by, grant.session) == ("prior_service", world.dave, None)
    assert grants["rifle-ak"].evidence == "Certificate 1187"


def test_it_imports_training_records_from_a_workbook(world, rifle, tmp_path):
    book = openpyxl.Workbook()
    book.active.append(HEADER.split(","))
    book.active.append([world.bob_member.member_no, "rifle-ak", datetime(2025, 3, 1), None, "DD-214 copy"])
    book.active.append([world.bob_member.member_no, "rifle-ak", "2024-03-01", date(2025, 1, 1), "Old record"])
    book.save(tmp_path / "training.xlsx")
    code, out, err = call("import", "training", str(tmp_path / "training.xlsx"), "--as", "dave")
    assert (code, out.strip()) == (0, "imported 2 training records"), err
    assert sorted(MemberQualification.objects.values_list("granted_on", "expires_on")) == [
        (date(2024, 3, 1), date(2025, 1, 1)),
        (date(2025, 3, 1), date(2026, 3, 1)),
    ]


def test_it_reports_every_bad_row_and_records_nothing(world, rifle, training_file):
    bob = world.bob_member.member_no
    future = timezone.localdate() + timedelta(days=3)
    qualify(world.bob_member, rifle, world.dave)
    taken = MemberQualification.objects.get().granted_on
    path = training_file(
        f"{HEADER}\n"
        f"{bob},rifle-ak,2025-01-10,,Certificate 1187\n"  # good
        f"{world.member_b.member_no},rifle-ak,2025-01-10,,Record\n"  # another unit's member
        f"NOBODY,sniper,2025-13-01,,\n"
        f"{bob},rifle-ak,2025-05-01,2025-04-01,Record\n"
        f"{bob},rifle-ak,{future},,Record\n"
        f"{bob},rifle-ak,2025-01-10,,Same again\n"
        f"{bob},rifle-ak,{taken},,Already there\n"
    )
    code, _, err = call("import", "training", path, "--as", "dave")
    assert code == 1
    assert row_errors(err) == [
        f"line 3, column member_no: no member '{world.member_b.member_no}' in your units",
        "line 4, column member_no: no member 'NOBODY' in your units",
        "line 4, column qualification: no qualification with code 'sniper' (known: rifle-ak)",
        "line 4, column granted_on: not a date (YYYY-MM-DD): '2025-13-01'",
        "line 4, column evidence: required",
        "line 5, column expires_on: The qualification must expire after it was granted.",
        "line 6, column granted_on: A qualification from prior service cannot be granted in the future.",
        "line 7: duplicate of line 2: rifle-ak granted on 2025-01-10",
        f"line 8: {bob} already has rifle-ak granted on {taken}",
    ]
    assert "6 bad rows in the training file; nothing was imported" in err
    assert MemberQualification.objects.count() == 1


@pytest.mark.parametrize("who", ["erin", "alice", "bob"])
def test_only_a_commander_of_the_members_unit_records_prior_service(world, rifle, training_file, who):
    path = training_file(f"{HEADER}\n{world.bob_member.member_no},rifle-ak,2025-01-10,,Certificate 1187\n")
    code, _, err = call("import", "training", path, "--as", who)
    assert code == 1
    assert f"line 2, column member_no: {who} is not a commander of A; cannot recognise prior service." in err
    assert not MemberQualification.objects.exists()


def test_the_training_template_is_the_documented_header(world):
    assert call("import", "training", "--template")[:2] == (0, HEADER + "\n")
