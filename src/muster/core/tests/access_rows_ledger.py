"""Access rows for the ledger integrity pages (custody/urls_ledger.py).

Commanders and auditors read checkpoints (sizes and hashes, nothing about people) and sign one on demand; everyone
else is refused (403). The whole-ledger export holds every unit's events: only superusers and commanders and
auditors of a top unit get it, so in this world (dave and erin serve company A) everyone is refused. Without a
signing key in the test settings, the public key and a checkpoint's file answer 400/409 to readers ("O").
"""

from django.utils import timezone

from muster.core.tests.access_table import COMMANDERS_AUDITORS, Expect, row, url
from muster.custody.models import LedgerCheckpoint, LedgerHead

NOBODY_HERE = Expect("LFFFFF")

ROWS = [
    row("ledger-integrity", url("ledger-integrity"), GET=COMMANDERS_AUDITORS, POST=(COMMANDERS_AUDITORS, lambda o: {})),
    row("ledger-checkpoint-file", url("ledger-checkpoint-file", "checkpoint.pk"), GET=COMMANDERS_AUDITORS),
    row("ledger-public-key", url("ledger-public-key"), GET=COMMANDERS_AUDITORS),
    row("ledger-export", url("ledger-export"), GET=NOBODY_HERE),
]


def build(world, objects) -> None:
    head = LedgerHead.objects.get(pk=1)
    checkpoint = LedgerCheckpoint.objects.create(
        size=head.seq, head_hash=head.hash, created_at=timezone.now(), key_id="0" * 16, signature="0" * 128
    )
    for scope in ("own", "peer", "other"):
        objects[scope].checkpoint = checkpoint
