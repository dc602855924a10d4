"""Real threads, each with its own database connection, racing to issue and return the same items.

Runs on whichever database the suite runs on (SQLite in the default run, PostgreSQL when DATABASE_URL says so).
"""

import random
import threading
from collections import Counter

import pytest
from django.db import connections

from muster.core.errors import Refused
from muster.core.testing import make_member
from muster.custody import ledger, services
from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

WORKERS = 8
ITEMS = 12


def race(worker, count: int = WORKERS) -> list:
    """Start `count` threads at the same instant; return what each one returned (or raised)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = worker(index)
        except BaseException as exc:  # the assertion in the test reports it
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return results


def test_exactly_one_of_many_concurrent_issues_of_an_item_wins(world, purged_ledger):
    items = [make_item(world.armory_a, world.alice) for _ in range(ITEMS)]
    members = [make_member(world.unit_a) for _ in range(WORKERS)]

    def issue_everything(index: int) -> list[tuple[int, str]]:
        outcomes = []
        for item in random.sample(items, len(items)):
            try:
                services.issue(item=item, member=members[index], actor=world.alice)
                outcomes.append((item.pk, "issued"))
            except Refused as refusal:
                outcomes.append((item.pk, refusal.code))
        return outcomes

    results = race(issue_everything)
    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, errors
    wins = Counter(item_pk for outcomes in results for item_pk, outcome in outcomes if outcome == "issued")
    refusals = Counter(outcome for outcomes in results for _, outcome in outcomes if outcome != "issued")
    assert wins == {item.pk: 1 for item in items}
    assert set(refusals) <= {"item_not_in_armory", "concurrent_change"}
    assert sum(refusals.values()) == ITEMS * (WORKERS - 1)

    # The database agrees: one issue event per item, each item held by the member whose issue won.
    assert LedgerEvent.objects.filter(kind="issue").count() == ITEMS
    for item in Item.objects.all():
        assert item.holder_kind == HolderKind.MEMBER
        assert LedgerEvent.objects.get(item=item, kind="issue").to_member_id == item.holder_member_id
    seqs = list(LedgerEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 2 * ITEMS + 1)), "the sequence has a gap"
    result = ledger.verify()
    assert result.ok, result.summary()


def test_concurrent_returns_and_reissues_keep_one_holder_and_a_clean_chain(world, purged_ledger):
    items = [make_item(world.armory_a, world.alice) for _ in range(ITEMS)]
    members = [make_member(world.unit_a) for _ in range(WORKERS)]
    for item in items:
        services.issue(item=item, member=members[0], actor=world.alice)

    def churn(index: int) -> Counter:
        outcomes: Counter = Counter()
        rng = random.Random(index)
        for _ in range(15):
            item = rng.choice(items)
            try:
                if rng.random() < 0.5:
                    services.return_item(item=item, actor=world.alice)
                    outcomes["returned"] += 1
                else:
                    services.issue(item=item, member=members[index], actor=world.alice)
                    outcomes["issued"] += 1
            except Refused as refusal:
                outcomes[refusal.code] += 1
        return outcomes

    results = race(churn)
    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, errors
    done = sum((result for result in results), Counter())
    events = LedgerEvent.objects.count()
    # Every acknowledged operation is in the ledger, and nothing else is.
    assert events == 2 * ITEMS + done["issued"] + done["returned"]
    result = ledger.verify()
    assert result.ok, result.summary()
    assert result.events == events
