"""Overdue escalation of items and of members' lot quantities: armorers first, commanders after the configured delay,
each notice once."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from muster.core.models import Notification
from muster.custody import lots, overdue, services, tasks
from muster.custody.lot_models import LotBalance
from muster.custody.models import Item, LotOverdueNotice, OverdueNotice
from muster.custody.testing import make_item, make_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def late_rifle(world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(hours=1))
    return Item.objects.get(pk=item.pk)


def recipients(subject_start: str) -> set[str]:
    return set(
        Notification.objects.filter(subject__startswith=subject_start).values_list("recipient__username", flat=True)
    )


def test_nothing_happens_before_the_due_time(late_rifle):
    assert overdue.scan() == {"armorer": 0, "commander": 0}


def test_armorers_hear_first_then_commanders_once(world, late_rifle, settings, django_capture_on_commit_callbacks):
    settings.MUSTER_OVERDUE_ESCALATION_HOURS = 12
    with django_capture_on_commit_callbacks(execute=True):
        assert overdue.scan(late_rifle.due_at + timedelta(minutes=5)) == {"armorer": 1, "commander": 0}
    assert recipients("Overdue:") == {"alice", "rita"}
    with django_capture_on_commit_callbacks(execute=True):
        assert overdue.scan(late_rifle.due_at + timedelta(hours=3)) == {"armorer": 0, "commander": 0}
        assert overdue.scan(late_rifle.due_at + timedelta(hours=13)) == {"armorer": 0, "commander": 1}
        assert overdue.scan(late_rifle.due_at + timedelta(hours=20)) == {"armorer": 0, "commander": 0}
    assert recipients("Overdue (escalated)") == {"dave"}
    assert OverdueNotice.objects.count() == 2


def test_a_new_issue_of_the_same_item_starts_a_new_clock(world, late_rifle):
    overdue.scan(late_rifle.due_at + timedelta(minutes=5))
    services.return_item(item=late_rifle, actor=world.alice)
    services.issue(
        item=late_rifle, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(hours=2)
    )
    late_rifle.refresh_from_db()
    assert overdue.scan(late_rifle.due_at + timedelta(minutes=1)) == {"armorer": 1, "commander": 0}


def test_the_worker_job_runs_the_scan(late_rifle):
    assert tasks.escalate_overdue_items.call_local() == {"armorer": 0, "commander": 0}


# --- members' quantities of lots ------------------------------------------------------------------------------------


@pytest.fixture
def late_lot(world):
    lot = make_lot(world.armory_a, world.alice, quantity=500, number="7N6-LATE")
    lots.issue(
        lot=lot, member=world.bob_member, quantity=40, actor=world.alice, due_at=timezone.now() + timedelta(hours=1)
    )
    return lot


def bobs_balance(lot) -> LotBalance:
    """The one member's balance of the lot (bob is its only holder in these tests)."""
    return LotBalance.objects.get(lot=lot, holder_kind="member")


def test_a_lot_quantity_escalates_to_armorers_then_commanders_once(
    world, late_lot, settings, django_capture_on_commit_callbacks
):
    settings.MUSTER_OVERDUE_ESCALATION_HOURS = 12
    balance = bobs_balance(late_lot)
    assert overdue.scan(balance.due_at - timedelta(minutes=5)) == {"armorer": 0, "commander": 0}
    with django_capture_on_commit_callbacks(execute=True):
        assert overdue.scan(balance.due_at + timedelta(minutes=5)) == {"armorer": 1, "commander": 0}
    assert recipients("Overdue: 40 × 5.45×39 mm ball lot 7N6-LATE held by") == {"alice", "rita"}
    with django_capture_on_commit_callbacks(execute=True):
        assert overdue.scan(balance.due_at + timedelta(hours=3)) == {"armorer": 0, "commander": 0}
        assert overdue.scan(balance.due_at + timedelta(hours=13)) == {"armorer": 0, "commander": 1}
        assert overdue.scan(balance.due_at + timedelta(hours=20)) == {"armorer": 0, "commander": 0}
    assert recipients("Overdue (escalated): 40 × 5.45×39 mm ball lot 7N6-LATE") == {"dave"}
    notices = LotOverdueNotice.objects.order_by("sent_at")
    assert [(n.balance_id, n.due_at, n.level) for n in notices] == [
        (balance.pk, balance.due_at, "armorer"), (balance.pk, balance.due_at, "commander"),
    ]  # fmt: skip
    assert not OverdueNotice.objects.exists()  # the items' notices are a table of their own
    escalated = Notification.objects.get(subject__startswith="Overdue (escalated)")
    assert escalated.url == reverse("lot-page", args=[late_lot.pk])


def test_items_and_lots_are_counted_together_by_level(world, late_lot, late_rifle):
    later = max(late_rifle.due_at, bobs_balance(late_lot).due_at) + timedelta(minutes=5)
    assert overdue.scan(later) == {"armorer": 2, "commander": 0}
    assert (OverdueNotice.objects.count(), LotOverdueNotice.objects.count()) == (1, 1)


def test_a_returned_lot_quantity_does_not_escalate(world, late_lot):
    due = bobs_balance(late_lot).due_at
    lots.return_quantity(lot=late_lot, member=world.bob_member, quantity=40, actor=world.alice)
    assert overdue.scan(due + timedelta(hours=30)) == {"armorer": 0, "commander": 0}
    assert not LotOverdueNotice.objects.exists()


def test_a_later_issue_of_the_lot_starts_a_new_clock(world, late_lot):
    first_due = bobs_balance(late_lot).due_at
    assert overdue.scan(first_due + timedelta(minutes=5)) == {"armorer": 1, "commander": 0}
    lots.issue(lot=late_lot, member=world.bob_member, quantity=10, actor=world.alice,
               due_at=timezone.now() + timedelta(hours=4))  # fmt: skip
    balance = bobs_balance(late_lot)
    assert balance.due_at > first_due and balance.quantity == 50
    assert overdue.scan(first_due + timedelta(hours=1)) == {"armorer": 0, "commander": 0}  # not due any more
    assert overdue.scan(balance.due_at + timedelta(minutes=1)) == {"armorer": 1, "commander": 0}
    assert LotOverdueNotice.objects.filter(balance=balance).count() == 2
