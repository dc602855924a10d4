#!/usr/bin/env python3
"""How fast does `muster import members` take a roster of real size, as CSV and as XLSX?

    .venv/bin/python bench/bench_import.py [--members 3000] [--profile]

Creates a throwaway SQLite database (a temporary MUSTER_VAR_DIR, migrated), writes a realistic roster of N members
as CSV and as XLSX, and imports each through the `muster import members` command, exactly as a person would. Next to
each time it prints a reference measured in the same run on the same database: the same rows read with csv.reader
and inserted with one bare `executemany` INSERT — the floor any import with checks must stay within sight of.
Goal: 3,000 members in under 3 seconds per file. --profile prints a pyinstrument profile of the CSV import.
"""

import argparse
import csv
import io
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

GOAL_SECONDS = 3.0
GOAL_MEMBERS = 3000
COLUMNS = ("member_no", "first_name", "last_name", "phone", "email", "unit_code", "status", "is_veteran",
           "vetting_valid_until", "joined_on")  # fmt: skip
FIRST = ["Olena", "Petro", "Ivan", "Mariia", "Andrii", "Oksana", "Taras", "Iryna", "Dmytro", "Nataliia", "Serhii",
         "Yuliia", "Bohdan", "Kateryna", "Mykola", "Sofiia", "Yurii", "Halyna", "Oleh", "Viktoriia"]  # fmt: skip
LAST = ["Koval", "Shevchenko", "Bondarenko", "Tkachenko", "Kravchenko", "Melnyk", "Oliinyk", "Shevchuk", "Boiko",
        "Polishchuk", "Lysenko", "Marchenko", "Rudenko", "Savchenko", "Petrenko", "Moroz"]  # fmt: skip
COMPANIES = ["N-1BN-A", "N-1BN-B", "N-1BN-C", "N-1BN-D"]


def roster_rows(count: int, prefix: str, rng: random.Random) -> list[list]:
    today = date.today()
    rows = []
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        status = rng.choices(["active", "applicant", "suspended"], weights=[85, 10, 5])[0]
        vetted = today + timedelta(days=rng.randint(30, 700)) if status != "applicant" else None
        rows.append([
            f"{prefix}-{number:05d}", first, last, f"+38050{rng.randint(1000000, 9999999)}",
            f"{first}.{last}{number}@example.org".lower(), rng.choice(COMPANIES), status,
            rng.choice(["yes", "no", "no"]), vetted, today - timedelta(days=rng.randint(0, 1500)),
        ])  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[list]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        writer.writerows([[value.isoformat() if isinstance(value, date) else value for value in row] for row in rows])


def write_xlsx(path: Path, rows: list[list]) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("roster")
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(row)  # real Excel dates, as a spreadsheet saves them
    book.save(path)


def reference_insert(path: Path, table: str) -> float:
    """csv.reader + one executemany INSERT of the same rows into a scratch table: the floor."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, member_no TEXT UNIQUE, first_name TEXT, "
            "last_name TEXT, phone TEXT, email TEXT, unit_code TEXT, status TEXT, is_veteran TEXT, "
            "vetting_valid_until TEXT, joined_on TEXT)"
        )
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        next(reader)
        rows = list(reader)
    names = ", ".join(COLUMNS)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(insert, rows)
    return time.perf_counter() - started


def muster_import(path: Path, actor: str) -> float:
    from django.core.management import call_command

    out = io.StringIO()
    started = time.perf_counter()
    call_command("import", "members", str(path), "--as", actor, stdout=out, stderr=out)
    elapsed = time.perf_counter() - started
    if not out.getvalue().startswith("imported "):
        sys.exit(f"the import failed: {out.getvalue()}")
    return elapsed


def set_up_battalion() -> str:
    from muster.members.models import Account, Role, RoleAssignment, Unit

    battalion = Unit.objects.create(code="N-1BN", name="1st Battalion", kind=Unit.Kind.BATTALION)
    for code in COMPANIES:
        Unit.objects.create(code=code, name=f"{code[-1]} Company", kind=Unit.Kind.COMPANY, parent=battalion)
    commander = Account.objects.create_user("bench-commander", password=None)
    RoleAssignment.objects.create(account=commander, unit=battalion, role=Role.COMMANDER)
    return commander.username


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=GOAL_MEMBERS, help="members per file (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each import; the best counts (default 3)")
    parser.add_argument("--profile", action="store_true", help="profile the CSV import with pyinstrument")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="muster-bench-"))
    os.environ["MUSTER_VAR_DIR"] = str(workdir)
    os.environ.pop("DATABASE_URL", None)  # always a throwaway SQLite database
    os.environ["MUSTER_DEBUG"] = "false"  # as on a server: Django keeps no log of every query
    os.environ["DJANGO_SETTINGS_MODULE"] = "muster.settings"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        actor = set_up_battalion()
        rng = random.Random(1042)
        floor, csv_time, xlsx_time = [], [], []
        profiler = None
        for run in range(1, options.repeat + 1):
            # New member numbers each run, so every run imports into the same, growing roster.
            csv_path, xlsx_path = workdir / f"roster-{run}.csv", workdir / f"roster-{run}.xlsx"
            write_csv(csv_path, roster_rows(options.members, f"C{run}", rng))
            write_xlsx(xlsx_path, roster_rows(options.members, f"X{run}", rng))
            floor.append(reference_insert(csv_path, f"bench_member_{run}"))
            if options.profile and run == 1:
                from pyinstrument import Profiler

                profiler = Profiler()
                profiler.start()
            csv_time.append(muster_import(csv_path, actor))
            if profiler is not None and run == 1:
                profiler.stop()
            xlsx_time.append(muster_import(xlsx_path, actor))
        floor, csv_best, xlsx_best = min(floor), min(csv_time), min(xlsx_time)

        print(
            f"{options.members} members per file, SQLite, Django {django.get_version()}, Python "
            f"{sys.version.split()[0]}; best of {options.repeat} runs (all runs: CSV "
            f"{', '.join(f'{t:.2f}' for t in csv_time)} s; XLSX {', '.join(f'{t:.2f}' for t in xlsx_time)} s)"
        )
        print(f"{'':44}{'seconds':>9}{'vs reference':>15}")
        print(f"{'reference: csv.reader + executemany INSERT':44}{floor:9.3f}{'1×':>15}")
        for label, seconds in (("muster import members (CSV)", csv_best), ("muster import members (XLSX)", xlsx_best)):
            print(f"{label:44}{seconds:9.3f}{f'{seconds / floor:.0f}×':>15}")
        limit = GOAL_SECONDS * options.members / GOAL_MEMBERS
        met = max(csv_best, xlsx_best) < limit
        print(f"goal: {options.members} members under {limit:.1f} s per file: {'met' if met else 'MISSED'}")
        if profiler is not None:
            print(profiler.output_text(unicode=True, color=False))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
