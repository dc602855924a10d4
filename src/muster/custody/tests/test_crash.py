"""The crash trials of bench/crash_trials.py at CI size: writer processes SIGKILLed in the middle of custody
writes, 5 times, on SQLite (and PostgreSQL when DATABASE_URL names one); after every kill the database is whole
and a new writer continues.

The full run (30 trials) and its figures are in docs/reliability.md.
"""

import pytest

from muster.custody.tests.bench_runs import DATABASES, run_bench


@pytest.mark.parametrize("database", DATABASES)
def test_it_stays_whole_after_every_kill_in_the_middle_of_custody_writes(database):
    status, summary, output = run_bench(
        "crash_trials.py", database, "--trials", "5", "--max-delay", "0.8", "--final-ops", "20"
    )

    assert status == 0, output
    assert summary["database"] == database
    assert summary["kills"] == 5 * summary["writers_per_trial"]
    assert summary["kills_in_flight"] > 0, "no kill landed inside an operation"
    assert summary["checks"] == summary["verified_ok"] == 5 + 1  # after each kill, and after the final writer
    assert summary["final"]["verify_ok"], summary["final"]["verify"]
    assert summary["final"]["missing_acks"] == 0
    assert summary["final"]["bad_holders"] == 0
    assert summary["final"]["head_matches_chain"]
    assert summary["final"]["integrity_check"] == ("ok" if database == "sqlite" else "n/a")
