"""`muster ledger export`: the whole ledger as JSON Lines, in the format docs/ledger.md specifies.

Line 1 is a header; every further line is one event: exactly the object whose canonical encoding is hashed, plus
its "hash". tools/verify_ledger.py reads this format with the standard library only.
"""

import json
from collections.abc import Callable, Iterator
from typing import TextIO

from muster.custody.ledger import event_fields, holder_ref, iter_events
from muster.custody.models import LedgerHead

FORMAT = "muster-ledger-export"
VERSION = 1


def lines(progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """The export, line by line (each ends in a newline): the header, then every event up to the head the header
    names; events appended meanwhile are left for the next export."""
    size, head = LedgerHead.objects.values_list("seq", "hash").get(pk=1)
    yield json.dumps({"format": FORMAT, "v": VERSION, "events": size, "head_hash": head}) + "\n"
    for row in iter_events():
        seq, recorded_at, kind, item_id, item_version, fk, fa, fm, tk, ta, tm = row[:11]
        actor_id, reason, due_at, data, prev_hash, stored_hash, lot_id, quantity = row[11:]
        if seq > size:
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
        yield json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
        if progress:
            progress(1)


def export(out: TextIO, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
    """Write the ledger to `out`; return (events written, head hash)."""
    written, head = -1, ""
    for line in lines(progress):
        if written < 0:
            head = json.loads(line)["head_hash"]
        out.write(line)
        written += 1
    return written, head
