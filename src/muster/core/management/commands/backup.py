"""`muster backup FILE`: a consistent copy of the database while the server runs."""

from pathlib import Path

from muster.core import backup
from muster.core.cli import MusterCommand
from muster.custody import ledger


class Command(MusterCommand):
    help = "Copy the whole database to FILE (SQLite online backup, or pg_dump on PostgreSQL), safely while it runs."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options):
        self.run(lambda: backup.backup(options["file"]))
        self.stdout.write(f"backed up to {options['file']}: ledger of {ledger.event_count()} events")
