"""Ledger verify vs SHA-256 alone over the same bytes.

    .venv/bin/python bench/bench_verify.py [--events 1000000] [--postgres URL]

Seeds a ledger of EVENTS events (bulk path), times `ledger.verify()` (which re-reads, re-encodes, re-hashes and
replays every event, then compares every item), and times hashlib.sha256 over exactly the canonical bytes the
verify hashed, already in memory. Ratio = SHA-256 time / verify time (goal ≥ 20%).
"""

import argparse
import hashlib

from common import database, report, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=None, help="default: events / 10")
    parser.add_argument("--postgres", metavar="URL")
    options = parser.parse_args()
    items = options.items or max(1, options.events // 10)
    with database(options.postgres):
        from django.db import connection

        from muster import seed
        from muster.custody import ledger

        seed.seed(members=max(100, items // 3), items=items, events=options.events)
        verify_time, result = timed(ledger.verify)
        assert result.ok, result.summary()
        # The exact bytes verify hashed, rebuilt outside the timing.
        payloads = []
        for row in ledger.iter_events():
            seq, recorded_at, kind, item_id, item_version, fk, fa, fm, tk, ta, tm = row[:11]
            actor_id, reason, due_at, data, prev_hash = row[11:16]
            payloads.append(
                ledger.canonical_bytes(
                    ledger.event_fields(
                        seq=seq,
                        recorded_at=recorded_at,
                        kind=kind,
                        item_id=item_id,
                        item_version=item_version,
                        from_ref=ledger.holder_ref(fk, fa, fm),
                        to_ref=ledger.holder_ref(tk, ta, tm),
                        actor_id=actor_id,
                        reason=reason,
                        due_at=due_at,
                        data=data,
                        prev_hash=prev_hash,
                    )
                )
            )
        sha = hashlib.sha256
        hash_time, _ = timed(lambda: [sha(payload).digest() for payload in payloads])
        total = sum(map(len, payloads))
        report(
            f"ledger verify, {options.events:,} events on {connection.vendor}",
            f"{options.events / verify_time:,.0f} events/s ({verify_time:.2f} s)",
            f"SHA-256 alone over the same {total / 1e6:.0f} MB: {options.events / hash_time:,.0f} events/s "
            f"({hash_time:.2f} s)",
            hash_time / verify_time,
            "≥ 20%",
        )


if __name__ == "__main__":
    main()
