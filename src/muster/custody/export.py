"""`muster ledger export`: the whole ledger as JSON Lines, in the format docs/ledger.md specifies.

Line 1 is a header; every further line is one event: exactly the object whose canonical encoding is hashed, plus
its "hash". tools/verify_ledger.py reads this format with the standard library only.
"""

import json
from collections.abc import Callable
from typing import TextIO

from muster.custody.ledger import event_fields, holder_ref, iter_events
from muster.custody.models import LedgerHead

FORMAT = "muster-ledger-export"
VERSION = 1


def export(out: TextIO, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
    """Write the ledger to `out`; return (events written, head hash)."""
    size, head = LedgerHead.objects.values_list("seq", "hash").get(pk=1)
    out.write(json.dumps({"format": FORMAT, "v": VERSION, "events": size, "head_hash": head}) + "\n")
    written, last_hash = 0, head if size == 0 else None
    for row in iter_events():
        seq, recorded_at, kind, item_id, item_version, fk, fa, fm, tk, ta, tm = row[:11]
        actor_id, reason, due_at, data, prev_hash, stored_hash, lot_id, quantity = row[11:]
        if seq > size:  # appended after the header was written: leave for the next export
            break
        fields = event_fields(
            seq=seq,
            recorded_at=recorded_at,
            kind=kind,
            item_id=item_id,
            item_version=item_version,
            from_ref=holder_ref(fk, fa, fm),
            to_ref=holder_ref(tk, ta, tm),
            actor_id=actor_id,
            reason=reason,
            due_at=due_at,
            data=data,
            prev_hash=prev_hash,
            lot_id=lot_id,
            quantity=quantity,
        )
        fields["hash"] = stored_hash
        out.write(json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n")
        written, last_hash = written + 1, stored_hash
        if progress:
            progress(1)
    return written, last_hash or head
