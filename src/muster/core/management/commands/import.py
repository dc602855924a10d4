"""`muster import KIND FILE --as USERNAME`: load units, armories, members, items or training records from a CSV or
XLSX file, all or nothing."""

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
    "training": "muster.training.imports.TrainingImporter",
}


class Command(MusterCommand):
    help = (
        "Import a CSV or XLSX file of units, armories, members, items or training records. Every row is checked; "
        "if any is bad, nothing is imported and every bad row is listed (exit 1). --template prints the header row "
        "to start a file from."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=list(IMPORTERS), help="what the file holds")
        parser.add_argument(
            "file", nargs="?", help="the file: .csv (UTF-8, header line first) or .xlsx (first sheet, header in row 1)"
        )
        parser.add_argument("--template", action="store_true", help="print the header row for KIND and exit")
        self.add_actor_argument(parser)

    def handle(self, *args, **options) -> None:
        importer_class = import_string(IMPORTERS[options["kind"]])
        if options["template"]:
            self.stdout.write(csvimport.template(importer_class))
            return
        if not options["file"]:
            raise CommandError("Name the file to import, .csv or .xlsx (or use --template).", returncode=2)
        actor = self.actor(options)
        count = self.run(lambda: self._import(importer_class(actor), options["file"]))
        self.stdout.write(f"imported {count} {importer_class.noun or importer_class.kind}")

    def _import(self, importer: csvimport.Importer, path: str) -> int:
        try:
            return csvimport.run(importer, path)
        except csvimport.ImportFailed as failure:
            for error in failure.errors:
                self.stderr.write(str(error))
            raise
