"""The demo command's refusals and the CLI round trip, each on its own database (test_demo.py shares one seeded
demo across its tests)."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from django.core.management.base import CommandError

from muster import demo, demo_controls
from muster.core.testing import make_member, make_unit
from muster.core.tests.test_demo import SMALL, run_demo
from muster.members.models import Member, Unit


def test_reset_refuses_a_database_that_does_not_hold_the_demo(db):
    make_member(make_unit("REAL"))
    with pytest.raises(CommandError, match="--reset") as refusal:
        run_demo("--reset", "--members", str(SMALL))
    assert refusal.value.returncode == 1
    assert Member.objects.count() == 1
    assert not Unit.objects.filter(code=demo.REGION_CODE).exists()


def test_it_refuses_to_run_in_production_mode(db, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="development mode") as refusal:
        run_demo("--members", str(SMALL))
    assert refusal.value.returncode == 1
    assert not Member.objects.exists()


def test_it_refuses_too_few_members(db):
    with pytest.raises(CommandError, match="at least") as refusal:
        run_demo("--members", "3")
    assert refusal.value.returncode == 2
    assert not Member.objects.exists()


def _accounts_table(output: str) -> list[str]:
    return [line for line in output.splitlines() if demo.DEMO_PASSWORD in line]


@pytest.mark.own_sqlite
def test_the_cli_seeds_refuses_a_second_run_and_resets_to_the_same_data(tmp_path):
    """End to end in a throwaway SQLite database: same seed, same demo, after --reset."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(MUSTER_VAR_DIR=str(tmp_path), MUSTER_MODE="development")

    def muster(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "muster", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert muster("migrate", "-v0").returncode == 0
    first = muster("demo", "--members", "20", "--seed", "11")
    assert first.returncode == 0, first.stderr
    again = muster("demo", "--members", "20", "--seed", "11")
    assert again.returncode == 1
    assert "already holds members" in again.stderr
    reset = muster("demo", "--reset", "--members", "20", "--seed", "11")
    assert reset.returncode == 0, reset.stderr
    assert len(_accounts_table(first.stdout)) == 6
    assert _accounts_table(reset.stdout) == _accounts_table(first.stdout)
    assert "ledger ok" in reset.stdout
    # Webhook deliveries are queued when a custody transaction commits, which a test's own transaction never does
    # in process: they are checked here, in the database the real command wrote.
    with sqlite3.connect(tmp_path / "muster.sqlite3") as db:
        hooks = db.execute("SELECT id, events, active FROM core_webhook").fetchall()
        deliveries = dict(db.execute("SELECT status, COUNT(*) FROM core_webhookdelivery GROUP BY status").fetchall())
        errors = db.execute("SELECT last_error FROM core_webhookdelivery WHERE status = 'pending'").fetchall()
        kinds = {row[0] for row in db.execute("SELECT DISTINCT kind FROM core_webhookdelivery")}
    assert len(hooks) == 1 and hooks[0][2] and json.loads(hooks[0][1]) == demo_controls.WEBHOOK_EVENTS
    assert deliveries.get("delivered", 0) >= 2 and deliveries.get("pending", 0) >= 1  # the centre is down since
    assert set(deliveries) <= {"delivered", "pending"}
    assert errors and all("Name or service not known" in error for (error,) in errors)
    assert "custody.loss" in kinds and kinds <= set(demo_controls.WEBHOOK_EVENTS)
