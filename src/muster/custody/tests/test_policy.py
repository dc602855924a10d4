"""Per-unit custody policy: inheritance down the unit tree, site defaults, the service that changes it (commanders
only, validated, audited), and its effect on due-back, the loss deadline, overdue escalation and counts.
The web page and the API are in test_policy_faces.py."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted
from muster.core.models import AuditEvent, Notification
from muster.core.testing import make_account, make_unit
from muster.custody import counts, losses, overdue, policy, services
from muster.custody.models import Count, Item, LossCase, OverdueNotice
from muster.custody.policy_models import UnitPolicy
from muster.custody.testing import make_item, make_item_type
from muster.members.models import Role

pytestmark = pytest.mark.django_db


def set_policy(unit, **fields) -> UnitPolicy:
    """Straight into the table: for tests about the effect of a policy, not about who may set it."""
    row, _ = UnitPolicy.objects.update_or_create(unit=unit, defaults=fields)
    return row


def policy_state() -> tuple:
    """Everything set_unit_policy could change."""
    return (
        list(UnitPolicy.objects.order_by("pk").values()),
        AuditEvent.objects.filter(kind=policy.AUDIT_KIND).count(),
    )


# --- what is in force ------------------------------------------------------------------------------------------


def test_without_any_policy_the_site_settings_apply(world, settings):
    settings.MUSTER_DEFAULT_LOAN_HOURS, settings.MUSTER_LOSS_REPORT_HOURS = 100, 30
    settings.MUSTER_OVERDUE_ESCALATION_HOURS = 5
    rules = policy.effective(world.unit_a)
    assert (rules.default_loan_hours, rules.loss_report_hours, rules.overdue_escalation_hours) == (100, 30, 5)
    assert (rules.counter_rotates, rules.second_signature, rules.count_frequency) == (True, True, "weekly")
    assert set(rules.sources.values()) == {None}


def test_each_setting_comes_from_the_nearest_unit_that_sets_it(world, settings):
    settings.MUSTER_LOSS_REPORT_HOURS = 24
    platoon = make_unit("A1", parent=world.unit_a)
    set_policy(world.region, default_loan_hours=72, counter_rotates=False, count_frequency="monthly")
    set_policy(world.unit_a, default_loan_hours=48, second_signature=False)
    set_policy(platoon, count_frequency="daily")
    rules = policy.effective(platoon)
    assert (rules.default_loan_hours, rules.counter_rotates, rules.second_signature) == (48, False, False)
    assert (rules.count_frequency, rules.loss_report_hours) == ("daily", 24)
    assert rules.sources["default_loan_hours"] == world.unit_a
    assert rules.sources["counter_rotates"] == world.region
    assert rules.sources["count_frequency"] == platoon
    assert rules.sources["loss_report_hours"] is None
    sibling = policy.effective(world.unit_b)  # B sits under the region too, beside A
    assert (sibling.default_loan_hours, sibling.second_signature, sibling.count_frequency) == (72, True, "monthly")


def test_a_unit_that_clears_a_setting_inherits_it_again(world):
    set_policy(world.region, loss_report_hours=12)
    set_policy(world.unit_a, loss_report_hours=6)
    policy.set_unit_policy(unit=world.unit_a, actor=world.dave, loss_report_hours=None)
    rules = policy.effective(world.unit_a)
    assert (rules.loss_report_hours, rules.sources["loss_report_hours"]) == (12, world.region)


def test_the_chain_is_one_query_however_deep(world, django_assert_num_queries):
    unit = world.unit_a
    for depth in range(4):
        unit = make_unit(f"D{depth}", parent=unit)
        set_policy(unit, default_loan_hours=10 + depth)
    with django_assert_num_queries(1):
        rules = policy.effective(unit)
    assert rules.default_loan_hours == 13
    with django_assert_num_queries(1):
        many = policy.effective_many([world.unit_a, world.unit_b, unit])
    assert many[unit.pk].default_loan_hours == 13


@pytest.mark.parametrize(
    "fields",
    [
        {"default_loan_hours": 0},
        {"loss_report_hours": 0},
        {"overdue_escalation_hours": -1},
        {"count_frequency": "hourly"},
    ],
)
def test_the_database_refuses_impossible_values(world, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        UnitPolicy.objects.create(unit=world.unit_a, **fields)


# --- changing it -----------------------------------------------------------------------------------------------


def test_a_commander_sets_the_units_policy_and_it_is_audited(world):
    row = policy.set_unit_policy(
        unit=world.unit_a, actor=world.dave, default_loan_hours=36, second_signature=False, count_frequency="daily"
    )
    row.refresh_from_db()
    assert (row.default_loan_hours, row.second_signature, row.count_frequency) == (36, False, "daily")
    assert row.loss_report_hours is None  # not named: still inherited
    assert row.updated_by == world.dave and row.updated_at is not None
    event = AuditEvent.objects.get(kind=policy.AUDIT_KIND)
    assert (event.account, event.username) == (world.dave, "dave")
    assert event.detail == (
        "custody policy of A: default_loan_hours inherit→36, second_signature inherit→False, "
        "count_frequency inherit→daily"
    )


def test_a_commander_above_may_set_a_units_policy(world):
    regional = make_account("regina", roles=[(Role.COMMANDER, world.region)])
    policy.set_unit_policy(unit=world.unit_a, actor=regional, overdue_escalation_hours=0)
    assert UnitPolicy.objects.get(unit=world.unit_a).overdue_escalation_hours == 0  # commanders told at once


def test_only_the_named_settings_change(world):
    policy.set_unit_policy(unit=world.unit_a, actor=world.dave, default_loan_hours=36, counter_rotates=False)
    policy.set_unit_policy(unit=world.unit_a, actor=world.dave, default_loan_hours=12)
    row = UnitPolicy.objects.get(unit=world.unit_a)
    assert (row.default_loan_hours, row.counter_rotates) == (12, False)
    assert AuditEvent.objects.filter(kind=policy.AUDIT_KIND).count() == 2


def test_saving_what_is_already_there_writes_nothing(world):
    policy.set_unit_policy(unit=world.unit_a, actor=world.dave, default_loan_hours=36)
    before = policy_state()
    policy.set_unit_policy(unit=world.unit_a, actor=world.dave, default_loan_hours=36, loss_report_hours=None)
    policy.set_unit_policy(unit=make_unit("A1", parent=world.unit_a), actor=world.dave, counter_rotates=None)
    assert policy_state() == before  # no new row for a unit that inherits everything


def test_who_may_not_change_it(world):
    cora = make_account("cora", roles=[(Role.COMMANDER, world.unit_b)])
    retired = make_account("retired", roles=[(Role.COMMANDER, world.unit_a)])
    retired.is_active = False
    retired.save()
    before = policy_state()
    for who, unit in [
        (world.alice, world.unit_a),  # an armorer
        (world.erin, world.unit_a),  # an auditor
        (world.bob, world.unit_a),
        (cora, world.unit_a),  # a commander of another unit
        (world.dave, world.region),  # a commander below the unit
        (retired, world.unit_a),  # a disabled account
    ]:
        with pytest.raises(NotPermitted) as refusal:
            policy.set_unit_policy(unit=unit, actor=who, default_loan_hours=1)
        assert refusal.value.code == "not_commander", who
    assert policy_state() == before


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"default_loan_hours": 0}, "hours_out_of_range"),
        ({"loss_report_hours": -3}, "hours_out_of_range"),
        ({"overdue_escalation_hours": -1}, "hours_out_of_range"),
        ({"default_loan_hours": policy.MAX_HOURS + 1}, "hours_out_of_range"),
        ({"default_loan_hours": "12"}, "hours_not_whole"),
        ({"loss_report_hours": 1.5}, "hours_not_whole"),
        ({"default_loan_hours": True}, "hours_not_whole"),
        ({"counter_rotates": "yes"}, "not_yes_or_no"),
        ({"second_signature": 1}, "not_yes_or_no"),
        ({"count_frequency": "hourly"}, "unknown_frequency"),
        ({"loan_hours": 12}, "unknown_setting"),
        ({"default_loan_hours": 12, "count_frequency": "fortnightly"}, "unknown_frequency"),  # nothing half-saved
    ],
)
def test_invalid_settings_are_refused_and_change_nothing(world, fields, code):
    policy.set_unit_policy(unit=world.unit_a, actor=world.dave, default_loan_hours=40)
    before = policy_state()
    with pytest.raises(Invalid) as refusal:
        policy.set_unit_policy(unit=world.unit_a, actor=world.dave, **fields)
    assert refusal.value.code == code
    assert policy_state() == before


# --- its effect ------------------------------------------------------------------------------------------------


def due_hours(event) -> float:
    return round((event.due_at - event.recorded_at).total_seconds() / 3600)


def test_the_due_back_default_comes_from_the_item_type_else_the_unit_else_the_site(world, settings):
    settings.MUSTER_DEFAULT_LOAN_HOURS = 168
    plain, timed = make_item_type("Radio", category="radio"), make_item_type("Jammer", category="jammer")
    timed.default_loan_hours = 4
    timed.save()
    set_policy(world.region, default_loan_hours=48)
    set_policy(world.unit_a, default_loan_hours=10)
    issue = services.issue
    assert due_hours(issue(item=make_item(world.armory_a, world.alice, item_type=plain), member=world.bob_member,
                           actor=world.alice)) == 10  # fmt: skip
    assert due_hours(issue(item=make_item(world.armory_a, world.alice, item_type=timed), member=world.bob_member,
                           actor=world.alice)) == 4  # fmt: skip
    assert due_hours(issue(item=make_item(world.armory_b, world.carol, item_type=plain), member=world.member_b,
                           actor=world.carol)) == 48  # fmt: skip
    UnitPolicy.objects.all().delete()
    assert due_hours(issue(item=make_item(world.armory_b, world.carol, item_type=plain), member=world.member_b,
                           actor=world.carol)) == 168  # fmt: skip


def test_a_given_due_back_time_is_not_touched_by_the_policy(world):
    set_policy(world.unit_a, default_loan_hours=2)
    due = timezone.now() + timedelta(hours=30)
    event = services.issue(item=make_item(world.armory_a, world.alice), member=world.bob_member, actor=world.alice,
                           due_at=due)  # fmt: skip
    assert event.due_at == due


def open_loss(world, armory, actor):
    return losses.open_case(
        item=make_item(armory, actor), kind="lost", circumstances="Not found after the exercise.",
        occurred_at=timezone.now() - timedelta(hours=1), place="Range", actor=actor,
    )  # fmt: skip


def test_the_loss_deadline_follows_the_policy_of_the_items_unit(world, settings):
    settings.MUSTER_LOSS_REPORT_HOURS = 24
    set_policy(world.unit_a, loss_report_hours=6)
    in_a, in_b = open_loss(world, world.armory_a, world.alice), open_loss(world, world.armory_b, world.carol)
    assert in_a.deadline - in_a.opened_at == timedelta(hours=6)
    assert in_b.deadline - in_b.opened_at == timedelta(hours=24)
    escalated = losses.escalate_overdue(timezone.now() + timedelta(hours=7))
    assert [case.pk for case in escalated] == [in_a.pk]
    assert LossCase.objects.get(pk=in_b.pk).status == LossCase.Status.OPEN


def test_overdue_items_reach_the_commanders_after_the_units_delay(world, settings, django_capture_on_commit_callbacks):
    settings.MUSTER_OVERDUE_ESCALATION_HOURS = 12
    set_policy(world.unit_a, overdue_escalation_hours=2)
    due = timezone.now() + timedelta(hours=1)
    in_a = make_item(world.armory_a, world.alice)
    services.issue(item=in_a, member=world.bob_member, actor=world.alice, due_at=due)
    in_b = make_item(world.armory_b, world.carol)
    services.issue(item=in_b, member=world.member_b, actor=world.carol, due_at=due)
    escalated = OverdueNotice.objects.filter(level=OverdueNotice.Level.COMMANDER)
    with django_capture_on_commit_callbacks(execute=True):
        assert overdue.scan(due + timedelta(hours=1)) == {"armorer": 2, "commander": 0}
        assert overdue.scan(due + timedelta(hours=3)) == {"armorer": 0, "commander": 1}  # A's 2 h, not B's 12 h
        assert list(escalated.values_list("item_id", flat=True)) == [in_a.pk]
        assert overdue.scan(due + timedelta(hours=13)) == {"armorer": 0, "commander": 1}
    assert set(escalated.values_list("item_id", flat=True)) == {in_a.pk, in_b.pk}
    assert Notification.objects.filter(subject__startswith="Overdue (escalated)", recipient=world.dave).count() == 1


@pytest.fixture
def shelf(world):
    return [make_item(world.armory_a, world.alice, serial=f"A-{n}") for n in range(2)]


def count_through(armory, actor, codes) -> Count:
    count = counts.start(armory=armory, actor=actor)
    for code in codes:
        counts.scan(count=count, code=code, actor=actor)
    counts.submit(count=count, actor=actor)
    count.refresh_from_db()
    return count


def test_the_units_count_rules_apply_where_the_armory_has_none(world, shelf):
    set_policy(world.region, second_signature=False, counter_rotates=False)
    first = count_through(world.armory_a, world.alice, ["A-0", "A-1"])
    assert first.status == Count.Status.CLOSED  # no second signature in this region
    again = count_through(world.armory_a, world.alice, ["A-0", "A-1"])  # the same counter again
    assert again.status == Count.Status.CLOSED


def test_counts_come_due_at_the_units_frequency(world):
    two_days_ago = timezone.now() - timedelta(days=2)
    for armory in (world.armory_a, world.armory_b):
        Count.objects.create(armory=armory, status=Count.Status.CLOSED, counter=world.alice, signed_by=world.frank,
                             started_at=two_days_ago, signed_at=two_days_ago)  # fmt: skip
    set_policy(world.unit_a, count_frequency="daily")
    due = counts.schedule()
    assert [(count.armory, count.reason) for count in due] == [(world.armory_a, "scheduled daily count")]
    assert counts.policy(world.armory_b).frequency == "weekly"


def test_an_item_still_issues_when_its_armory_unit_has_no_policy_row(world):
    """No row anywhere is the common case: nothing is created by reading."""
    services.issue(item=make_item(world.armory_a, world.alice), member=world.bob_member, actor=world.alice)
    assert not UnitPolicy.objects.exists()
    assert Item.objects.filter(holder_member=world.bob_member).count() == 1
