"""`muster export roster --as USERNAME`: the roster of the acting account's units with qualification expiries, as
CSV or XLSX. Personal data: the file is created readable by its owner only, and the export is logged."""

import os
from pathlib import Path

from django.core.management.base import CommandError

from muster.core import exports
from muster.core.cli import MusterCommand


class Command(MusterCommand):
    help = (
        "Export the roster of your units, one row per member with the latest expiry date of each qualification, "
        "as CSV (default) or XLSX. Needs a staff role; every export is logged."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("what", choices=["roster"], help="what to export")
        parser.add_argument("--unit", metavar="CODE", help="only this unit and the units below it")
        parser.add_argument(
            "--format", choices=list(exports.FORMATS), help="default: from --output's extension, else csv"
        )
        parser.add_argument(
            "--output", metavar="FILE", help="write to FILE (created mode 600); default: standard output"
        )
        parser.add_argument("--include-departed", action="store_true", help="also list members who have departed")
        self.add_actor_argument(parser)

    def handle(self, *args, **options) -> None:
        output = options["output"]
        file_format = options["format"] or ("xlsx" if output and Path(output).suffix.lower() == ".xlsx" else "csv")
        if file_format == "xlsx" and not output:
            raise CommandError("An XLSX export goes to a file: name it with --output FILE.", returncode=2)
        actor = self.actor(options)
        table = self.run(
            lambda: exports.roster(actor, unit_code=options["unit"], include_departed=options["include_departed"])
        )
        if not output:
            exports.deliver(table, actor=actor, file_format=file_format, stream=self.stdout, destination="stdout")
            return
        try:
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.", returncode=2) from None
        text = {"encoding": "utf-8", "newline": ""} if file_format == "csv" else {}
        with open(descriptor, "w" if text else "wb", **text) as stream:
            exports.deliver(table, actor=actor, file_format=file_format, stream=stream, destination=output)
        self.stdout.write(f"exported {len(table.rows)} members to {output}")
