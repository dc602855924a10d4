"""The custody ledger: canonical encoding, hashing, appending and verification.

docs/ledger.md is the specification; keep the two in step. The encoding is deliberately plain (sorted-key JSON of
strings, integers and nulls) so that a verifier in any language can recompute every hash from an export.
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone

from muster.core import webhooks
from muster.custody import codec, tallies
from muster.custody.models import HolderKind, Item, LedgerEvent, LedgerHead

GENESIS_HASH = "0" * 64
ENCODING_VERSION = 1


def holder_ref(kind: str | None, armory_id: int | None, member_id: int | None) -> str | None:
    if kind is None:
        return None
    return f"{kind}:{armory_id if kind == HolderKind.ARMORY else member_id}"


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_fields(
    *,
    seq: int,
    recorded_at: datetime,
    kind: str,
    item_id: int | None,
    item_version: int,
    from_ref: str | None,
    to_ref: str | None,
    actor_id: int,
    reason: str,
    due_at: datetime | None,
    data: dict,
    prev_hash: str,
    lot_id: int | None = None,
    quantity: int | None = None,
) -> dict:
    fields = {
        "v": ENCODING_VERSION,
        "seq": seq,
        "recorded_at": format_time(recorded_at),
        "kind": kind,
        "item": item_id,
        "item_version": item_version,
        "from": from_ref,
        "to": to_ref,
        "actor": actor_id,
        "reason": reason,
        "due_at": format_time(due_at),
        "data": data,
        "prev_hash": prev_hash,
    }
    if lot_id is not None:  # lot events only: an item event's encoding is unchanged since the first release
        fields["lot"] = lot_id
        fields["quantity"] = quantity
    return fields


def compute_hash(fields: dict) -> str:
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def _check_data(value, path="data") -> None:
    """Only JSON values with one canonical spelling may enter the hash: no floats."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path} has a non-string key {key!r}")
            _check_data(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_data(inner, f"{path}[{index}]")
    elif not (value is None or isinstance(value, (str, bool, int))):
        raise TypeError(f"{path} holds a {type(value).__name__}; ledger data takes strings, integers, booleans")


def append(
    *,
    kind: str,
    item: Item,
    to_kind: str,
    to_armory_id: int | None = None,
    to_member_id: int | None = None,
    actor_id: int,
    reason: str = "",
    due_at: datetime | None = None,
    data: dict | None = None,
) -> LedgerEvent:
    """Append one event moving `item` from its current holder to the given one, and update the item to match.

    Must run inside the caller's transaction, after the caller locked the item row. Locks the ledger head.
    """
    if item.custody_version == 0:
        source = (None, None, None)
    else:
        source = (item.holder_kind, item.holder_armory_id, item.holder_member_id)
    event = _write(
        kind=kind,
        subject={"item": item},
        version=item.custody_version + 1,
        source=source,
        target=(to_kind, to_armory_id, to_member_id),
        actor_id=actor_id,
        reason=reason,
        due_at=due_at,
        data=data,
        webhook={"item": item.pk, "serial_number": item.serial_number},
    )
    item.holder_kind = to_kind
    item.holder_armory_id = to_armory_id
    item.holder_member_id = to_member_id
    item.due_at = due_at if to_kind == HolderKind.MEMBER else None
    item.custody_version += 1
    item.save(update_fields=["holder_kind", "holder_armory", "holder_member", "due_at", "custody_version"])
    return event


Holder = tuple[str | None, int | None, int | None]  # (kind, armory id, member id); (None, None, None) is "no holder"
NOBODY: Holder = (None, None, None)


def append_lot(
    *,
    kind: str,
    lot,
    quantity: int,
    source: Holder,
    target: Holder,
    actor_id: int,
    reason: str = "",
    due_at: datetime | None = None,
    data: dict | None = None,
) -> LedgerEvent:
    """Append one event moving `quantity` of `lot` from `source` to `target` (either may be NOBODY: a delivery
    comes from outside the books, an expended or lost quantity leaves them). The caller locked the lot row and
    moves the balances (custody.lot_balances); this bumps the lot's version."""
    event = _write(
        kind=kind,
        subject={"lot": lot, "quantity": quantity},
        version=lot.version + 1,
        source=source,
        target=target,
        actor_id=actor_id,
        reason=reason,
        due_at=due_at,
        data=data,
        webhook={"lot": lot.pk, "lot_number": lot.lot_number, "quantity": quantity},
    )
    lot.version += 1
    lot.save(update_fields=["version"])
    return event


def _write(*, kind, subject, version, source, target, actor_id, reason, due_at, data, webhook) -> LedgerEvent:
    """Chain one event onto the head: the shared body of append and append_lot."""
    data = data or {}
    _check_data(data)
    head = LedgerHead.objects.select_for_update().get(pk=1)
    seq = head.seq + 1
    recorded_at = timezone.now()
    lot = subject.get("lot")
    item = subject.get("item")
    fields = event_fields(
        seq=seq,
        recorded_at=recorded_at,
        kind=kind,
        item_id=item.pk if item else None,
        item_version=version,
        from_ref=holder_ref(*source),
        to_ref=holder_ref(*target),
        actor_id=actor_id,
        reason=reason,
        due_at=due_at,
        data=data,
        prev_hash=head.hash,
        lot_id=lot.pk if lot else None,
        quantity=subject.get("quantity"),
    )
    event = LedgerEvent.objects.create(
        seq=seq,
        recorded_at=recorded_at,
        kind=kind,
        item=item,
        lot=lot,
        quantity=subject.get("quantity"),
        item_version=version,
        from_kind=source[0],
        from_armory_id=source[1],
        from_member_id=source[2],
        to_kind=target[0],
        to_armory_id=target[1],
        to_member_id=target[2],
        actor_id=actor_id,
        reason=reason,
        due_at=due_at,
        data=data,
        prev_hash=head.hash,
        hash=compute_hash(fields),
    )
    LedgerHead.objects.filter(pk=1).update(seq=seq, hash=event.hash)
    webhooks.emit(
        f"custody.{kind}",
        {
            "seq": seq,
            "kind": kind,
            **webhook,
            "from": fields["from"],
            "to": fields["to"],
            "actor": actor_id,
            "recorded_at": fields["recorded_at"],
            "due_at": fields["due_at"],
            "hash": event.hash,
        },
    )
    return event


# --- verification ------------------------------------------------------------------------------------------

_ROW_FIELDS = (
    "seq",
    "recorded_at",
    "kind",
    "item_id",
    "item_version",
    "from_kind",
    "from_armory_id",
    "from_member_id",
    "to_kind",
    "to_armory_id",
    "to_member_id",
    "actor_id",
    "reason",
    "due_at",
    "data",
    "prev_hash",
    "hash",
    "lot_id",
    "quantity",
)


@dataclass
class VerifyResult:
    ok: bool
    events: int
    head_hash: str
    items: int = 0
    bad_seq: int | None = None
    problem: str = ""

    def summary(self) -> str:
        if self.ok:
            return f"ledger ok: {self.events} events checked, {self.items} items match, head {self.head_hash}"
        where = f"at sequence {self.bad_seq}" if self.bad_seq is not None else "in current state"
        return f"ledger BROKEN {where}: {self.problem}"


def iter_events(batch: int = 5000) -> Iterator[tuple]:
    """All ledger rows in sequence order, read in keyset batches so memory stays flat on huge ledgers."""
    last = 0
    while True:
        rows = list(LedgerEvent.objects.filter(seq__gt=last).order_by("seq").values_list(*_ROW_FIELDS)[:batch])
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def verify(progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Recompute the hash chain, replay the events into holdings and lot balances, and compare them with the
    items and lot balance tables."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    holdings: dict[int, tuple[str, int, int]] = {}  # item id -> (holder ref, version, seq of its last event)
    lots = LotReplay()

    def broken(bad_seq: int | None, problem: str, items: int = 0) -> VerifyResult:
        return VerifyResult(False, expected_seq - 1, prev_hash, items=items, bad_seq=bad_seq, problem=problem)

    sha256 = hashlib.sha256
    for (
        seq,
        recorded,
        kind,
        item_id,
        item_version,
        from_ref,
        to_ref,
        actor,
        reason,
        due,
        data,
        stored_prev,
        stored_hash,
        lot_id,
        quantity,
    ) in codec.rows():
        if progress:
            progress(1)
        if seq != expected_seq:
            return broken(min(seq, expected_seq), f"sequence gap: expected {expected_seq}, found {seq}")
        if stored_prev != prev_hash:
            return broken(seq, "prev_hash does not match the hash of the event before it")
        encoded = codec.encode(
            seq,
            recorded,
            kind,
            item_id,
            item_version,
            from_ref,
            to_ref,
            actor,
            reason,
            due,
            data,
            stored_prev,
            lot_id,
            quantity,
        )
        if sha256(encoded).hexdigest() != stored_hash:
            return broken(seq, "hash does not match the event's contents (the row was altered)")
        if lot_id is not None:
            problem = lots.apply(seq, lot_id, item_version, from_ref, to_ref, quantity)
            if problem:
                return broken(seq, problem)
        else:
            current_ref, current_version, _ = holdings.get(item_id, (None, 0, 0))
            if item_version != current_version + 1:
                return broken(seq, f"item {item_id}: version {item_version} follows version {current_version}")
            if from_ref != current_ref:
                return broken(seq, f"item {item_id}: moved from {from_ref} but was held by {current_ref}")
            holdings[item_id] = (to_ref, item_version, seq)
        prev_hash = stored_hash
        expected_seq = seq + 1
    events = expected_seq - 1

    head = LedgerHead.objects.filter(pk=1).values_list("seq", "hash").first()
    if head is not None and head != (events, prev_hash):
        return broken(
            events + 1 if head[0] > events else None,
            f"the ledger head says {head[0]} events, "
            f"the ledger holds {events} (rows were deleted or the head was altered)",
        )

    items = 0
    state = Item.objects.order_by("pk").values_list(
        "pk", "holder_kind", "holder_armory_id", "holder_member_id", "custody_version"
    )
    for pk, kind, armory_id, member_id, version in state.iterator(chunk_size=5000):
        items += 1
        replayed = holdings.pop(pk, None)
        actual = holder_ref(kind, armory_id, member_id)
        if replayed is None:
            return broken(None, f"item {pk} is held by {actual} but has no ledger events", items)
        if replayed[0] != actual or replayed[1] != version:
            return broken(
                replayed[2],
                f"item {pk} is held by {actual} (version {version}) but the ledger says "
                f"{replayed[0]} (version {replayed[1]})",
                items,
            )
    if holdings:
        missing = next(iter(holdings))
        return broken(holdings[missing][2], f"item {missing} has ledger events but no longer exists", items)
    problem = lots.compare_with_tables() or tallies.drift()
    if problem:
        return broken(None, problem, items)
    return VerifyResult(True, events, prev_hash, items=items)


class LotReplay:
    """Lot balances rebuilt from lot events: each lot's versions run 1, 2, 3…; no holder ever gives more than it
    holds; at the end the sums must equal the lot balance table and each lot's version."""

    def __init__(self):
        self.versions: dict[int, int] = {}
        self.balances: dict[tuple[int, str], int] = {}

    def apply(self, seq, lot_id, version, from_ref, to_ref, quantity) -> str:
        current = self.versions.get(lot_id, 0)
        if version != current + 1:
            return f"lot {lot_id}: version {version} follows version {current}"
        if from_ref is not None:
            held = self.balances.get((lot_id, from_ref), 0)
            if quantity > held:
                return f"lot {lot_id}: {from_ref} gave {quantity} but held {held}"
            self.balances[(lot_id, from_ref)] = held - quantity
        if to_ref is not None:
            self.balances[(lot_id, to_ref)] = self.balances.get((lot_id, to_ref), 0) + quantity
        self.versions[lot_id] = version
        return ""

    def compare_with_tables(self) -> str:
        from muster.custody.lot_models import Lot, LotBalance

        stored = {
            (lot_id, holder_ref(kind, armory_id, member_id)): quantity
            for lot_id, kind, armory_id, member_id, quantity in LotBalance.objects.filter(quantity__gt=0).values_list(
                "lot_id", "holder_kind", "holder_armory_id", "holder_member_id", "quantity"
            )
        }
        replayed = {key: quantity for key, quantity in self.balances.items() if quantity}
        for key in sorted(set(stored) | set(replayed)):
            if stored.get(key, 0) != replayed.get(key, 0):
                return f"lot {key[0]}: {key[1]} holds {stored.get(key, 0)} but the ledger says {replayed.get(key, 0)}"
        for lot_id, version in Lot.objects.values_list("pk", "version"):
            if self.versions.get(lot_id, 0) != version:
                return f"lot {lot_id} is at version {version} but the ledger says {self.versions.get(lot_id, 0)}"
        return ""


def event_count() -> int:
    head = LedgerHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    return head or 0
