"""Fast reading and canonical encoding of stored ledger rows, for verify and export over millions of events.

`encode` produces byte for byte what `ledger.canonical_bytes(ledger.event_fields(...))` produces (the
specification in docs/ledger.md), without building a dict and sorting its keys per event: the keys are written in
their sorted order. tests/test_codec.py checks the two agree on random values, unicode and escapes included.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC

from django.db import connection

from muster.custody.models import LedgerEvent

_PLAIN = re.compile(r"[ -!#-\[\]-~]*\Z")  # printable ASCII without '"' and '\': needs no JSON escaping
_SQL = (
    "SELECT seq, recorded_at, kind, item_id, item_version, from_kind, from_armory_id, from_member_id, to_kind, "
    "to_armory_id, to_member_id, actor_id, reason, due_at, data, prev_hash, hash, lot_id, quantity FROM {table} "
    "WHERE seq > %s ORDER BY seq LIMIT %s"
)


def _string(value: str) -> str:
    return f'"{value}"' if _PLAIN.match(value) else json.dumps(value, ensure_ascii=False)


def time_text(value) -> str | None:
    """A stored timestamp (datetime, or SQLite's 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC text) in canonical form."""
    if value is None:
        return None
    if isinstance(value, str):
        date_part, _, clock = value.partition(" ")
        if "+" in clock:  # an explicit +00:00 offset
            clock = clock.split("+", 1)[0]
        if "." not in clock:
            clock += ".000000"
        return f"{date_part}T{clock}Z"
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def data_text(value) -> str:
    if value is None or value == "{}" or value == {}:
        return "{}"
    if isinstance(value, str):
        value = json.loads(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def ref(kind: str | None, armory_id: int | None, member_id: int | None) -> str | None:
    if kind is None:
        return None
    return f"{kind}:{armory_id if kind == 'armory' else member_id}"


def encode(seq, recorded, kind, item, version, from_ref, to_ref, actor, reason, due, data, prev, lot=None, qty=None):
    """Canonical bytes of one event; `recorded`/`due` as time_text() gives them, `data` as data_text() does.
    A lot event (lot not None) has no item and carries "lot" and "quantity"; an item event has neither key."""
    lot_keys = "" if lot is None else f'"lot":{lot},'
    quantity_key = "" if lot is None else f'"quantity":{qty},'
    return (
        f'{{"actor":{actor},"data":{data},"due_at":{"null" if due is None else _string(due)},'
        f'"from":{"null" if from_ref is None else _string(from_ref)},"item":{"null" if item is None else item},'
        f'"item_version":{version},"kind":{_string(kind)},{lot_keys}"prev_hash":{_string(prev)},'
        f'{quantity_key}"reason":{_string(reason)},"recorded_at":{_string(recorded)},"seq":{seq},'
        f'"to":{"null" if to_ref is None else _string(to_ref)},"v":1}}'
    ).encode()


def rows(batch: int = 20_000) -> Iterator[tuple]:
    """(seq, recorded text, kind, item, version, from ref, to ref, actor, reason, due text, data text, prev, hash,
    lot, quantity) for every event in sequence order, read in keyset batches straight from the table."""
    sql = _SQL.format(table=LedgerEvent._meta.db_table)
    last = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [last, batch])
            fetched = cursor.fetchall()
            if not fetched:
                return
            for (
                seq,
                rec,
                kind,
                item,
                version,
                fk,
                fa,
                fm,
                tk,
                ta,
                tm,
                actor,
                reason,
                due,
                data,
                prev,
                digest,
                lot,
                quantity,
            ) in fetched:
                yield (
                    seq,
                    time_text(rec),
                    kind,
                    item,
                    version,
                    ref(fk, fa, fm),
                    ref(tk, ta, tm),
                    actor,
                    reason,
                    time_text(due),
                    data_text(data),
                    prev,
                    digest,
                    lot,
                    quantity,
                )
            last = fetched[-1][0]
