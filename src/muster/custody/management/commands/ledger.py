"""`muster ledger verify`: recompute the hash chain, replay custody and compare it with the current state."""

import sys

from django.core.management.base import CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from muster.core.cli import MusterCommand
from muster.custody import ledger

# Below this many events the check takes well under a second; a bar would only flicker.
PROGRESS_THRESHOLD = 20_000


class Command(MusterCommand):
    help = "Work with the custody ledger. `verify` exits 0 when the chain and the current holdings agree, else 1."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser("verify", help="recompute every hash and replay custody into holdings")
        verify.add_argument(
            "--progress",
            choices=["auto", "always", "never"],
            default="auto",
            help="show a progress bar (auto: on a terminal, for ledgers of 20,000+ events)",
        )

    def handle(self, *args, **options):
        if options["action"] == "verify":
            self.verify(options["progress"])

    def verify(self, progress_mode: str) -> None:
        total = ledger.event_count()
        show = progress_mode == "always" or (
            progress_mode == "auto" and total >= PROGRESS_THRESHOLD and sys.stderr.isatty()
        )
        if show:
            columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            with Progress(*columns, transient=True) as bar:
                task = bar.add_task("verify", total=total)
                pending = 0

                def advance(step: int) -> None:
                    nonlocal pending
                    pending += step
                    if pending >= 5000:
                        bar.advance(task, pending)
                        pending = 0

                result = ledger.verify(progress=advance)
        else:
            result = ledger.verify()
        if not result.ok:
            raise CommandError(result.summary(), returncode=1)
        self.stdout.write(result.summary())
