"""`muster seed`: a large, realistic data set through bulk paths, for benchmarks and load tests."""

import time

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from muster import seed
from muster.custody import ledger


class Command(BaseCommand):
    help = (
        "Fill an EMPTY database (after `muster migrate`) with N members, M items and a ledger of E events whose "
        "hashes are correct. Bulk inserts (COPY on PostgreSQL); the ledger triggers are off during the load only. "
        "For benchmarks: the demo (`muster demo`) is the realistic small unit."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=300_000)
        parser.add_argument("--items", type=int, default=1_000_000)
        parser.add_argument("--events", type=int, default=10_000_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--no-verify", action="store_true", help="skip the final `ledger verify`")

    def handle(self, *args, **options):
        for name in ("members", "items", "events"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.", returncode=2)
        started = time.monotonic()
        columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns) as bar:
            tasks: dict[str, int] = {}

            def progress(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    tasks[what] = bar.add_task(what, total=total)
                bar.update(tasks[what], completed=done)

            try:
                result = seed.seed(
                    members=options["members"],
                    items=options["items"],
                    events=options["events"],
                    seed=options["seed"],
                    progress=progress,
                )
            except ValueError as exc:
                raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(
            f"seeded {result.units} units, {result.members} members, {result.items} items, {result.events} events "
            f"in {time.monotonic() - started:.0f} s; head {result.head_hash}"
        )
        if not options["no_verify"]:
            check = ledger.verify()
            if not check.ok:
                raise CommandError(check.summary(), returncode=1)
            self.stdout.write(check.summary())
