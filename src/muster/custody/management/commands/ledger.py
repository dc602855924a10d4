"""`muster ledger verify|export|checkpoint|keygen|public-key`: prove the custody ledger is whole."""

import sys
from pathlib import Path

from django.core.management.base import CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from muster.core.cli import MusterCommand
from muster.custody import checkpoints, ledger
from muster.custody.export import export

# Below this many events the work takes well under a second; a bar would only flicker.
PROGRESS_THRESHOLD = 20_000


class Command(MusterCommand):
    help = "Work with the custody ledger. `verify` exits 0 when the chain and the current holdings agree, else 1."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser("verify", help="recompute every hash and replay custody into holdings")
        verify.add_argument(
            "--checkpoint",
            type=Path,
            metavar="FILE",
            help="also prove the history up to this signed checkpoint was not rewritten or truncated",
        )
        verify.add_argument(
            "--public-key",
            metavar="HEX_OR_FILE",
            help="the checkpoint must be signed by this Ed25519 public key (64 hex digits or a file); "
            "default: this server's own key",
        )
        self._progress_option(verify)
        out = actions.add_parser("export", help="write the ledger as JSON Lines (docs/ledger.md)")
        out.add_argument("file", type=Path, help="where to write ('-' for standard output)")
        self._progress_option(out)
        checkpoint = actions.add_parser("checkpoint", help="sign the ledger's current size and head hash")
        checkpoint.add_argument("--output", type=Path, metavar="FILE", help="also write the checkpoint to FILE")
        keygen = actions.add_parser("keygen", help="create the Ed25519 key that signs checkpoints")
        keygen.add_argument("--file", type=Path, help="where (default: MUSTER_LEDGER_KEY_FILE)")
        actions.add_parser("public-key", help="print the public key that verifies checkpoints")

    def _progress_option(self, parser) -> None:
        parser.add_argument(
            "--progress",
            choices=["auto", "always", "never"],
            default="auto",
            help="show a progress bar (auto: on a terminal, for ledgers of 20,000+ events)",
        )

    def handle(self, *args, **options):
        action = options["action"]
        if action == "verify":
            self.verify(options)
        elif action == "export":
            self.export(options)
        elif action == "checkpoint":
            checkpoint = self.run(checkpoints.make_checkpoint)
            self.stdout.write(
                f"checkpoint: {checkpoint.size} events, head {checkpoint.head_hash}, key {checkpoint.key_id}"
            )
            if options["output"]:
                checkpoints.write_file(checkpoint, options["output"])
                self.stdout.write(f"written to {options['output']}; keep a copy off this server")
        elif action == "keygen":
            path = self.run(lambda: checkpoints.generate_key(options["file"]))
            public = checkpoints.public_key_hex(checkpoints.load_private_key(path).public_key())
            self.stdout.write(f"signing key written to {path} (keep it secret, back it up apart from the database)")
            self.stdout.write(f"public key: {public}")
        elif action == "public-key":
            key = self.run(checkpoints.load_private_key)
            self.stdout.write(checkpoints.public_key_hex(key.public_key()))

    def _bar(self, mode: str, total: int):
        show = mode == "always" or (mode == "auto" and total >= PROGRESS_THRESHOLD and sys.stderr.isatty())
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        return Progress(*columns, transient=True, disable=not show)

    def _advance(self, bar: Progress, task):
        pending = 0

        def advance(step: int) -> None:
            nonlocal pending
            pending += step
            if pending >= 5000:
                bar.advance(task, pending)
                pending = 0

        return advance

    def verify(self, options: dict) -> None:
        total = ledger.event_count()
        with self._bar(options["progress"], total) as bar:
            result = ledger.verify(progress=self._advance(bar, bar.add_task("verifying", total=total)))
        if not result.ok:
            raise CommandError(result.summary(), returncode=1)
        summary = result.summary()
        if options["checkpoint"]:
            document = self.run(lambda: checkpoints.read_file(options["checkpoint"]))
            trusted = self.run(lambda: checkpoints.trusted_key(options["public_key"]))
            outcome = checkpoints.check(document, trusted_public_hex=trusted)
            if not outcome.ok:
                raise CommandError(f"ledger BROKEN against checkpoint: {outcome.message}", returncode=1)
            summary += f"; {outcome.message}"
        self.stdout.write(summary)

    def export(self, options: dict) -> None:
        total = ledger.event_count()
        target = options["file"]
        with self._bar(options["progress"], total) as bar:
            advance = self._advance(bar, bar.add_task("exporting", total=total))
            if str(target) == "-":
                written, head = export(self.stdout._out, advance)
            else:
                with target.open("w", encoding="utf-8") as handle:
                    written, head = export(handle, advance)
        if str(target) != "-":
            self.stdout.write(f"exported {written} events to {target}, head {head}")
