"""Serialization failures and deadlocks are retried; a database that stays too busy answers `busy_try_again`
(HTTP 503, CLI exit code 6) with nothing written, never a server error."""

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction
from rest_framework.test import APIClient

from muster.core import db
from muster.core.tests.test_export import call
from muster.custody import ledger
from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item
from muster.members.models import Unit


class _PgError(Exception):
    def __init__(self, sqlstate: str):
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def transient(sqlstate: str = "40P01") -> OperationalError:
    """What Django raises for a psycopg error: an OperationalError caused by the driver's error."""
    error = OperationalError(f"deadlock or serialization failure ({sqlstate})")
    error.__cause__ = _PgError(sqlstate)
    return error


def flaky(failures: list[BaseException]):
    calls = []

    @db.retry_transient
    def work(value):
        calls.append(value)
        if failures:
            raise failures.pop(0)
        return value * 2

    return work, calls


def test_it_runs_a_transaction_again_after_a_deadlock_or_a_serialization_failure(monkeypatch):
    monkeypatch.setattr(db, "BASE_PAUSE", 0)
    work, calls = flaky([transient("40P01"), transient("40001")])
    assert work(21) == 42
    assert calls == [21, 21, 21]


def test_it_gives_up_with_busy_after_the_last_attempt(monkeypatch):
    monkeypatch.setattr(db, "BASE_PAUSE", 0)
    work, calls = flaky([transient() for _ in range(db.ATTEMPTS)])
    with pytest.raises(db.Busy) as raised:
        work(1)
    assert (raised.value.code, raised.value.http_status, raised.value.exit_code) == ("busy_try_again", 503, 6)
    assert len(calls) == db.ATTEMPTS


def test_other_database_errors_are_not_retried():
    work, calls = flaky([OperationalError("no such table: nowhere")])
    with pytest.raises(OperationalError, match="no such table"):
        work(1)
    assert calls == [1]


def test_sqlite_busy_past_its_timeout_is_tried_again_then_busy(monkeypatch):
    monkeypatch.setattr(db, "BASE_PAUSE", 0)
    work, calls = flaky([OperationalError("database is locked")])
    assert work(2) == 4 and calls == [2, 2]  # lost one race for the write lock, won the next
    work, calls = flaky([OperationalError("database is locked") for _ in range(db.ATTEMPTS)])
    with pytest.raises(db.Busy):
        work(1)
    assert len(calls) == db.ATTEMPTS


@pytest.mark.django_db
def test_inside_the_callers_transaction_the_error_goes_up_unretried():
    work, calls = flaky([transient()])
    with pytest.raises(OperationalError), transaction.atomic():
        work(1)
    assert calls == [1]


# --- through the faces: nothing written, a clear answer ----------------------------------------------------------


# Real transactions: pytest-django's usual per-test transaction would make every service call an inner one,
# which (rightly) is never retried.
faces = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rifle(world):
    return make_item(world.armory_a, world.alice)


@pytest.fixture
def deadlocking_ledger(rifle, monkeypatch):
    """From now on every ledger append fails as if PostgreSQL chose its transaction as a deadlock victim."""
    monkeypatch.setattr(db, "BASE_PAUSE", 0)
    attempts = []

    def refuse(**kwargs):
        attempts.append(kwargs["kind"])
        raise transient("40P01")

    monkeypatch.setattr(ledger, "append", refuse)
    return attempts


@faces
def test_the_api_answers_503_busy_and_nothing_is_written(world, rifle, deadlocking_ledger):
    events = LedgerEvent.objects.count()
    client = APIClient()
    client.force_authenticate(world.alice)
    body = {"item": rifle.pk, "member": world.bob_member.member_no}
    response = client.post("/api/v1/custody/issue", body, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "busy_try_again"
    assert deadlocking_ledger == ["issue"] * db.ATTEMPTS
    rifle.refresh_from_db()
    assert (rifle.holder_kind, LedgerEvent.objects.count()) == (HolderKind.ARMORY, events)


@faces
def test_the_web_form_says_try_again_and_the_cli_exits_6(client, world, rifle, deadlocking_ledger):
    client.force_login(world.alice)
    response = client.post(
        "/custody/issue/", {"serial": rifle.serial_number, "member_no": world.bob_member.member_no, "reason": "x"}
    )
    assert response.status_code == 503
    assert "Try again" in response.content.decode()
    code, _, err = call("issue", rifle.serial_number, world.bob_member.member_no, "--as", "alice")
    assert code == 6 and "busy_try_again" in err
    assert deadlocking_ledger == ["issue"] * (2 * db.ATTEMPTS)
    assert Item.objects.get(pk=rifle.pk).holder_kind == HolderKind.ARMORY


# --- a real deadlock on PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_real_postgresql_deadlock_is_retried_and_both_transactions_finish(world):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's IMMEDIATE transactions take the write lock at BEGIN and cannot deadlock")
    first, second = world.unit_a.pk, world.unit_b.pk
    both_hold_one = threading.Barrier(2, timeout=30)
    attempts: dict[str, int] = {"ab": 0, "ba": 0}
    errors = []

    def lock_both(name: str, order: tuple[int, int]):
        @db.retry_transient
        @transaction.atomic(durable=True)
        def work():
            attempts[name] += 1
            Unit.objects.select_for_update().get(pk=order[0])
            if attempts[name] == 1:  # only the first attempt waits for the other: the retry must get through
                both_hold_one.wait()
            Unit.objects.select_for_update().get(pk=order[1])
            Unit.objects.filter(pk=order[1]).update(name=f"locked by {name}")

        try:
            work()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=lock_both, args=("ab", (first, second))),
        threading.Thread(target=lock_both, args=("ba", (second, first))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # PostgreSQL chose one victim; it ran again and finished
    names = set(Unit.objects.filter(pk__in=[first, second]).values_list("name", flat=True))
    assert names <= {"locked by ab", "locked by ba"} and len(names) >= 1
