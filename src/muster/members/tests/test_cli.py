import io
import re
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.authtoken.models import Token

from muster.core.errors import NotPermitted, Refused
from muster.core.models import AuditEvent
from muster.members import scope, services
from muster.members.models import Account, Member, Role, RoleAssignment, Unit

pytestmark = pytest.mark.django_db


def call(*args) -> tuple[int, str, str]:
    """Run a command as the CLI would; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("a-long-and-unusual-passphrase\n")
    return str(path)


def test_it_adds_an_account_with_its_role_linked_to_a_member(world, password_file):
    member = world.alice.member
    member.account.delete()  # free the member so a new account may be linked to it
    code, out, _ = call(
        "user", "add", "olena", "--role", "armorer", "--unit", "A", "--member", member.member_no,
        "--password-file", password_file, "--as", "dave",
    )  # fmt: skip
    assert code == 0
    assert out.strip() == f"created account olena: armorer of A, linked to member {member.member_no}"
    olena = Account.objects.get(username="olena")
    assert olena.member == member
    assert olena.check_password("a-long-and-unusual-passphrase")
    assert list(olena.roles.values_list("role", "unit__code")) == [("armorer", "A")]


def test_it_refuses_to_add_an_account_without_an_acting_account(world, password_file, monkeypatch):
    monkeypatch.delenv("MUSTER_USER", raising=False)
    code, _, err = call("user", "add", "olena", "--role", "member", "--unit", "A", "--password-file", password_file)
    assert code == 4
    assert "--as USERNAME" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_refuses_an_unknown_acting_account(world, password_file):
    code, _, err = call(
        "user", "add", "olena", "--role", "member", "--unit", "A", "--password-file", password_file, "--as", "ghost"
    )
    assert code == 4
    assert "No account named 'ghost'" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_refuses_an_actor_who_does_not_command_the_unit(world, password_file):
    code, _, err = call(
        "user", "add", "olena", "--role", "member", "--unit", "A", "--password-file", password_file, "--as", "alice"
    )
    assert code == 4
    assert "not_commander" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_answers_not_found_for_a_unit_outside_the_actors_units(world, password_file):
    code, _, err = call(
        "user", "add", "olena", "--role", "member", "--unit", "B", "--password-file", password_file, "--as", "dave"
    )
    assert code == 5
    assert "No unit with code 'B' in your units" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_reports_why_a_password_is_refused(world, tmp_path):
    weak = tmp_path / "weak"
    weak.write_text("password\n")
    code, _, err = call(
        "user", "add", "olena", "--role", "member", "--unit", "A", "--password-file", str(weak), "--as", "dave"
    )
    assert code == 2
    assert "password_rejected" in err
    assert "at least 10 characters" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_refuses_a_username_already_taken(world, password_file):
    code, _, err = call(
        "user", "add", "Bob", "--role", "member", "--unit", "A", "--password-file", password_file, "--as", "dave"
    )
    assert code == 3
    assert "username_taken" in err
    assert Account.objects.filter(username__iexact="bob").count() == 1


def test_it_grants_a_role(world):
    code, out, _ = call("user", "grant", "bob", "--role", "duty_officer", "--unit", "A", "--as", "dave")
    assert (code, out.strip()) == (0, "granted bob: duty_officer of A")
    assert RoleAssignment.objects.filter(account=world.bob, unit=world.unit_a, role=Role.DUTY_OFFICER).exists()


def test_it_refuses_to_grant_a_role_twice(world):
    code, _, err = call("user", "grant", "alice", "--role", "armorer", "--unit", "A", "--as", "dave")
    assert code == 3
    assert "role_held" in err
    assert world.alice.roles.count() == 1


def test_it_prints_the_accounts_own_token(world):
    code, out, _ = call("user", "token", "bob", "--as", "bob")
    assert code == 0
    assert out.strip() == Token.objects.get(user=world.bob).key


def test_it_rotates_a_token(world):
    old = Token.objects.create(user=world.bob).key
    code, out, _ = call("user", "token", "bob", "--rotate", "--as", "bob")
    assert code == 0
    assert out.strip() != old
    assert list(Token.objects.filter(user=world.bob).values_list("key", flat=True)) == [out.strip()]


def test_it_renews_an_expired_token_and_says_when_a_token_expires(world, settings):
    settings.MUSTER_API_TOKEN_DAYS = 30
    old = Token.objects.create(user=world.bob)
    code, out, err = call("user", "token", "bob", "--as", "bob")
    assert (code, out.strip()) == (0, old.key)  # unexpired: the same token
    expires = timezone.localtime(old.created + timedelta(days=30))
    assert f"expires {expires:%Y-%m-%d %H:%M}" in err and old.key not in err
    Token.objects.filter(pk=old.key).update(created=timezone.now() - timedelta(days=30, seconds=1))
    code, out, err = call("user", "token", "bob", "--as", "bob")
    assert code == 0 and out.strip() != old.key
    assert list(Token.objects.filter(user=world.bob).values_list("key", flat=True)) == [out.strip()]
    assert f"expires {timezone.localtime(timezone.now() + timedelta(days=30)):%Y-%m-%d}" in err
    details = AuditEvent.objects.filter(kind="token_issued").order_by("pk").values_list("detail", flat=True)
    assert list(details) == ["own API token handed out (existing)",
                             "own API token handed out (renewed, the old one had expired)"]  # fmt: skip


def test_it_refuses_to_show_another_accounts_token(world):
    code, _, err = call("user", "token", "bob", "--as", "dave")
    assert code == 4
    assert "not_token_owner" in err
    assert not Token.objects.filter(user=world.bob).exists()


def test_a_superuser_may_see_any_token(world):
    Account.objects.create_superuser("root", password="unused-password-1")
    code, out, _ = call("user", "token", "bob", "--as", "root")
    assert code == 0
    assert out.strip() == Token.objects.get(user=world.bob).key


def test_it_answers_not_found_for_an_unknown_account(world):
    code, _, err = call("user", "token", "ghost", "--as", "dave")
    assert code == 5
    assert "No account named 'ghost'" in err


# --- the services behind the commands --------------------------------------------------------------------


def test_it_creates_a_unit_under_a_unit_the_actor_commands(world):
    unit = services.create_unit(code="A-1", name="Platoon 1", kind=Unit.Kind.PLATOON, parent=world.unit_a,
                                actor=world.dave)  # fmt: skip
    assert unit.path == f"{world.unit_a.path}{unit.pk}/"
    assert scope.has_role(world.dave, unit, {Role.COMMANDER})


def test_it_refuses_a_top_level_unit_to_anyone_but_a_superuser(world):
    with pytest.raises(NotPermitted) as refusal:
        services.create_unit(code="TOP", name="Top", parent=None, actor=world.dave)
    assert refusal.value.code == "superuser_required"
    assert not Unit.objects.filter(code="TOP").exists()


def test_it_refuses_a_unit_code_already_taken(world):
    with pytest.raises(Refused) as refusal:
        services.create_unit(code="B", name="Again", parent=world.unit_a, actor=world.dave)
    assert refusal.value.code == "unit_code_taken"
    assert Unit.objects.filter(code="B").count() == 1


def test_it_refuses_a_member_in_a_unit_the_actor_does_not_command(world):
    with pytest.raises(NotPermitted) as refusal:
        services.create_member(member_no="X-1", first_name="X", last_name="Y", unit=world.unit_b, actor=world.dave)
    assert refusal.value.code == "not_commander"
    assert not world.unit_b.members.filter(member_no="X-1").exists()


def test_it_prompts_for_the_password_twice_and_refuses_a_mismatch(world, monkeypatch):
    answers = iter(["a-long-and-unusual-passphrase", "a-long-and-unusual-passphrasE"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, err = call("user", "add", "olena", "--role", "member", "--unit", "A", "--as", "dave")
    assert code == 2
    assert "The two passwords differ" in err
    assert not Account.objects.filter(username="olena").exists()


def test_it_creates_the_account_with_the_prompted_password(world, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-long-and-unusual-passphrase")
    code, _, _ = call("user", "add", "olena", "--role", "member", "--unit", "A", "--as", "dave")
    assert code == 0
    assert Account.objects.get(username="olena").check_password("a-long-and-unusual-passphrase")


# --- the roster from a workbook (the reader is core.csvimport's; the columns are members.imports') --------------

MEMBER_COLUMNS = [
    "member_no", "first_name", "last_name", "phone", "email", "unit_code", "status", "is_veteran",
    "vetting_valid_until", "joined_on",
]  # fmt: skip


def write_xlsx(path: Path, rows: list[list]) -> str:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return str(path)


def set_formula_result(path: str, formula: str, result: str) -> None:
    """openpyxl writes formulas without results; give one the saved text result Excel would have written."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = re.sub(
        rf'(<c r="\w+")>(<f>{re.escape(formula)}</f>)<v\s*/?>(</v>)?', rf'\1 t="str">\2<v>{result}</v>', sheet
    )
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def test_it_imports_members_from_a_workbook_with_real_dates_numbers_and_booleans(world, tmp_path):
    path = write_xlsx(tmp_path / "roster.xlsx", [
        MEMBER_COLUMNS,
        [1042, "Olena", "Koval", "+380501234567", "olena@example.org", "A", "active", True, date(2030, 6, 30),
         datetime(2024, 3, 1)],
        [None] * 10,
        ["M-2", " Petro ", "Shevchenko", None, None, "A", None, "no", "2029-01-31", None],
    ])  # fmt: skip
    code, out, err = call("import", "members", path, "--as", "dave")
    assert (code, out.strip()) == (0, "imported 2 members"), err
    olena = Member.objects.get(member_no="1042")
    assert (olena.is_veteran, olena.vetting_valid_until, olena.joined_on) == (True, date(2030, 6, 30), date(2024, 3, 1))
    assert olena.phone == "+380501234567"
    petro = Member.objects.get(member_no="M-2")
    assert (petro.first_name, petro.status, petro.vetting_valid_until) == ("Petro", "applicant", date(2029, 1, 31))


def test_it_reports_bad_workbook_rows_by_spreadsheet_row_and_imports_nothing(world, tmp_path):
    path = write_xlsx(tmp_path / "roster.xlsx", [
        MEMBER_COLUMNS,
        ["M-1", "Olena", "Koval", None, None, "A", "active", "no", None, None],
        [None] * 10,
        ["M-2", "Petro", None, None, None, "B", "active", "no", "31.01.2029", None],
        ["M-3", "Ivan", "Franko", None, None, "A", "active", "no", datetime(2030, 1, 1, 9, 30), None, "extra"],
    ])  # fmt: skip
    code, _, err = call("import", "members", path, "--as", "dave")
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("line ")] == [
        "line 4, column last_name: required",
        "line 4, column unit_code: no unit 'B' in your units",
        "line 4, column vetting_valid_until: not a date (YYYY-MM-DD): '31.01.2029'",
        "line 5: has values to the right of the header's last column (10 columns)",
    ]
    assert not Member.objects.filter(member_no__in=["M-1", "M-2", "M-3"]).exists()


def test_it_takes_a_formulas_saved_result_and_refuses_a_formula_without_one(world, tmp_path):
    path = write_xlsx(tmp_path / "roster.xlsx", [
        MEMBER_COLUMNS,
        ['="M-"&"1"', "Olena", "Koval", None, None, "A", "active", "no", None, None],
        ["M-2", "Petro", '=UPPER("x")', None, None, "A", "active", "no", None, None],
    ])  # fmt: skip
    set_formula_result(path, '"M-"&amp;"1"', "M-1")
    code, _, err = call("import", "members", path, "--as", "dave")
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("line ")] == [
        "line 3, column last_name: formulas are not accepted (this one has no saved value); type the value"
    ]
    assert not Member.objects.filter(member_no__in=["M-1", "M-2"]).exists()
    set_formula_result(path, 'UPPER("x")', "Shevchenko")
    assert call("import", "members", path, "--as", "dave")[:2] == (0, "imported 2 members\n")
    assert Member.objects.get(member_no="M-1").first_name == "Olena"
    assert Member.objects.get(member_no="M-2").last_name == "Shevchenko"
