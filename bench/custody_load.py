"""Shared by the stress run and the crash trials: a world of items and members, one worker's custody operations
through the service layer, and the checks that the database is whole afterwards.

Workers are separate OS processes. Each one sets Django up on the database the parent prepared (the parent's
environment, set by common.database(), names it) and reports every acknowledged operation as
(seq, hash, kind, item id, to-holder), so the parent can prove none of them is missing from the ledger.
"""

import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

from common import ROOT

# Refusals that racing operations on shared items must produce, and nothing else may: the item moved between
# the worker's (unlocked) look at it and its locked operation. concurrent_change is the database's own guard.
# confirmation_wrong_member and transfer_to_holder are a transfer whose giver or receiver changed meanwhile.
EXPECTED_CODES = frozenset(
    {"item_not_in_armory", "item_not_issued", "concurrent_change", "confirmation_wrong_member", "transfer_to_holder"}
)

# Settings for every process: no PIN step (confirmations are signed directly, as handover.confirm would after a
# right PIN), no query log (DEBUG keeps every SQL statement), quiet start-up.
WORKER_ENVIRONMENT = {"MUSTER_REQUIRE_HANDOVER_PIN": "false", "MUSTER_DEBUG": "false", "MUSTER_LOG_LEVEL": "WARNING"}


def prepare_environment() -> None:
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def setup_django() -> None:
    """In a worker: the same database as the parent (its environment), already migrated."""
    prepare_environment()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muster.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def build_world(*, items: int, members: int, armorers: int) -> dict:
    """One unit, one armory, `armorers` armorer accounts (one per worker), `members` active vetted members and
    `items` registered items. Returns the ids as a JSON-able dict."""
    from muster.core.testing import make_member, make_unit
    from muster.custody.models import Armory
    from muster.custody.testing import make_item
    from muster.members.models import Account, Role, RoleAssignment

    unit = make_unit("LOAD")
    armory = Armory.objects.create(code="LOAD", name="Load armory", unit=unit)
    accounts = []
    for index in range(armorers):
        account = Account.objects.create_user(username=f"load-armorer-{index}", password=None)  # no hashing cost
        RoleAssignment.objects.create(account=account, unit=unit, role=Role.ARMORER)
        accounts.append(account)
    member_ids = [make_member(unit).pk for _ in range(members)]
    item_ids = [make_item(armory, accounts[index % armorers]).pk for index in range(items)]
    return {"armory": armory.pk, "armorers": [a.pk for a in accounts], "members": member_ids, "items": item_ids}


class Operator:
    """One worker's custody operations: look at an item (unlocked, so possibly stale), choose the operation its
    state calls for, and call the service, which locks the item and decides."""

    def __init__(self, world: dict, index: int, seed: int, *, hot: int, hot_share: float, transfers: float):
        from muster.custody.models import Item
        from muster.members.models import Account, Member

        self.rng = random.Random(seed * 1000 + index)
        self.items = world["items"]
        self.hot = self.items[: max(1, hot)]  # a few items every worker keeps reaching for: deliberate conflicts
        self.hot_share = hot_share
        self.transfers = transfers
        self.members = list(Member.objects.filter(pk__in=world["members"]))
        self.actor = Account.objects.get(pk=world["armorers"][index % len(world["armorers"])])
        self.Item = Item

    def pick(self) -> tuple[str, object, object]:
        """(operation, item, member or None). A quarter of the time the worker acts blind, ignoring the state."""
        rng = self.rng
        item_id = rng.choice(self.hot) if rng.random() < self.hot_share else rng.choice(self.items)
        item = self.Item.objects.get(pk=item_id)
        issued = item.holder_kind == "member" if rng.random() < 0.75 else rng.random() < 0.5
        if not issued:
            return "issue", item, rng.choice(self.members)
        if rng.random() < self.transfers:
            others = [m for m in self.members if m.pk != item.holder_member_id]
            return "transfer", item, rng.choice(others)
        return "return", item, None

    def perform(self, operation: str, item, member):
        from muster.custody import services

        if operation == "issue":
            return services.issue(item=item, member=member, actor=self.actor)
        if operation == "return":
            return services.return_item(item=item, actor=self.actor)
        giver = confirmation(item.holder_member_id or self.members[0].pk)
        return services.transfer(
            item=item, to_member=member, actor=self.actor, giver=giver, receiver=confirmation(member.pk)
        )


def confirmation(member_id: int):
    """What handover.confirm returns after a right PIN, without the PIN round (the PIN is not under test)."""
    from django.utils import timezone

    from muster.custody import handover

    now = timezone.now()
    return handover.Confirmation(member_id, "pin", now, handover.Confirmation.sign(member_id, "pin", now))


def ack(event) -> list:
    """What a caller learns of a committed operation: enough to find it in the ledger again."""
    return [
        event.seq,
        event.hash,
        event.kind,
        event.item_id,
        holder_ref(event.to_kind, event.to_armory_id, event.to_member_id),
    ]


def holder_ref(kind, armory_id, member_id) -> str:
    return f"{kind}:{armory_id if kind == 'armory' else member_id}"


def classify(exc: BaseException) -> tuple[str, str]:
    """("refused", code) for an expected domain refusal, ("unexpected", description) for anything else."""
    from muster.core.errors import DomainError

    if isinstance(exc, DomainError) and exc.code in EXPECTED_CODES:
        return "refused", exc.code
    name = type(exc).__name__
    code = f" [{exc.code}]" if isinstance(exc, DomainError) else ""
    return "unexpected", f"{name}{code}: {exc}"


def check_database(acks: list[list], registrations: int) -> dict:
    """Everything that must hold after any run, stress or crash: verify (chain, head, replay equals state), one
    holder per item, every acknowledged operation in the ledger as acknowledged, and the event count."""
    from django.db import connection, connections
    from django.db.models import Q

    from muster.custody import ledger
    from muster.custody.models import Item, LedgerEvent, LedgerHead

    connections.close_all()  # a fresh connection: what a restarted server would see
    started = time.perf_counter()
    result = ledger.verify()
    verify_seconds = time.perf_counter() - started
    one_holder = Q(holder_kind="armory", holder_armory__isnull=False, holder_member__isnull=True) | Q(
        holder_kind="member", holder_member__isnull=False, holder_armory__isnull=True
    )
    bad_holders = Item.objects.exclude(one_holder).count()
    last = LedgerEvent.objects.order_by("-seq").values_list("seq", "hash").first() or (0, ledger.GENESIS_HASH)
    head = LedgerHead.objects.values_list("seq", "hash").get(pk=1)
    stored = _all_events()
    missing = [a for a in acks if stored.get(a[0]) != list(a)]
    duplicate_seqs = len(acks) - len({a[0] for a in acks})
    events = LedgerEvent.objects.count()
    integrity = "n/a"
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            integrity = "; ".join(row[0] for row in cursor.execute("PRAGMA integrity_check").fetchall())
    return {
        "verify_ok": result.ok,
        "verify": result.summary(),
        "verify_seconds": round(verify_seconds, 2),
        "events": events,
        "registrations": registrations,
        "bad_holders": bad_holders,
        "head_matches_chain": tuple(head) == tuple(last),
        "missing_acks": len(missing),
        "missing_samples": missing[:5],
        "duplicate_ack_seqs": duplicate_seqs,
        "integrity_check": integrity,
    }


def _all_events() -> dict:
    from muster.custody.models import LedgerEvent

    rows = LedgerEvent.objects.values_list(
        "seq", "hash", "kind", "item_id", "to_kind", "to_armory_id", "to_member_id"
    ).iterator(chunk_size=10000)
    return {seq: [seq, digest, kind, item, holder_ref(tk, ta, tm)] for seq, digest, kind, item, tk, ta, tm in rows}


def database_ok(checked: dict) -> list[str]:
    """The problems in a check_database result, as sentences (empty when whole)."""
    problems = []
    if not checked["verify_ok"]:
        problems.append(checked["verify"])
    if checked["bad_holders"]:
        problems.append(f"{checked['bad_holders']} items without exactly one holder")
    if not checked["head_matches_chain"]:
        problems.append("the ledger head does not match the last event")
    if checked["missing_acks"]:
        problems.append(
            f"{checked['missing_acks']} acknowledged operations missing from the ledger, e.g. "
            f"{checked['missing_samples']}"
        )
    if checked["duplicate_ack_seqs"]:
        problems.append(f"{checked['duplicate_ack_seqs']} sequence numbers acknowledged twice")
    if checked["integrity_check"] not in ("ok", "n/a"):
        problems.append(f"SQLite integrity_check: {checked['integrity_check']}")
    return problems


def write_json(path: Path, value) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value))
    os.replace(temporary, path)


def count_lines(counter: Counter) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in counter.most_common()) or "none"
