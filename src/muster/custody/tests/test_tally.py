"""The armory tally: kept by triggers through every custody move, recounted by verify, and the dashboard's states
read from it equal a plain count of the items."""

import random
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from muster.core.testing import make_member
from muster.custody import dashboard, handover, ledger, losses, maintenance, services, tallies
from muster.custody.models import Armory, ArmoryTally, HolderKind, Item, LossCase
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def workshop(world):
    return Armory.objects.create(code="WS-A", name="Gunsmith A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)


def tally() -> dict[tuple[int, str, int], int]:
    rows = ArmoryTally.objects.filter(items__gt=0)
    return {(home, kind, holder): n for home, kind, holder, n in rows.values_list(
        "home_armory_id", "holder_kind", "holder_armory_id", "items")}  # fmt: skip


def test_it_follows_every_move_of_an_item(world, workshop):
    a = world.armory_a.pk
    rifles = [make_item(world.armory_a, world.alice) for _ in range(3)]
    assert tally() == {(a, "armory", a): 3}
    services.issue(item=rifles[0], member=world.bob_member, actor=world.alice)
    maintenance.send(item=rifles[1], workshop=workshop, actor=world.alice, reason="Trigger sticks")
    assert tally() == {(a, "armory", a): 1, (a, "member", 0): 1, (a, "armory", workshop.pk): 1}
    relief = make_member(world.unit_a)
    pins = {world.bob_member: "4711", relief: "5566"}
    for member, pin in pins.items():
        handover.set_pin(member=member, pin=pin, actor=world.alice)
    giver, receiver = (
        handover.confirm(member=member, pin=pin, actor=world.alice, purpose="transfer") for member, pin in pins.items()
    )
    services.transfer(item=rifles[0], to_member=relief, actor=world.alice, giver=giver, receiver=receiver)
    assert tally() == {(a, "armory", a): 1, (a, "member", 0): 1, (a, "armory", workshop.pk): 1}
    services.return_item(item=rifles[0], actor=world.alice)
    maintenance.receive(item=rifles[1], actor=world.alice, condition=Item.Condition.SERVICEABLE, notes="fixed")
    assert tally() == {(a, "armory", a): 3}
    assert tallies.drift() == ""


def test_verify_finds_a_tally_that_was_altered(world):
    make_item(world.armory_a, world.alice)
    assert ledger.verify().ok
    ArmoryTally.objects.filter(home_armory=world.armory_a).update(items=5)
    result = ledger.verify()
    assert not result.ok
    assert result.problem == (
        f"the armory tally says 5 items of armory {world.armory_a.pk} are held by armory {world.armory_a.pk}, "
        "the items table 1"
    )
    tallies.rebuild()
    assert ledger.verify().ok and tally() == {(world.armory_a.pk, "armory", world.armory_a.pk): 1}


def test_the_database_refuses_a_negative_tally(world):
    from django.db import IntegrityError, transaction

    make_item(world.armory_a, world.alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        ArmoryTally.objects.update(items=-1)


def plain_states(armories, now) -> dict[int, dashboard.States]:
    """The states counted item by item: the oracle the tally-based counts must equal."""
    lost = Exists(LossCase.objects.filter(item=OuterRef("pk"), closed_at=None))
    result: dict[int, dashboard.States] = {}
    items = Item.objects.filter(home_armory__in=armories).annotate(lost=lost).select_related("holder_armory")
    for item in items:
        row = result.setdefault(item.home_armory_id, dashboard.States())
        row.total += 1
        row.held_by_members += item.holder_kind == HolderKind.MEMBER
        if item.lost:
            row.lost += 1
        elif item.holder_kind == HolderKind.ARMORY:
            if item.holder_armory.kind == Armory.Kind.WORKSHOP:
                row.in_maintenance += 1
            else:
                row.in_armory += 1
        elif item.due_at < now:
            row.overdue += 1
        else:
            row.issued += 1
    return result


def test_the_dashboard_states_equal_a_plain_count_after_random_custody_work(world, workshop):
    rng = random.Random(4)
    for armory, actor in ((world.armory_a, world.alice), (world.armory_b, world.carol)):
        for _ in range(12):
            make_item(armory, actor)
    now = timezone.now()
    moved = list(Item.objects.filter(home_armory=world.armory_a).order_by("pk"))
    for item in moved:
        roll = rng.random()
        if roll < 0.5:
            due = now + timedelta(hours=rng.choice([1, 30]))
            services.issue(item=item, member=world.bob_member, actor=world.alice, due_at=due)
        elif roll < 0.7:
            maintenance.send(item=item, workshop=workshop, actor=world.alice, reason="service")
    for item in moved:  # losses last: a loss case freezes its custodian's further issues
        if rng.random() < 0.3:
            losses.open_case(item=item, kind=LossCase.Kind.LOST, circumstances="gone", place="range",
                             occurred_at=now - timedelta(hours=1), actor=world.alice)  # fmt: skip
    later = now + timedelta(hours=5)  # the one-hour loans are overdue by then
    armories = Armory.objects.all()
    counted = dashboard.state_counts(armories, later)
    expected = plain_states(armories, later)
    assert counted == expected
    a = counted[world.armory_a.pk]
    assert min(a.issued, a.overdue, a.lost, a.in_maintenance, a.in_armory) > 0  # every state was exercised
    assert counted[world.armory_b.pk] == dashboard.States(total=12, in_armory=12)


def test_the_dashboard_reads_the_same_number_of_queries_for_any_number_of_items(world, workshop):
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            dashboard.state_counts(Armory.objects.all(), timezone.now())
        return len(captured)

    make_item(world.armory_a, world.alice)
    few = queries()
    for _ in range(15):
        item = make_item(world.armory_a, world.alice)
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    assert queries() == few == 3


# --- the chart's kept daily nets ------------------------------------------------------------------------------------


def _midnight(day):
    from datetime import datetime, time

    return timezone.make_aware(datetime.combine(day, time.min))


def test_past_days_are_counted_once_and_kept_and_today_is_read_live(world):
    from muster.custody.tally_models import ArmoryDayNet, DayNetCounted

    today = timezone.localdate()
    rifles = [make_item(world.armory_a, world.alice) for _ in range(3)]
    with mock.patch(
        "django.utils.timezone.now", return_value=_midnight(today - timedelta(days=3)) + timedelta(hours=9)
    ):
        services.issue(item=rifles[0], member=world.bob_member, actor=world.alice)
        services.issue(item=rifles[1], member=world.bob_member, actor=world.alice)
    services.issue(item=rifles[2], member=world.bob_member, actor=world.alice)
    armories = Armory.objects.filter(pk=world.armory_a.pk)
    now = timezone.now()
    first = dashboard.items_out_series(armories, days=7, now=now, out_now=3)
    assert [point.out for point in first] == [0, 0, 0, 2, 2, 2, 3]
    assert ArmoryDayNet.objects.get().net == 2  # the day of the two issues; today is not kept
    counted = set(DayNetCounted.objects.values_list("day", flat=True))
    assert today not in counted and today - timedelta(days=1) in counted and len(counted) == 6

    def queries() -> int:
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            again = dashboard.items_out_series(armories, days=7, now=now, out_now=3)
        assert again == first
        return len(captured)

    assert queries() == 3  # counted days, their kept nets, today's events: nothing counted again


def test_a_day_is_kept_only_once_its_midnight_is_safely_past(world):
    from muster.custody.tally_models import DayNetCounted

    today = timezone.localdate()
    rifle = make_item(world.armory_a, world.alice)
    with mock.patch("django.utils.timezone.now", return_value=_midnight(today) - timedelta(seconds=30)):
        services.issue(item=rifle, member=world.bob_member, actor=world.alice)  # 23:59:30 yesterday
    just_after_midnight = _midnight(today) + timedelta(minutes=2)
    series = dashboard.items_out_series(Armory.objects.all(), days=3, now=just_after_midnight, out_now=1)
    assert [point.out for point in series] == [0, 1, 1]
    assert today - timedelta(days=1) not in set(DayNetCounted.objects.values_list("day", flat=True))


def test_the_worker_keeps_yesterdays_nets_before_anyone_asks(world):
    from muster.custody import tasks
    from muster.custody.tally_models import ArmoryDayNet, DayNetCounted

    today = timezone.localdate()
    rifle = make_item(world.armory_a, world.alice)
    with mock.patch("django.utils.timezone.now", return_value=_midnight(today) - timedelta(hours=3)):
        services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    with mock.patch("django.utils.timezone.now", return_value=_midnight(today) + timedelta(hours=1)):
        tasks.count_yesterdays_day_nets.call_local()
    assert list(DayNetCounted.objects.values_list("day", flat=True)) == [today - timedelta(days=1)]
    assert ArmoryDayNet.objects.get().net == 1
