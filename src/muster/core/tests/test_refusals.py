"""Refusals of core (imports, backup and restore, two-factor sign-in), each provoked the way a person would, with
its stable code asserted and the database shown unchanged; and the meta-test that every `code="…"` raised in
src/muster is named by some test.

The helpers here (`call`, `database_state`, `unchanged`) serve the other apps' test_refusals.py too.
"""

import io
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.utils import ConnectionHandler
from django_otp.plugins.otp_totp.models import TOTPDevice

from muster.core import backup, otp
from muster.core.errors import NotPermitted, Refused
from muster.core.models import AuditEvent
from muster.core.tests.test_totp import enrolled, verified_client
from muster.custody import services
from muster.custody.testing import make_item
from muster.members.models import Account

SRC = Path(__file__).resolve().parents[2]  # src/muster


# --- helpers shared by every app's test_refusals.py ----------------------------------------------------------------


def call(*args) -> tuple[int, str]:
    """Run a management command as the CLI would; return (exit code, everything it printed and its error line)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*[str(arg) for arg in args], stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, f"{out.getvalue()}{err.getvalue()}{exc}"
    return 0, out.getvalue() + err.getvalue()


# The audit trail's record of a refusal or a failed check is the one write a refusal makes (ASVS 7.2 and 16.3.2-16.3.3:
# access control and authentication failures, rule refusals and requests over their rate are logged); any other audit
# row, or a change to an existing one, still counts.
REFUSAL_RECORDS = (
    AuditEvent.Kind.REFUSED,
    AuditEvent.Kind.RULE_REFUSED,
    AuditEvent.Kind.THROTTLED,
    AuditEvent.Kind.LOGIN_FAILED,
    AuditEvent.Kind.OTP_FAILED,
)


def database_state(*, ignore: frozenset[str] | set[str] = frozenset()) -> dict[str, list]:
    """Every row of every table Muster and its libraries keep (sessions aside: signing in is not the refusal; the
    audit trail's records of refusals aside)."""
    skip = {"django_session", *ignore}
    state = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed or meta.db_table in skip:
            continue
        rows = model._base_manager.order_by("pk")
        if model is AuditEvent:
            rows = rows.exclude(kind__in=REFUSAL_RECORDS)
        state[meta.db_table] = list(rows.values_list())
    return state


@contextmanager
def unchanged(*, ignore: frozenset[str] | set[str] = frozenset()):
    """Assert that the block writes nothing to the database (but to the tables in `ignore`)."""
    before = database_state(ignore=ignore)
    yield
    after = database_state(ignore=ignore)
    changed = sorted(table for table in before if before[table] != after[table])
    assert not changed, f"the refusal wrote to {changed}"


def refused_by_cli(code: str, exit_code: int, *args) -> str:
    """Run the command inside `unchanged()`; assert its exit code and that it names `code`; return its output."""
    with unchanged():
        returned, output = call(*args)
    assert (returned, f"{code}:" in output) == (exit_code, True), output
    return output


# --- imports (core.csvimport, through `muster import`) -------------------------------------------------------------

UNITS_HEADER = "code,name,kind,parent_code"


def import_refused(path: Path, code: str) -> str:
    """`muster import units FILE --as dave` exits 2 naming `code`, and nothing is written."""
    return refused_by_cli(code, 2, "import", "units", path, "--as", "dave")


def test_it_refuses_an_empty_csv_file(world, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("\n\n")
    assert UNITS_HEADER in import_refused(path, "csv_empty")


def test_it_refuses_csv_with_broken_quoting_in_the_header_or_a_row(world, tmp_path):
    header = tmp_path / "header.csv"
    header.write_text('code,"name"x,kind,parent_code\n')
    assert "line 1: not valid CSV" in import_refused(header, "csv_malformed")
    row = tmp_path / "row.csv"
    row.write_text(f'{UNITS_HEADER}\nA-1,"Platoon" 1,platoon,A\n')
    assert "line 2: not valid CSV" in import_refused(row, "csv_malformed")


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_it_refuses_a_csv_file_it_cannot_read(world, tmp_path, make):
    path = tmp_path / "units.csv"
    if make == "directory":
        path.mkdir()  # stat() works, reading does not
    assert f"Cannot read {path}" in import_refused(path, "csv_unreadable")


def test_it_refuses_a_workbook_whose_first_row_is_empty(world, tmp_path):
    path = tmp_path / "units.xlsx"
    book = openpyxl.Workbook()
    book.active["A3"] = "A-1"  # data below, but no header in row 1
    book.save(path)
    assert UNITS_HEADER in import_refused(path, "xlsx_empty")


# Codes made at run time (code=f"{kind}_header", f"{kind}_unreadable") or by default (ImportFailed) escape the
# meta-test's scan below; these name them.


def test_it_refuses_a_header_that_does_not_match(world, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("code,name,colour\nA-1,Platoon 1,green\n")
    output = import_refused(path, "csv_header")
    assert "missing columns: kind, parent_code; unknown column: 'colour'" in output


def test_it_refuses_a_workbook_it_cannot_read(world, tmp_path):
    path = tmp_path / "units.xlsx"
    assert f"Cannot read {path}" in import_refused(path, "xlsx_unreadable")


def test_it_imports_nothing_from_a_file_with_a_bad_row(world, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(f"{UNITS_HEADER}\nA-1,Platoon 1,platoon,A\nA-2,Platoon 2,platoon,NOWHERE\n")
    output = refused_by_cli("import_rows_invalid", 1, "import", "units", path, "--as", "dave")
    assert "line 3, column parent_code: no unit 'NOWHERE'" in output  # and line 2, good, was rolled back


# --- backup and restore (core.backup, through `muster backup` / `muster restore`) ----------------------------------


@pytest.fixture
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(f"the pg_dump / pg_restore branch; this run uses {connection.vendor}")


def corrupt_sqlite(path: Path) -> Path:
    """An SQLite file that opens, but whose pages fail PRAGMA integrity_check (an index dropped behind SQLite's back
    leaves its pages orphaned), as a damaged disk or a copied-while-written file would."""
    database = sqlite3.connect(path)
    database.executescript("CREATE TABLE t (a TEXT); CREATE INDEX t_a ON t (a);")
    database.executemany("INSERT INTO t VALUES (?)", [(str(number) * 40,) for number in range(300)])
    database.commit()
    database.execute("PRAGMA writable_schema = ON")
    database.execute("DELETE FROM sqlite_master WHERE name = 't_a'")
    database.commit()
    database.close()
    return path


def test_it_never_overwrites_an_existing_backup_file(world, tmp_path):
    existing = tmp_path / "monday.backup"
    existing.write_bytes(b"precious")
    refused_by_cli("file_exists", 2, "backup", existing)
    assert existing.read_bytes() == b"precious"


def test_it_refuses_to_restore_from_a_file_that_is_not_there(world, tmp_path):
    refused_by_cli("file_missing", 2, "restore", tmp_path / "gone.backup", "--yes")


def test_it_refuses_a_backup_of_a_damaged_sqlite_database(world, tmp_path, monkeypatch):
    # A live database that fails SQLite's integrity check cannot be made inside a test run's own database, so
    # `muster backup` runs against a damaged SQLite file standing in for it; the code path is the real one.
    live = corrupt_sqlite(tmp_path / "live.sqlite3")
    damaged = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(live)}})["default"]
    monkeypatch.setattr(backup, "connection", damaged)
    target = tmp_path / "copy.backup"
    try:
        output = refused_by_cli("backup_corrupt", 2, "backup", target)
    finally:
        damaged.close()
    assert "integrity check" in output
    assert not target.exists()  # a damaged copy is not left behind to be trusted later


@pytest.mark.parametrize("kind", ["junk", "corrupt sqlite", "not muster"])
def test_it_refuses_to_restore_what_is_not_a_muster_backup(world, purged_ledger, tmp_path, kind):
    path = tmp_path / "restore.backup"
    if kind == "junk":
        path.write_bytes(b"not a database at all\n" * 200)
    elif kind == "corrupt sqlite":
        corrupt_sqlite(path)
    else:
        other = sqlite3.connect(path)  # a sound SQLite file of some other program
        other.execute("CREATE TABLE notes (body TEXT)")
        other.commit()
        other.close()
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    # SQLite checks the file itself; PostgreSQL hands it to pg_restore, which refuses it before touching anything.
    code = "not_a_backup" if connection.vendor == "sqlite" else "restore_failed"
    refused_by_cli(code, 2, "restore", path, "--yes")


def test_it_says_which_tool_is_missing(world, tmp_path, monkeypatch, postgresql_only):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    target = tmp_path / "muster.dump"
    output = refused_by_cli("tool_missing", 2, "backup", target)
    assert "pg_dump is not installed" in output and not target.exists()
    existing = tmp_path / "old.dump"
    existing.write_bytes(b"PGDMP")
    output = refused_by_cli("tool_missing", 2, "restore", existing, "--yes")
    assert "pg_restore is not installed" in output


def test_it_reports_a_failed_pg_dump(world, tmp_path, postgresql_only):
    target = tmp_path / "no-such-folder" / "muster.dump"
    output = refused_by_cli("backup_failed", 2, "backup", target)
    assert "pg_dump failed" in output and not target.exists()


def test_a_backup_into_a_missing_folder_is_refused_with_a_clear_error(world, tmp_path):
    target = tmp_path / "no-such-folder" / "muster.backup"
    with unchanged():
        code, output = call("backup", target)
    assert code == 2 and str(target) in output


# --- two-factor sign-in (core.otp: the set-up page, the commander's reset, `muster totp reset`) --------------------


def test_it_refuses_a_reset_of_an_account_without_an_authenticator(world, client):
    output = refused_by_cli("no_totp_device", 3, "totp", "reset", "alice", "--as", "dave")
    assert "alice has no two-factor device" in output
    client.force_login(world.dave)
    with unchanged():
        response = client.post("/accounts/alice/two-factor/")
    assert response.status_code == 409
    assert "alice has no two-factor device to reset. [no_totp_device]" in response.content.decode()
    assert not AuditEvent.objects.filter(kind=otp.Kind.RESET).exists()


def test_it_does_not_find_an_account_outside_the_commanders_units(world, client):
    device = enrolled(world.carol)
    refused_by_cli("account_not_found", 5, "totp", "reset", "carol", "--as", "dave")
    refused_by_cli("account_not_found", 5, "totp", "reset", "nobody", "--as", "dave")
    client.force_login(world.dave)
    with unchanged():
        assert client.post("/accounts/carol/two-factor/").status_code == 404  # the page says no more than that
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_it_refuses_a_second_authenticator_while_one_is_set_up(world, settings):
    settings.MUSTER_REQUIRE_TOTP = True
    device = enrolled(world.alice)
    with unchanged(), pytest.raises(Refused) as refusal:
        otp.start_enrolment(account=world.alice)
    assert refusal.value.code == "otp_already_enrolled"
    client = verified_client(world.alice)
    with unchanged():
        response = client.get("/two-factor/set-up/", follow=True)
    assert response.redirect_chain[0] == ("/", 302)
    assert "Two-factor sign-in is already set up for this account." in response.content.decode()
    assert list(TOTPDevice.objects.filter(user=world.alice)) == [device]


def test_it_refuses_a_code_when_no_set_up_is_pending(world, client):
    with unchanged(), pytest.raises(Refused) as refusal:
        otp.confirm_enrolment(account=world.bob, code="123456")
    assert refusal.value.code == "otp_enrolment_missing"
    client.force_login(world.bob)
    # The page answers the refusal and offers a fresh secret to start over: that new, unconfirmed device is the
    # only row it writes (what opening the page writes anyway).
    with unchanged(ignore={TOTPDevice._meta.db_table}):
        response = client.post("/two-factor/set-up/", {"code": "123456"})
    assert response.status_code == 409
    assert "[otp_enrolment_missing]" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=world.bob, confirmed=True).exists()
    assert not AuditEvent.objects.filter(kind__startswith="otp_").exists()  # no attempt was counted


def test_a_disabled_account_neither_sets_up_nor_resets_two_factor(world):
    enrolled(world.alice)
    Account.objects.filter(pk__in=[world.bob.pk, world.dave.pk]).update(is_active=False)
    world.bob.refresh_from_db()
    world.dave.refresh_from_db()
    with unchanged():
        with pytest.raises(NotPermitted) as refusal:
            otp.start_enrolment(account=world.bob)
        assert refusal.value.code == "account_disabled"
        with pytest.raises(NotPermitted) as refusal:
            otp.reset_device(account=world.alice, actor=world.dave)
        assert refusal.value.code == "account_disabled"
        # The faces stop a disabled account before the service: the CLI refuses to act as it (exit 4), and it
        # cannot sign in to the web or the API.
        code, output = call("totp", "reset", "alice", "--as", "dave")
        assert code == 4 and "disabled" in output


# --- every code is named by a test ---------------------------------------------------------------------------------

# Codes no test can provoke from outside, each with the reason. Keep this as short as honest: a code listed here is
# one the suite does not check.
UNTESTABLE: dict[str, str] = {}


def raised_codes() -> dict[str, set[str]]:
    """Every literal code="…" in src/muster outside tests and migrations → the files that raise it."""
    codes: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if "tests" in relative.parts or "migrations" in relative.parts:
            continue
        for match in re.finditer(r'code="([a-z_]+)"', path.read_text(encoding="utf-8")):
            codes.setdefault(match.group(1), set()).add(str(relative))
    return codes


def test_every_error_code_is_named_by_a_test():
    codes = raised_codes()
    tests = "\n".join(path.read_text(encoding="utf-8") for path in sorted(SRC.rglob("tests/*.py")))
    missing = {
        code: files
        for code, files in codes.items()
        if code not in UNTESTABLE and not re.search(rf"[\"']{code}[\"']", tests)
    }
    listing = "\n".join(f"  {code}: {', '.join(sorted(files))}" for code, files in sorted(missing.items()))
    print(f"{len(codes)} codes raised; {len(missing)} named by no test" + (f":\n{listing}" if listing else ""))
    assert not missing, f"error codes no test names (provoke each in the app's tests/test_refusals.py):\n{listing}"
    stale = sorted(code for code in UNTESTABLE if code not in codes)
    assert not stale, f"UNTESTABLE lists codes nothing raises any more: {stale}"
