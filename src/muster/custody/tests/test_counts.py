"""Counts: expected vs scanned, the rules (rotating counter, second signature), discrepancies and their
resolution (found by a re-scan, explained, or a loss case) before any signature, reminders of unresolved ones,
schedules, and the count a key handover triggers."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.models import Notification
from muster.custody import counts, services, tasks
from muster.custody.models import Count, CountScan, Discrepancy, Item, LossCase
from muster.custody.policy import set_unit_policy
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


def one_missing(world, counter=None) -> Discrepancy:
    """A count of ARM-A by alice (or `counter`) in which A-2 was not scanned."""
    counter = counter or world.alice
    count = counts.start(armory=world.armory_a, actor=counter)
    (missing,) = finish(count, counter, ["A-0", "A-1"])
    return missing


def state(discrepancy: Discrepancy) -> tuple:
    discrepancy.refresh_from_db()
    return discrepancy.resolution, discrepancy.resolved_by_id, discrepancy.loss_case_id, discrepancy.found_scan_id


UNRESOLVED = ("", None, None, None)


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


def test_an_item_issued_during_the_count_is_not_missing(world, shelf):
    rifles, _ = shelf
    count = counts.start(armory=world.armory_a, actor=world.alice)
    services.issue(item=rifles[2], member=world.bob_member, actor=world.rita)  # the ledger accounts for it
    assert finish(count, world.alice, ["A-0", "A-1"]) == []
    assert not Discrepancy.objects.exists()


# --- resolving --------------------------------------------------------------------------------------------------------


def test_a_missing_item_becomes_a_loss_case(world, shelf):
    rifles, _ = shelf
    missing = one_missing(world)
    resolved = counts.resolve(
        discrepancy=missing, actor=world.frank, explanation="Not found anywhere", open_loss_case=True
    )
    case = LossCase.objects.get(item=rifles[2])
    assert state(resolved) == ("loss_case", world.frank.pk, case.pk, None)
    assert (case.kind, case.last_armory, case.circumstances) == ("unaccounted", world.armory_a, "Not found anywhere")
    with pytest.raises(Refused) as refusal:
        counts.resolve(discrepancy=missing, actor=world.frank, explanation="Found it after all")
    assert refusal.value.code == "already_resolved"


def test_a_resolution_refused_at_its_last_step_leaves_no_loss_case(world, shelf, monkeypatch):
    """The loss case and the resolution are one transaction: when the resolution is refused as it is written (a
    second resolver got there first), the case, its ledger event and the freeze go with it."""
    from muster.custody.models import LedgerEvent

    missing = one_missing(world)
    events = LedgerEvent.objects.count()

    def beaten(**kwargs):
        raise Refused("This discrepancy is already resolved.", code="already_resolved")

    monkeypatch.setattr(counts, "_settle", beaten)
    with pytest.raises(Refused):
        counts.resolve(discrepancy=missing, actor=world.frank, explanation="Not found anywhere", open_loss_case=True)
    assert state(missing) == UNRESOLVED
    assert (LossCase.objects.count(), LedgerEvent.objects.count()) == (0, events)


def test_a_missing_item_is_found_only_when_scanned_back(world, shelf):
    rifles, _ = shelf
    missing = one_missing(world)
    with pytest.raises(Refused) as refusal:
        counts.resolve(discrepancy=missing, actor=world.dave, explanation="The commander says it is there")
    assert refusal.value.code == "found_needs_rescan"
    assert state(missing) == UNRESOLVED and not CountScan.objects.filter(rescan=True).exists()
    counts.resolve(
        discrepancy=missing, actor=world.dave, explanation="On the cleaning bench behind the rack", scanned_code=" A-2 "
    )
    rescan = CountScan.objects.get(rescan=True)
    assert (rescan.count_id, rescan.item, rescan.code, rescan.scanned_by) == (
        missing.count_id,
        rifles[2],
        "A-2",
        world.dave,
    )
    assert state(missing) == ("found", world.dave.pk, None, rescan.pk)


def test_the_counter_resolves_their_own_missing_item_only_by_scanning_it(world, shelf):
    missing = one_missing(world)
    with pytest.raises(Refused) as refusal:
        counts.resolve(discrepancy=missing, actor=world.alice, explanation="I am sure it was there")
    assert refusal.value.code == "found_needs_rescan"
    assert state(missing) == UNRESOLVED
    counts.resolve(
        discrepancy=missing, actor=world.alice, explanation="Was in the gun cleaning room", scanned_code="A-2"
    )
    assert state(missing)[:2] == ("found", world.alice.pk)


def test_it_refuses_a_scan_of_another_item(world, shelf):
    missing = one_missing(world)
    with pytest.raises(Invalid) as refusal:
        counts.resolve(discrepancy=missing, actor=world.frank, explanation="Found on the rack", scanned_code="A-0")
    assert refusal.value.code == "scan_not_the_item"
    assert state(missing) == UNRESOLVED and not CountScan.objects.filter(rescan=True).exists()


def test_it_refuses_to_find_an_item_the_books_moved_elsewhere(world, shelf):
    rifles, _ = shelf
    missing = one_missing(world)
    services.issue(item=rifles[2], member=world.bob_member, actor=world.rita)
    with pytest.raises(Refused) as refusal:
        counts.resolve(discrepancy=missing, actor=world.frank, explanation="Found on the rack", scanned_code="A-2")
    assert refusal.value.code == "item_not_in_armory"
    assert state(missing) == UNRESOLVED and not CountScan.objects.filter(rescan=True).exists()


@pytest.mark.parametrize("explanation", ["", "   ", "ok", "found it"])
def test_it_refuses_a_resolution_without_a_real_explanation(world, shelf, explanation):
    missing = one_missing(world)
    for extra in ({"scanned_code": "A-2"}, {"open_loss_case": True}):
        with pytest.raises(Invalid) as refusal:
            counts.resolve(discrepancy=missing, actor=world.frank, explanation=explanation, **extra)
        assert refusal.value.code == "explanation_missing"
    assert state(missing) == UNRESOLVED
    assert not LossCase.objects.exists() and not CountScan.objects.filter(rescan=True).exists()


def test_it_refuses_a_scan_and_a_loss_case_together(world, shelf):
    missing = one_missing(world)
    with pytest.raises(Invalid) as refusal:
        counts.resolve(discrepancy=missing, actor=world.frank, explanation="Found on the rack", scanned_code="A-2",
                       open_loss_case=True)  # fmt: skip
    assert refusal.value.code == "found_or_loss_case"
    assert state(missing) == UNRESOLVED and not LossCase.objects.exists()


def test_other_kinds_are_explained_and_take_no_scan_nor_loss_case(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    found = {d.kind: d for d in finish(count, world.alice, ["A-0", "A-1", "A-2", "A-2", "ZZ-1"])}
    unknown, duplicate = found["unknown"], found["duplicate"]
    for extra in ({"scanned_code": "ZZ-1"}, {"open_loss_case": True}):
        with pytest.raises(Invalid) as refusal:
            counts.resolve(discrepancy=unknown, actor=world.frank, explanation="Old label of a scrapped rifle", **extra)
        assert refusal.value.code == "not_missing"
    assert state(unknown) == UNRESOLVED and not LossCase.objects.exists()
    counts.resolve(discrepancy=unknown, actor=world.frank, explanation="Old label of a scrapped rifle")
    counts.resolve(discrepancy=duplicate, actor=world.alice, explanation="Scanned A-2 twice by mistake")
    assert state(unknown)[:2] == ("found", world.frank.pk) and state(duplicate)[:2] == ("found", world.alice.pk)


def test_only_staff_of_the_armorys_unit_resolve(world, shelf):
    missing = one_missing(world)
    for who in (world.erin, world.bob, world.carol):
        with pytest.raises(NotPermitted):
            counts.resolve(discrepancy=missing, actor=who, explanation="On the cleaning bench", scanned_code="A-2")
    assert state(missing) == UNRESOLVED


# --- signing and closing ----------------------------------------------------------------------------------------------


def test_a_count_is_not_signed_while_a_discrepancy_is_unresolved(world, shelf):
    missing = one_missing(world)
    count = missing.count
    with pytest.raises(Refused) as refusal:
        counts.sign(count=count, actor=world.frank)
    assert refusal.value.code == "discrepancies_unresolved"
    count.refresh_from_db()
    assert (count.status, count.signed_by, count.signed_at) == (Count.Status.SUBMITTED, None, None)
    counts.resolve(discrepancy=missing, actor=world.frank, explanation="Behind the rack", scanned_code="A-2")
    counts.sign(count=count, actor=world.dave)
    count.refresh_from_db()
    assert (count.status, count.signed_by) == (Count.Status.CLOSED, world.dave)


def test_no_count_starts_while_an_earlier_one_has_unresolved_discrepancies(world, shelf):
    """A count closed before resolution was enforced (or by hand in the database) still blocks the next."""
    missing = one_missing(world)
    Count.objects.filter(pk=missing.count_id).update(status=Count.Status.CLOSED, signed_by=world.dave,
                                                     signed_at=timezone.now())  # fmt: skip
    with pytest.raises(Refused) as refusal:
        counts.start(armory=world.armory_a, actor=world.frank)
    assert refusal.value.code == "discrepancies_unresolved"
    assert Count.objects.count() == 1
    counts.resolve(discrepancy=missing, actor=world.dave, explanation="Opened as a loss", open_loss_case=True)
    assert counts.start(armory=world.armory_a, actor=world.frank).status == Count.Status.IN_PROGRESS


def test_without_a_second_signature_the_last_resolution_closes_the_count(world, shelf):
    set_unit_policy(unit=world.unit_a, actor=world.dave, second_signature=False)
    count = counts.start(armory=world.armory_a, actor=world.alice)
    found = finish(count, world.alice, ["A-0", "A-0", "A-1"])  # A-2 missing, A-0 twice
    count.refresh_from_db()
    assert count.status == Count.Status.SUBMITTED  # not closed while anything is unresolved
    by_kind = {d.kind: d for d in found}
    counts.resolve(discrepancy=by_kind["duplicate"], actor=world.alice, explanation="Scanned A-0 twice by mistake")
    count.refresh_from_db()
    assert count.status == Count.Status.SUBMITTED
    counts.resolve(discrepancy=by_kind["missing"], actor=world.alice, explanation="On the bench", scanned_code="A-2")
    count.refresh_from_db()
    assert (count.status, count.signed_by) == (Count.Status.CLOSED, None) and count.signed_at is not None


def test_without_a_second_signature_a_clean_count_closes_at_once(world, shelf):
    set_unit_policy(unit=world.unit_a, actor=world.dave, second_signature=False)
    count = counts.start(armory=world.armory_a, actor=world.alice)
    assert finish(count, world.alice, ["A-0", "A-1", "A-2"]) == []
    count.refresh_from_db()
    assert count.status == Count.Status.CLOSED and count.signed_at == count.submitted_at


def test_the_counter_rotates_unless_the_units_policy_says_otherwise(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    finish(count, world.alice, ["A-0", "A-1", "A-2"])
    counts.sign(count=count, actor=world.frank)
    with pytest.raises(Refused) as refusal:
        counts.start(armory=world.armory_a, actor=world.alice)
    assert refusal.value.code == "same_counter"
    set_unit_policy(unit=world.unit_a, actor=world.dave, counter_rotates=False)
    again = counts.start(armory=world.armory_a, actor=world.alice)
    assert again.counter == world.alice and again.status == Count.Status.IN_PROGRESS


def test_the_rules_are_the_units(world):
    set_unit_policy(unit=world.region, actor=make_commander_of(world.region), count_frequency="daily")
    set_unit_policy(unit=world.unit_b, actor=make_commander_of(world.unit_b), second_signature=False)
    rules = counts.policies([world.armory_a, world.armory_b])
    assert rules[world.armory_a.pk] == counts.CountRules("daily", True, True)
    assert rules[world.armory_b.pk] == counts.CountRules("daily", True, False)
    assert counts.policy(world.armory_a).frequency_label == "Daily"


def make_commander_of(unit):
    from muster.core.testing import make_account
    from muster.members.models import Role

    return make_account(f"cmd-{unit.code}", roles=[(Role.COMMANDER, unit)])


def test_who_may_count_scan_and_sign(world, shelf):
    for who in (world.bob, world.erin, world.carol):
        with pytest.raises(NotPermitted):
            counts.start(armory=world.armory_a, actor=who)
    count = counts.start(armory=world.armory_a, actor=world.frank)
    with pytest.raises(NotPermitted):
        counts.scan(count=count, code="A-0", actor=world.alice)
    with pytest.raises(Refused):
        counts.start(armory=world.armory_a, actor=world.alice)  # one count at a time


# --- reminders --------------------------------------------------------------------------------------------------------


def subjects() -> list[tuple[str, str]]:
    rows = Notification.objects.filter(subject__startswith="Unresolved count discrepancy")
    return sorted(rows.values_list("recipient__username", "subject"))


def test_unresolved_discrepancies_remind_the_armorers_then_the_commanders_once(
    world, shelf, settings, django_capture_on_commit_callbacks
):
    settings.MUSTER_DISCREPANCY_REMINDER_HOURS = 6
    missing = one_missing(world)
    submitted = Count.objects.get(pk=missing.count_id).submitted_at
    with django_capture_on_commit_callbacks(execute=True):
        assert counts.remind_unresolved(submitted + timedelta(hours=5)) == {"armorers": 0, "commanders": 0}
        assert counts.remind_unresolved(submitted + timedelta(hours=7)) == {"armorers": 1, "commanders": 0}
        assert counts.remind_unresolved(submitted + timedelta(hours=8)) == {"armorers": 0, "commanders": 0}
    subject = "Unresolved count discrepancy: missing AK-74M assault rifle #A-2 at ARM-A"
    assert {name for name, text in subjects() if text == subject} == {"alice", "rita"}
    with django_capture_on_commit_callbacks(execute=True):
        assert counts.remind_unresolved(submitted + timedelta(hours=13)) == {"armorers": 0, "commanders": 1}
        assert counts.remind_unresolved(submitted + timedelta(hours=30)) == {"armorers": 0, "commanders": 0}
    assert [name for name, text in subjects() if "(escalated)" in text] == ["dave"]
    missing.refresh_from_db()
    assert missing.armorers_reminded_at == submitted + timedelta(hours=7)
    assert missing.commanders_reminded_at == submitted + timedelta(hours=13)


def test_a_late_first_run_reminds_both_levels_at_once(world, shelf, settings):
    settings.MUSTER_DISCREPANCY_REMINDER_HOURS = 6
    missing = one_missing(world)
    submitted = Count.objects.get(pk=missing.count_id).submitted_at
    assert counts.remind_unresolved(submitted + timedelta(hours=12)) == {"armorers": 1, "commanders": 1}


def test_a_resolved_discrepancy_reminds_nobody(world, shelf, settings):
    settings.MUSTER_DISCREPANCY_REMINDER_HOURS = 6
    missing = one_missing(world)
    counts.resolve(discrepancy=missing, actor=world.frank, explanation="Behind the rack", scanned_code="A-2")
    submitted = Count.objects.get(pk=missing.count_id).submitted_at
    assert counts.remind_unresolved(submitted + timedelta(days=3)) == {"armorers": 0, "commanders": 0}
    missing.refresh_from_db()
    assert (missing.armorers_reminded_at, missing.commanders_reminded_at) == (None, None)


def test_the_worker_job_sends_the_reminders(world, shelf, settings):
    settings.MUSTER_DISCREPANCY_REMINDER_HOURS = 1
    missing = one_missing(world)
    Count.objects.filter(pk=missing.count_id).update(submitted_at=timezone.now() - timedelta(hours=3))
    assert tasks.remind_unresolved_discrepancies.call_local() == {"armorers": 1, "commanders": 1}
    assert tasks.remind_unresolved_discrepancies.call_local() == {"armorers": 0, "commanders": 0}


# --- schedules and keys -----------------------------------------------------------------------------------------------


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


@pytest.mark.django_db(transaction=True)
def test_the_migration_carries_an_armorys_own_rules_up_to_its_unit(world):
    """0014 removed the per-armory count policy: what an armory had set moves to its unit's policy, the strictest
    value where two armories of a unit disagree, and never over what the unit set itself."""
    from django.db.migrations.executor import MigrationExecutor

    from muster.custody.models import Armory
    from muster.custody.policy_models import UnitPolicy

    set_unit_policy(unit=world.unit_b, actor=make_commander_of(world.unit_b), count_frequency="weekly")
    second_a = Armory.objects.create(code="ARM-A2", name="Store A2", unit=world.unit_a)
    before = [("custody", "0013_armory_tally")]
    executor = MigrationExecutor(connection)
    after = executor.loader.graph.leaf_nodes()  # back to the latest state, which later tests expect
    executor.migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before[0]).apps.get_model("custody", "CountPolicy")
        old.objects.create(armory_id=world.armory_a.pk, frequency="monthly", counter_rotates=False,
                           second_signature=False)  # fmt: skip
        old.objects.create(armory_id=second_a.pk, frequency="daily", counter_rotates=True, second_signature=False)
        old.objects.create(armory_id=world.armory_b.pk, frequency="quarterly", counter_rotates=False,
                           second_signature=True)  # fmt: skip
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    rules = {
        row.unit.code: (row.count_frequency, row.counter_rotates, row.second_signature)
        for row in UnitPolicy.objects.select_related("unit")
    }
    assert rules == {"A": ("daily", True, False), "B": ("weekly", False, True)}
