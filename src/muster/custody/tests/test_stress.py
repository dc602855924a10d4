"""The stress run of bench/stress_custody.py at CI size: 4 OS processes × 150 random issue/return/transfer
operations on shared items, against one database (SQLite in WAL mode; PostgreSQL when DATABASE_URL names one).

The full run (16 processes × 20,000 operations) and its figures are in docs/reliability.md.
"""

import pytest

from muster.custody.tests.bench_runs import DATABASES, run_bench

pytestmark = pytest.mark.concurrency

EXPECTED_REFUSALS = {
    "item_not_in_armory",
    "item_not_issued",
    "concurrent_change",
    "confirmation_wrong_member",
    "transfer_to_holder",
}


@pytest.mark.parametrize("database", DATABASES)
def test_it_keeps_every_acknowledged_operation_and_one_holder_per_item_under_racing_processes(database):
    status, summary, output = run_bench("stress_custody.py", database, "--processes", "4", "--ops", "150")

    assert status == 0, output
    assert summary["database"] == database
    assert summary["attempts"] == 4 * 150
    assert summary["unexpected"] == 0, summary["unexpected_samples"]
    assert set(summary["refusals"]) <= EXPECTED_REFUSALS
    assert summary["refusals"], "no operation raced another: the test proves nothing"
    assert set(summary["outcomes"]) == {"issue", "return", "transfer"}
    assert summary["verify_ok"], summary["verify"]
    assert summary["events"] == summary["registrations"] + summary["successes"]
    assert summary["missing_acks"] == 0
    assert summary["bad_holders"] == 0
    assert summary["head_matches_chain"]
    assert summary["integrity_check"] == ("ok" if database == "sqlite" else "n/a")
