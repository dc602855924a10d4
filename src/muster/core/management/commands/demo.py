"""`muster demo`: fill an empty database with a demo volunteer defense unit and print its accounts."""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from muster import demo
from muster.members.models import Member, Unit


class Command(BaseCommand):
    help = (
        "Fill an empty database (after `muster migrate`) with a demo unit: a region, battalions, companies, "
        "platoons and posts, members, armories, items registered and issued through the custody ledger, and one "
        f"account per role (password {demo.DEMO_PASSWORD!r}). Development mode only. Refuses a database that "
        "already holds members."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members",
            type=int,
            default=demo.DEFAULT_MEMBERS,
            metavar="N",
            help=f"how many members to create (default {demo.DEFAULT_MEMBERS}, at least {demo.MIN_MEMBERS})",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=demo.DEFAULT_SEED,
            metavar="S",
            help=f"random seed; the same seed on the same day gives the same data (default {demo.DEFAULT_SEED})",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="when the database already holds members, print the demo accounts and exit 0 instead of refusing",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="start over: delete the SQLite database file, migrate again, then seed. Only on SQLite and only "
            "when the database holds a previous demo. The custody ledger is append-only (database triggers refuse "
            "DELETE) and the demo never switches that off; it replaces the whole file instead. On PostgreSQL, "
            "drop and create the database, run `muster migrate`, then `muster demo`. Stop a running server first.",
        )

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("The demo runs in development mode only (MUSTER_MODE=development).", returncode=1)
        if options["members"] < demo.MIN_MEMBERS:
            raise CommandError(f"--members must be at least {demo.MIN_MEMBERS}.", returncode=2)
        if Member._meta.db_table not in connection.introspection.table_names():
            raise CommandError("The database has no tables yet: run `muster migrate` first.", returncode=1)
        out = Console(file=self.stdout._out, highlight=False)
        if not out.is_terminal:  # piped or captured: wide enough that no password is cut
            out.width = 140
        if demo.database_has_members() and options["if_empty"] and not options["reset"]:
            out.print("The database already holds a unit; not seeding again (--reset starts over).")
            self.print_accounts(out, demo.existing_accounts())
            return
        if demo.database_has_members():
            if not options["reset"]:
                raise CommandError(
                    "This database already holds members; the demo fills an empty one only. To start the demo "
                    "over, run `muster demo --reset` (SQLite), or delete the database and run `muster migrate`.",
                    returncode=1,
                )
            self.reset()
        result = self.seed(options["members"], options["seed"])
        self.print_result(out, result)

    def reset(self) -> None:
        name = str(connection.settings_dict["NAME"])
        if connection.vendor != "sqlite":
            raise CommandError(
                "--reset works on SQLite only. On PostgreSQL, drop and create the database, run `muster migrate`, "
                "then `muster demo`.",
                returncode=1,
            )
        if not Unit.objects.filter(code=demo.REGION_CODE, name=demo.REGION_NAME).exists():
            raise CommandError(
                f"--reset replaces only a database that holds the demo, and {name} does not (no region "
                f"{demo.REGION_CODE!r}). Delete it yourself if you mean to.",
                returncode=1,
            )
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"--reset needs an SQLite database file; {name!r} is not one.", returncode=1)
        connections.close_all()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        self.stderr.write(f"Deleted {path} (the whole database, ledger included) and migrating again.")
        call_command("migrate", verbosity=0, interactive=False)

    def seed(self, members: int, seed: int) -> demo.DemoResult:
        err = Console(file=self.stderr._out)
        columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
            tasks: dict[str, int] = {}

            def progress(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    tasks[what] = bar.add_task(what, total=total)
                bar.update(tasks[what], completed=done, total=total)

            return demo.seed(members=members, seed=seed, progress=progress)

    def print_result(self, out: Console, result: demo.DemoResult) -> None:
        self.print_accounts(out, result.accounts)
        counts = Table(title="Created", title_justify="left")
        counts.add_column("what")
        counts.add_column("count", justify="right")
        for what, count in result.counts.items():
            counts.add_row(what, f"{count:,}")
        out.print(counts)
        out.print(result.ledger_summary)
        out.print(f"Seeded in {result.seconds:.1f} s. Log in with any account above (development mode only).")

    def print_accounts(self, out: Console, rows: list[demo.DemoAccount]) -> None:
        accounts = Table(title="Demo accounts", title_justify="left")
        for column in ("username", "password"):
            accounts.add_column(column, no_wrap=True)
        for column in ("role", "unit", "member"):
            accounts.add_column(column)
        for row in rows:
            accounts.add_row(
                row.username,
                demo.DEMO_PASSWORD,
                row.role,
                str(row.unit) if row.unit else "all units",
                row.member.full_name if row.member else "",
            )
        out.print(accounts)
        out.print(
            "Every member's handover PIN (typed at the counter to confirm an issue) is the last four digits "
            "of their member number, e.g. NR-00138 → 0138."
        )
        if settings.MUSTER_REQUIRE_TOTP:
            out.print(
                "Two-factor sign-in is on: commanders, armorers, auditors and admin set up an authenticator app at "
                "their first sign-in (MUSTER_REQUIRE_TOTP=false switches it off for a demo)."
            )
        else:
            out.print(
                "Two-factor sign-in is off for this demo (MUSTER_REQUIRE_TOTP=false); in production commanders, "
                "armorers, duty officers, auditors and superusers give a code from an authenticator app after their "
                "password."
            )
