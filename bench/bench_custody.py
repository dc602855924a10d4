"""Issue + return cycles through the service layer vs raw SQL doing the same reads and writes.

    .venv/bin/python bench/bench_custody.py [--cycles 2000] [--postgres URL]

Both paths lock the item and the ledger head, read the member, append a hash-chained ledger event (same
canonical encoding, same SHA-256), move the item and advance the head, one transaction per operation, with the
database triggers on. The service path adds what makes it the service: permission and gate checks (role, member
status, vetting, qualifications), Django's ORM, and recall bookkeeping on return. The ledger verifies afterwards,
so the raw path wrote genuine events. Ratio = service throughput / raw throughput (goal ≥ 20%).
"""

import argparse
import hashlib
import os
from datetime import UTC, datetime, timedelta

from common import database, report, timed

# The raw reference writes no receiver confirmation, so the service is measured without the handover PIN too
# (MUSTER_REQUIRE_HANDOVER_PIN is on by default, and an issue without a PIN would be refused).
os.environ.setdefault("MUSTER_REQUIRE_HANDOVER_PIN", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--postgres", metavar="URL")
    options = parser.parse_args()
    with database(options.postgres):
        from django.db import connection

        from muster.core.testing import make_account, make_member, make_unit
        from muster.custody import codec, ledger, services
        from muster.custody.models import Armory
        from muster.custody.testing import make_item
        from muster.members.models import Role

        unit = make_unit("BENCH")
        armory = Armory.objects.create(code="BENCH", name="Bench armory", unit=unit)
        armorer = make_account("bench-armorer", roles=[(Role.ARMORER, unit)])
        members = [make_member(unit) for _ in range(50)]
        items = [make_item(armory, armorer) for _ in range(200)]
        cycles = options.cycles

        def service_cycles():
            due = datetime.now(UTC) + timedelta(days=2)
            for n in range(cycles):
                item = items[n % len(items)]
                services.issue(item=item, member=members[n % len(members)], actor=armorer, due_at=due)
                services.return_item(item=item, actor=armorer)

        service_time, _ = timed(service_cycles)
        raw = RawCustody(connection, codec, armorer.pk, armory.pk)
        raw_time, _ = timed(lambda: raw.cycles([item.pk for item in items], [m.pk for m in members], cycles))
        result = ledger.verify()
        assert result.ok, result.summary()
        report(
            f"issue+return cycles on {connection.vendor}",
            f"service layer: {cycles / service_time:,.0f} cycles/s ({service_time / cycles * 1000:.2f} ms per cycle)",
            f"raw SQL, same writes and hashes: {cycles / raw_time:,.0f} cycles/s "
            f"({raw_time / cycles * 1000:.2f} ms per cycle)",
            raw_time / service_time,
            "≥ 20%",
        )


class RawCustody:
    """The essential reads and writes of an issue or a return, in plain DB-API calls."""

    def __init__(self, connection, codec, actor_id: int, armory_id: int):
        connection.ensure_connection()
        self.db = connection.connection
        self.sqlite = connection.vendor == "sqlite"
        self.codec, self.actor, self.armory = codec, actor_id, armory_id
        self.mark = "?" if self.sqlite else "%s"
        self.lock = "" if self.sqlite else " FOR UPDATE"

    def sql(self, text: str) -> str:
        return text.replace("%s", self.mark)

    def move(self, cursor, item_id: int, to_kind: str, to_armory, to_member, kind: str, due) -> None:
        cursor.execute(
            self.sql(
                "SELECT holder_kind, holder_armory_id, holder_member_id, custody_version FROM "
                f"custody_item WHERE id = %s{self.lock}"
            ),
            [item_id],
        )
        from_kind, from_armory, from_member, version = cursor.fetchone()
        if to_member is not None:
            cursor.execute(self.sql("SELECT status FROM members_member WHERE id = %s"), [to_member])
            assert cursor.fetchone()[0] == "active"
        cursor.execute(self.sql(f"SELECT seq, hash FROM custody_ledgerhead WHERE id = 1{self.lock}"))
        seq, prev = cursor.fetchone()
        seq += 1
        now = datetime.now(UTC)
        encoded = self.codec.encode(
            seq,
            self.codec.time_text(now),
            kind,
            item_id,
            version + 1,
            self.codec.ref(from_kind, from_armory, from_member),
            self.codec.ref(to_kind, to_armory, to_member),
            self.actor,
            "",
            self.codec.time_text(due),
            "{}",
            prev,
        )
        digest = hashlib.sha256(encoded).hexdigest()
        stamp = now.replace(tzinfo=None).isoformat(" ") if self.sqlite else now
        due_value = (due.replace(tzinfo=None).isoformat(" ") if self.sqlite else due) if due else None
        cursor.execute(
            self.sql(
                "INSERT INTO custody_ledgerevent (seq, recorded_at, kind, item_id, item_version, from_kind, "
                "from_armory_id, from_member_id, to_kind, to_armory_id, to_member_id, actor_id, reason, due_at, data, "
                "prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '', %s, '{}', %s, %s)"
            ),
            [
                seq,
                stamp,
                kind,
                item_id,
                version + 1,
                from_kind,
                from_armory,
                from_member,
                to_kind,
                to_armory,
                to_member,
                self.actor,
                due_value,
                prev,
                digest,
            ],
        )
        cursor.execute(
            self.sql(
                "UPDATE custody_item SET holder_kind = %s, holder_armory_id = %s, "
                "holder_member_id = %s, due_at = %s, custody_version = %s WHERE id = %s"
            ),
            [to_kind, to_armory, to_member, due_value, version + 1, item_id],
        )
        cursor.execute(self.sql("UPDATE custody_ledgerhead SET seq = %s, hash = %s WHERE id = 1"), [seq, digest])

    def transaction(self, *args) -> None:
        cursor = self.db.cursor()
        if self.sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        try:
            self.move(cursor, *args)
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    def cycles(self, item_ids: list[int], member_ids: list[int], count: int) -> None:
        if not self.sqlite:
            self.db.autocommit = False
        due = datetime.now(UTC) + timedelta(days=2)
        for n in range(count):
            item = item_ids[n % len(item_ids)]
            self.transaction(item, "member", None, member_ids[n % len(member_ids)], "issue", due)
            self.transaction(item, "armory", self.armory, None, "return", None)
        if not self.sqlite:
            self.db.autocommit = True


if __name__ == "__main__":
    main()
