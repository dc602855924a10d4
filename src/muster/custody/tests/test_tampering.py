"""Random tampering of the ledger in the database — the insider with database access. Every kind is detected:
field edits, deletions, insertions and swaps by `verify`; a truncated tail and a rewrite that recomputes every later
hash by verifying against a signed checkpoint. MUSTER_TAMPER_TRIALS sets the number of trials (default 1000)."""

import os
import random
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction

from muster.custody import checkpoints, ledger, services, triggers
from muster.custody.models import Item, LedgerEvent, LedgerHead
from muster.custody.testing import make_item
from muster.members.models import Account, Member

pytestmark = pytest.mark.django_db
TRIALS = int(os.environ.get("MUSTER_TAMPER_TRIALS", "1000"))


class Undo(Exception):
    """Raised to roll a trial's savepoint back."""


def _hash_of(row: LedgerEvent, prev_hash: str) -> str:
    return ledger.compute_hash(
        ledger.event_fields(
            seq=row.seq,
            recorded_at=row.recorded_at,
            kind=row.kind,
            item_id=row.item_id,
            item_version=row.item_version,
            from_ref=ledger.holder_ref(row.from_kind, row.from_armory_id, row.from_member_id),
            to_ref=ledger.holder_ref(row.to_kind, row.to_armory_id, row.to_member_id),
            actor_id=row.actor_id,
            reason=row.reason,
            due_at=row.due_at,
            data=row.data,
            prev_hash=prev_hash,
        )
    )


def edit_field(rng, size):
    row = LedgerEvent.objects.get(seq=rng.randint(1, size))
    field = rng.choice(["reason", "recorded_at", "due_at", "actor", "data", "hash", "prev_hash", "to_member"])
    if field == "reason":
        row.reason += " (amended)"
    elif field == "recorded_at":
        row.recorded_at += timedelta(microseconds=rng.randint(1, 10**9))
    elif field == "due_at":
        row.due_at = (row.due_at or row.recorded_at) + timedelta(hours=rng.randint(1, 99))
    elif field == "actor":
        row.actor = Account.objects.exclude(pk=row.actor_id).order_by("?").first()
    elif field == "data":
        row.data = {"note": "inserted later"}
    elif field == "hash":
        row.hash = f"{rng.getrandbits(256):064x}"
    elif field == "prev_hash":
        row.prev_hash = f"{rng.getrandbits(256):064x}"
    elif row.to_kind == "member":
        row.to_member = Member.objects.exclude(pk=row.to_member_id).order_by("?").first()
    else:
        row.reason = "moved elsewhere"
    row.save()


def delete_row(rng, size):
    LedgerEvent.objects.filter(seq=rng.randint(1, size)).delete()


def insert_row(rng, size):
    last = LedgerEvent.objects.get(seq=size)
    forged = LedgerEvent(
        seq=size + 1,
        recorded_at=last.recorded_at + timedelta(seconds=1),
        kind="return",
        item_id=last.item_id,
        item_version=last.item_version + 1,
        from_kind="member",
        from_member=Member.objects.first(),
        to_kind="armory",
        to_armory_id=Item.objects.get(pk=last.item_id).home_armory_id,
        actor_id=last.actor_id,
        reason="forged",
        due_at=None,
        data={},
        prev_hash=last.hash,
    )
    forged.hash = _hash_of(forged, last.hash)
    forged.save(force_insert=True)


def swap_rows(rng, size):
    """Exchange the contents of two events, each keeping its place in the sequence."""
    a, b = rng.sample(range(1, size + 1), 2)
    first, second = LedgerEvent.objects.get(seq=a), LedgerEvent.objects.get(seq=b)
    LedgerEvent.objects.filter(seq__in=[a, b]).delete()  # the unique (item, version) and hash allow no half-swap
    first.seq, second.seq = b, a
    LedgerEvent.objects.bulk_create([first, second])


def truncate_tail(rng, size):
    """Drop the last events and make everything else agree with the shorter ledger."""
    keep = rng.randint(size // 2, size - 1)
    LedgerEvent.objects.filter(seq__gt=keep).delete()
    _reconcile_items(keep)


def rewrite_and_rechain(rng, size):
    """Edit one event and recompute every later hash, so the chain is internally consistent again."""
    start = rng.randint(1, size)
    prev = LedgerEvent.objects.get(seq=start - 1).hash if start > 1 else ledger.GENESIS_HASH
    for row in LedgerEvent.objects.filter(seq__gte=start).order_by("seq"):
        if row.seq == start:
            row.reason = "nothing to see here"
        new_hash = _hash_of(row, prev)
        LedgerEvent.objects.filter(seq=row.seq).update(reason=row.reason, prev_hash=prev, hash=new_hash)
        prev = new_hash
    _reconcile_items(size)


def _reconcile_items(size):
    last = LedgerEvent.objects.get(seq=size)
    LedgerHead.objects.filter(pk=1).update(seq=size, hash=last.hash)
    for item in Item.objects.all():
        event = LedgerEvent.objects.filter(item=item).order_by("-seq").first()
        Item.objects.filter(pk=item.pk).update(
            holder_kind=event.to_kind,
            holder_armory_id=event.to_armory_id,
            holder_member_id=event.to_member_id,
            custody_version=event.item_version,
            due_at=event.due_at if event.to_kind == "member" else None,
        )


PLAIN = [edit_field, delete_row, insert_row, swap_rows]
NEEDS_CHECKPOINT = [truncate_tail, rewrite_and_rechain]


def test_every_random_tampering_is_detected(world, tmp_path, settings):
    settings.MUSTER_LEDGER_KEY_FILE = str(tmp_path / "key")
    checkpoints.generate_key()
    items = [make_item(world.armory_a, world.alice) for _ in range(6)]
    rng = random.Random(20261125)
    for _ in range(14):
        item = rng.choice(items)
        item.refresh_from_db()
        if item.holder_kind == "armory":
            services.issue(item=item, member=world.bob_member, actor=world.alice, reason="patrol")
        else:
            services.return_item(item=item, actor=world.alice)
    size = LedgerEvent.objects.count()
    document = checkpoints.to_document(
        checkpoints.make_checkpoint(), checkpoints.public_key_hex(checkpoints.load_private_key().public_key())
    )
    assert ledger.verify().ok and checkpoints.check(document, trusted_public_hex=document["public_key"]).ok

    triggers.uninstall(connection)  # the attacker's first step; rolled back with the test's transaction
    detected: Counter = Counter()
    for trial in range(TRIALS):
        tamper = rng.choice(PLAIN + NEEDS_CHECKPOINT)
        try:
            with transaction.atomic():
                tamper(rng, size)
                plain = ledger.verify()
                against_checkpoint = checkpoints.check(document, trusted_public_hex=document["public_key"])
                if tamper in PLAIN:
                    assert not plain.ok, f"trial {trial}: {tamper.__name__} went unnoticed by verify"
                else:
                    assert not against_checkpoint.ok, f"trial {trial}: {tamper.__name__} passed the checkpoint"
                detected[tamper.__name__] += 1
                raise Undo
        except Undo:
            pass
    triggers.install(connection)
    assert sum(detected.values()) == TRIALS
    assert set(detected) == {tamper.__name__ for tamper in PLAIN + NEEDS_CHECKPOINT}
    assert ledger.verify().ok
