"""`muster restore FILE`: replace the database with a backup, then verify the ledger."""

from pathlib import Path

from django.core.management.base import CommandError

from muster.core import backup
from muster.core.cli import MusterCommand
from muster.custody import ledger


class Command(MusterCommand):
    help = "Replace the database's contents with the backup in FILE, then verify the ledger. Stop the server first."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, **options):
        if not options["yes"]:
            if not self.stdin_is_tty():
                raise CommandError("Restoring replaces every record; confirm with --yes.", returncode=2)
            answer = input(f"Replace the whole database with {options['file']}? Type 'restore' to go on: ")
            if answer.strip() != "restore":
                raise CommandError("Not restored.", returncode=2)
        self.run(lambda: backup.restore(options["file"]))
        result = ledger.verify()
        if not result.ok:
            raise CommandError(f"restored, but {result.summary()}", returncode=1)
        self.stdout.write(f"restored from {options['file']}; {result.summary()}")

    @staticmethod
    def stdin_is_tty() -> bool:
        import sys

        return sys.stdin.isatty()
