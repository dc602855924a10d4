"""Overdue escalation: armorers first, commanders after the configured delay, each notice once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.models import Notification
from muster.custody import overdue, services, tasks
from muster.custody.models import Item, OverdueNotice
from muster.custody.testing import make_item

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
