"""Scale data: `muster seed --members N --items M --events E` builds a realistic national-size data set fast.

Bulk paths, not the per-event service: members, items and ledger rows are written in large batches (COPY on
PostgreSQL, executemany on SQLite) with the ledger's triggers switched off for the load — the rows are computed
here exactly as custody.ledger.append would compute them, and `muster ledger verify` checks the result. Only for
an empty database; the triggers are back on when the load commits.
"""

import hashlib
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from muster.custody import triggers
from muster.custody.ledger import GENESIS_HASH
from muster.custody.models import Armory, Item, ItemType, LedgerEvent, LedgerHead
from muster.members.models import Account, Member, Unit

Progress = Callable[[str, int, int], None]
BATCH = 20_000
OVERDUE_SHARE = 0.02  # of the items members hold today, those past their due-back time
TYPES = [
    ("AK-74M assault rifle", "firearm", "AK-74M", "5.45×39 mm"),
    ("AKM assault rifle", "firearm", "AKM", "7.62×39 mm"),
    ("Handheld anti-drone jammer", "counter_drone", "HJ-3 jammer", ""),
    ("Pickup truck", "vehicle", "Double-cab 4×4", ""),
    ("Handheld VHF radio", "radio", "VHF 5 W handheld", ""),
    ("Night-vision monocular", "optics", "PVS-14", ""),
]
TYPE_WEIGHTS = [55, 10, 5, 3, 22, 5]


@dataclass
class SeedResult:
    units: int
    members: int
    items: int
    events: int
    head_hash: str


def _canonical(seq, recorded, kind, item, version, from_ref, to_ref, actor, due, prev) -> bytes:
    """custody.ledger.canonical_bytes(event_fields(...)) for seed events, spelled out: keys in sorted order, and
    every value is a plain ASCII string, an integer or null, so no escaping is needed. 3× faster than json.dumps;
    `ledger verify` at the end of every seed proves the two agree."""
    frm = "null" if from_ref is None else f'"{from_ref}"'
    due_text = "null" if due is None else f'"{due}"'
    return (
        f'{{"actor":{actor},"data":{{}},"due_at":{due_text},"from":{frm},"item":{item},"item_version":{version},'
        f'"kind":"{kind}","prev_hash":"{prev}","reason":"","recorded_at":"{recorded}","seq":{seq},"to":"{to_ref}",'
        f'"v":1}}'
    ).encode()


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Writer:
    """Batched inserts of plain tuples into one table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, table: str, columns: list[str]):
        self.table, self.columns, self.rows = table, columns, []
        self.sqlite = connection.vendor == "sqlite"

    def add(self, row: tuple) -> None:
        if self.sqlite:  # store dates and times exactly as Django's own SQLite adapter would
            row = tuple(connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v for v in row)
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                sql = f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for row in self.rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES ({marks})", self.rows)  # noqa: S608
        self.rows = []


def seed(*, members: int, items: int, events: int, seed: int = 1, progress: Progress | None = None) -> SeedResult:
    if events < items:
        raise ValueError("every item needs its register event: --events must be at least --items")
    if Member.objects.exists() or LedgerEvent.objects.exists():
        raise ValueError("seed fills an empty database only")
    progress = progress or (lambda what, done, total: None)
    rng = random.Random(seed)
    with transaction.atomic():
        triggers.uninstall(connection)
        _skip_row_checks_on_postgresql()
        actor = Account.objects.create_superuser(username="seed", password=None)
        units, companies = _units(members)
        armories = [
            Armory.objects.create(code=f"ARM-{unit.code}", name=f"{unit.name} arms room", unit=unit)
            for unit in companies
        ]
        company_members = _members(rng, members, companies, progress)
        item_rows = _items(rng, items, armories, progress)
        head = _ledger(rng, actor.pk, item_rows, armories, company_members, events, progress)
        triggers.install(connection)
        triggers.rebuild_tally(connection)
    with connection.cursor() as cursor:  # fresh statistics, or the planner guesses badly on millions of new rows
        cursor.execute("ANALYZE")
    return SeedResult(len(units), members, items, events, head)


def _skip_row_checks_on_postgresql() -> None:
    """Foreign-key checks run as per-row triggers at commit and dominate a bulk load. The rows are consistent by
    construction and `ledger verify` checks them afterwards; a superuser may switch the checks off for this
    transaction only. Anyone else simply loads slower."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")


def _units(members: int) -> tuple[list[Unit], list[Unit]]:
    region = Unit.objects.create(code="X", name="National command", kind=Unit.Kind.REGION)
    units, companies = [region], []
    battalions = max(1, members // 3000)
    for b in range(battalions):
        battalion = Unit.objects.create(
            code=f"X-B{b + 1}", name=f"Battalion {b + 1}", kind=Unit.Kind.BATTALION, parent=region
        )
        units.append(battalion)
        for c in "ABCD":
            company = Unit.objects.create(
                code=f"{battalion.code}-{c}",
                name=f"{c} Company, Battalion {b + 1}",
                kind=Unit.Kind.COMPANY,
                parent=battalion,
            )
            units.append(company)
            companies.append(company)
    return units, companies


def _members(rng: random.Random, count: int, companies: list[Unit], progress: Progress) -> list[list[int]]:
    today = timezone.localdate()
    writer = _Writer(
        Member._meta.db_table,
        [
            "member_no",
            "first_name",
            "last_name",
            "phone",
            "email",
            "unit_id",
            "status",
            "is_veteran",
            "vetting_valid_until",
            "joined_on",
            "created_at",
        ],
    )
    now = timezone.now()
    for n in range(count):
        company = companies[n % len(companies)]
        status = "active" if rng.random() < 0.9 else rng.choice(["applicant", "suspended", "departed"])
        writer.add(
            (
                f"S{n + 1:07d}",
                f"First{n % 997}",
                f"Last{n % 1009}",
                f"+44 7700 9{n % 100000:05d}",
                "",
                company.pk,
                status,
                rng.random() < 0.2,
                today + timedelta(days=rng.randint(30, 700)),
                today - timedelta(days=rng.randint(30, 2000)),
                now,
            )
        )
        if n % BATCH == 0:
            progress("members", n, count)
    writer.flush()
    progress("members", count, count)
    by_company: dict[int, list[int]] = {company.pk: [] for company in companies}
    active = Member.objects.filter(status="active").values_list("pk", "unit_id").iterator(chunk_size=BATCH)
    for pk, unit_id in active:
        by_company[unit_id].append(pk)
    return [by_company[company.pk] for company in companies]


def _items(rng: random.Random, count: int, armories: list[Armory], progress: Progress) -> list[tuple[int, int]]:
    """Create the items (held by their home armory for now); return (item id, armory index) per item."""
    types = [
        ItemType.objects.get_or_create(name=name, defaults={"category": category, "model": model, "calibre": calibre})[
            0
        ]
        for name, category, model, calibre in TYPES
    ]
    writer = _Writer(
        Item._meta.db_table,
        [
            "item_type_id",
            "serial_number",
            "home_armory_id",
            "condition",
            "manufacturer",
            "year_of_manufacture",
            "markings",
            "notes",
            "holder_kind",
            "holder_armory_id",
            "custody_version",
        ],
    )
    for n in range(count):
        armory = armories[n % len(armories)]
        item_type = rng.choices(types, TYPE_WEIGHTS)[0]
        writer.add(
            (
                item_type.pk,
                f"SN{n + 1:08d}",
                armory.pk,
                "serviceable",
                "Seed Works",
                rng.randint(1970, 2025),
                "",
                "",
                "armory",
                armory.pk,
                0,
            )
        )
        if n % BATCH == 0:
            progress("items", n, count)
    writer.flush()
    progress("items", count, count)
    index = {armory.pk: i for i, armory in enumerate(armories)}
    rows = Item.objects.order_by("pk").values_list("pk", "home_armory_id").iterator(chunk_size=BATCH)
    return [(pk, index[armory_id]) for pk, armory_id in rows]


def _last_event_per_item(rng, item_rows, company_members, issuable, events) -> array:
    """The seq of each item's last event, found by running the same random picks as _ledger once without writing
    (the generator is rewound afterwards), so that the issue an item is still out on can get a believable due date:
    most items members hold today are due back in the coming weeks; OVERDUE_SHARE of them are late."""
    state = rng.getstate()
    last = array("q", range(1, len(item_rows) + 1))
    with_member = bytearray(len(item_rows))
    for seq in range(len(item_rows) + 1, events + 1):
        i = issuable[rng.randrange(len(issuable))]
        if not with_member[i]:
            rng.randrange(len(company_members[item_rows[i][1]]))
        with_member[i] ^= 1
        last[i] = seq
    rng.setstate(state)
    return last


def _ledger(rng, actor_id, item_rows, armories, company_members, events, progress) -> str:
    """Register every item, then random issues and returns; hashes exactly as custody.ledger computes them."""
    columns = [
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
    ]
    writer = _Writer(LedgerEvent._meta.db_table, columns)
    dropped = _drop_plain_indexes(LedgerEvent._meta.db_table)
    # per item: [holder kind, armory id, member id, version, due]
    state = [["armory", armories[a].pk, None, 0, None] for _, a in item_rows]
    start = timezone.now() - timedelta(days=365 * 5)
    step = timedelta(days=365 * 5) / max(events, 1)
    prev = GENESIS_HASH
    data_text = "{}"
    issuable = [i for i, (_, armory_index) in enumerate(item_rows) if company_members[armory_index]]
    if events > len(item_rows) and not issuable:
        raise ValueError("no active member to issue to: seed more members")
    loans = random.Random(rng.random())  # due dates draw from their own stream: the picks stay as pass 1 saw them
    last_event = _last_event_per_item(rng, item_rows, company_members, issuable, events)
    now = timezone.now()
    for seq in range(1, events + 1):
        recorded = start + step * seq
        if seq <= len(item_rows):
            i = seq - 1
            kind, frm, to = "register", None, ("armory", state[i][1], None)
        else:
            i = issuable[rng.randrange(len(issuable))]
            if state[i][0] == "armory":
                members = company_members[item_rows[i][1]]
                kind, frm = "issue", ("armory", state[i][1], None)
                to = ("member", None, members[rng.randrange(len(members))])
            else:
                kind, frm, to = "return", ("member", None, state[i][2]), ("armory", armories[item_rows[i][1]].pk, None)
        version = state[i][3] + 1
        due = None
        if kind == "issue":
            due = recorded + timedelta(days=7)
            if last_event[i] == seq and loans.random() >= OVERDUE_SHARE:  # still out today, and not yet late
                due = max(due, now + timedelta(hours=loans.randint(1, 24 * 60)))
        from_ref = None if frm is None else (f"armory:{frm[1]}" if frm[0] == "armory" else f"member:{frm[2]}")
        to_ref = f"armory:{to[1]}" if to[0] == "armory" else f"member:{to[2]}"
        canonical = _canonical(
            seq, _time(recorded), kind, item_rows[i][0], version, from_ref, to_ref, actor_id, _time(due), prev
        )
        digest = hashlib.sha256(canonical).hexdigest()
        writer.add(
            (
                seq,
                recorded,
                kind,
                item_rows[i][0],
                version,
                frm and frm[0],
                frm and frm[1],
                frm and frm[2],
                to[0],
                to[1],
                to[2],
                actor_id,
                "",
                due,
                data_text,
                prev,
                digest,
            )
        )
        state[i] = [to[0], to[1], to[2], version, due]
        prev = digest
        if seq % BATCH == 0:
            progress("events", seq, events)
    writer.flush()
    progress("events", events, events)
    _recreate_indexes(dropped, progress)
    _write_item_state(item_rows, state, progress)
    LedgerHead.objects.filter(pk=1).update(seq=events, hash=prev)
    return prev


def _drop_plain_indexes(table: str) -> list[str]:
    """On PostgreSQL, building an index once after the load beats updating it row by row. Unique indexes and
    the primary key stay: they are the invariants."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
            "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.tablename = %s AND NOT x.indisunique",
            [table],
        )
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in found]


def _recreate_indexes(definitions: list[str], progress: Progress) -> None:
    with connection.cursor() as cursor:
        for done, definition in enumerate(definitions, start=1):
            cursor.execute(definition)
            progress("indexes", done, len(definitions))


def _write_item_state(item_rows, state, progress) -> None:
    """Move each item to where its last event left it: a temporary table and one UPDATE … FROM."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE seed_state (id bigint PRIMARY KEY, kind varchar(8), armory bigint, "
            "member bigint, version integer, due timestamp with time zone)"
        )
    writer = _Writer("seed_state", ["id", "kind", "armory", "member", "version", "due"])
    for (pk, _), (kind, armory, member, version, due) in zip(item_rows, state, strict=True):
        writer.add((pk, kind, armory, member, version, due))
    writer.flush()
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET holder_kind = s.kind, holder_armory_id = s.armory, holder_member_id = s.member, "  # noqa: S608
            f"custody_version = s.version, due_at = s.due FROM seed_state s WHERE {table}.id = s.id"
        )
        cursor.execute("DROP TABLE seed_state")
    progress("state", 1, 1)
