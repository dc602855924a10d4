"""`muster import KIND FILE --as USERNAME`: load units, armories, members or items from a CSV file, all or nothing."""

from django.core.management.base import CommandError
from django.utils.module_loading import import_string

from muster.core import csvimport
from muster.core.cli import MusterCommand

# Looked up lazily by dotted path so that core does not import the apps above it.
IMPORTERS = {
    "units": "muster.members.imports.UnitImporter",
    "armories": "muster.custody.imports.ArmoryImporter",
    "members": "muster.members.imports.MemberImporter",
    "items": "muster.custody.imports.ItemImporter",
}


class Command(MusterCommand):
    help = (
        "Import a CSV file of units, armories, members or items. Every row is checked; if any is bad, nothing is "
        "imported and every bad row is listed (exit 1). --template prints the header row to start a file from."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=list(IMPORTERS), help="what the file holds")
        parser.add_argument("file", nargs="?", help="the CSV file (UTF-8, header row first)")
        parser.add_argument("--template", action="store_true", help="print the header row for KIND and exit")
        self.add_actor_argument(parser)

    def handle(self, *args, **options) -> None:
        importer_class = import_string(IMPORTERS[options["kind"]])
        if options["template"]:
            self.stdout.write(csvimport.template(importer_class))
            return
        if not options["file"]:
            raise CommandError("Name the CSV file to import (or use --template).", returncode=2)
        actor = self.actor(options)
        count = self.run(lambda: self._import(importer_class(actor), options["file"]))
        self.stdout.write(f"imported {count} {options['kind']}")

    def _import(self, importer: csvimport.Importer, path: str) -> int:
        try:
            return csvimport.run(importer, path)
        except csvimport.ImportFailed as failure:
            for error in failure.errors:
                self.stderr.write(str(error))
            raise
