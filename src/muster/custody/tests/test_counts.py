"""Counts: expected vs scanned, the rules (rotating counter, second signature), discrepancies and their
resolution (found, or a loss case), schedules, and the count a key handover triggers."""

import pytest
from django.db import connection

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.custody import counts, services, tasks
from muster.custody.models import Count, CountPolicy, Discrepancy, Item, LossCase
from muster.custody.testing import make_item, make_item_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(world):
    """Four rifles homed in A (one issued to bob), one rifle of B."""
    rifles = [make_item(world.armory_a, world.alice, serial=f"A-{n}") for n in range(4)]
    services.issue(item=rifles[3], member=world.bob_member, actor=world.alice)
    foreign = make_item(world.armory_b, world.carol, serial="B-1")
    return rifles, foreign


def finish(count, actor, codes):
    for code in codes:
        counts.scan(count=count, code=code, actor=actor)
    return counts.submit(count=count, actor=actor)


def test_a_clean_count_has_no_discrepancies_and_needs_a_second_signature(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    assert sorted(count.expected) == sorted(item.pk for item in shelf[0][:3])
    assert finish(count, world.alice, ["A-0", "A-1", "A-2"]) == []
    count.refresh_from_db()
    assert count.status == Count.Status.SUBMITTED
    with pytest.raises(Refused) as refusal:
        counts.sign(count=count, actor=world.alice)
    assert refusal.value.code == "same_signer"
    counts.sign(count=count, actor=world.frank)
    count.refresh_from_db()
    assert (count.status, count.signed_by) == (Count.Status.CLOSED, world.frank)


def test_every_kind_of_discrepancy_is_listed(world, shelf):
    rifles, foreign = shelf
    count = counts.start(armory=world.armory_a, actor=world.alice)
    found = finish(count, world.alice, ["A-0", "A-0", "A-3", "B-1", "ZZ-999"])  # missing
    kinds = sorted((d.kind, d.item_id or d.code) for d in found)
    assert kinds == sorted(
        [
            ("missing", rifles[1].pk),
            ("missing", rifles[2].pk),
            ("duplicate", rifles[0].pk),
            ("unexpected", rifles[3].pk),
            ("misplaced", foreign.pk),
            ("unknown", "ZZ-999"),
        ]
    )


def test_a_missing_item_becomes_a_loss_case_or_is_explained(world, shelf):
    rifles, _ = shelf
    count = counts.start(armory=world.armory_a, actor=world.alice)
    missing = sorted(finish(count, world.alice, ["A-0"]), key=lambda d: d.item_id)
    case_for = counts.resolve(
        discrepancy=missing[0], actor=world.frank, explanation="Not found anywhere", open_loss_case=True
    )
    assert case_for.resolution == "loss_case"
    case = LossCase.objects.get(item=rifles[1])
    assert (case.kind, case.last_armory) == ("unaccounted", world.armory_a)
    explained = counts.resolve(discrepancy=missing[1], actor=world.frank, explanation="At the gunsmith's bench")
    assert explained.resolution == "found"
    with pytest.raises(Refused):
        counts.resolve(discrepancy=missing[1], actor=world.frank, explanation="again")
    with pytest.raises(Invalid):
        counts.resolve(
            discrepancy=Discrepancy.objects.create(count=count, kind="unknown", code="X"),
            actor=world.frank,
            explanation="x",
            open_loss_case=True,
        )


def test_the_counter_rotates_unless_the_armory_says_otherwise(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    finish(count, world.alice, ["A-0", "A-1", "A-2"])
    counts.sign(count=count, actor=world.frank)
    with pytest.raises(Refused) as refusal:
        counts.start(armory=world.armory_a, actor=world.alice)
    assert refusal.value.code == "same_counter"
    CountPolicy.objects.create(armory=world.armory_a, counter_rotates=False, second_signature=False)
    again = counts.start(armory=world.armory_a, actor=world.alice)
    finish(again, world.alice, ["A-0", "A-1", "A-2"])
    again.refresh_from_db()
    assert again.status == Count.Status.CLOSED  # no second signature needed here


def test_who_may_count_scan_and_sign(world, shelf):
    for who in (world.bob, world.erin, world.carol):
        with pytest.raises(NotPermitted):
            counts.start(armory=world.armory_a, actor=who)
    count = counts.start(armory=world.armory_a, actor=world.frank)
    with pytest.raises(NotPermitted):
        counts.scan(count=count, code="A-0", actor=world.alice)
    with pytest.raises(Refused):
        counts.start(armory=world.armory_a, actor=world.alice)  # one count at a time


def test_schedules_make_counts_due_and_remind(world, shelf):
    due = counts.schedule()
    assert {count.armory_id for count in due} == {world.armory_a.pk, world.armory_b.pk}
    assert counts.schedule() == []  # already due
    count = counts.start(armory=world.armory_a, actor=world.alice)  # takes over the due count
    assert count.pk in {c.pk for c in due} and count.reason.startswith("scheduled")
    assert tasks.schedule_counts.call_local() == 0


def test_handing_over_an_armorys_key_makes_a_count_due(world):
    key_type = make_item_type("Arms room key", category="key")
    key = make_item(world.armory_a, world.alice, item_type=key_type, serial="KEY-A-1")
    Item.objects.filter(pk=key.pk).update(opens_armory=world.armory_a)
    services.issue(item=key, member=world.bob_member, actor=world.alice, reason="night duty")
    count = Count.objects.get(armory=world.armory_a)
    assert count.status == Count.Status.DUE and "KEY-A-1" in count.reason


def test_the_custody_triggers_survive_every_migration(db):
    """Migrations that rebuild a custody table (SQLite) must put the triggers back."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        names = {row[0] for row in cursor.fetchall()}
    expected = {"item_holder_follows_ledger"} | (
        {"ledger_refuse_update", "ledger_refuse_delete", "ledger_chain_continuous", "ledger_custody_continuous"}
        | {"item_tally_insert", "item_tally_update", "item_tally_delete"}
        if connection.vendor == "sqlite"
        else {"ledger_refuse_update_delete", "ledger_refuse_truncate", "ledger_check_insert", "item_tally"}
    )
    assert expected <= names
