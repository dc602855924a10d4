"""Loss cases: opening writes the ledger and freezes the custodian; the deadline escalates; recovery closes."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.models import ChangeRecord, Notification
from muster.custody import ledger, losses, services, tasks
from muster.custody.models import HolderKind, Item, LedgerEvent, LossCase
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost_with_bob(world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    case = losses.open_case(
        item=item,
        kind="lost",
        circumstances="Left in a patrol vehicle, gone next morning",
        occurred_at=timezone.now() - timedelta(hours=3),
        place="Checkpoint North",
        actor=world.frank,
    )
    return item, case


def test_opening_a_case_writes_a_loss_event_and_keeps_the_custodian(world, lost_with_bob):
    item, case = lost_with_bob
    event = LedgerEvent.objects.get(kind="loss")
    assert (event.from_member_id, event.to_member_id) == (world.bob_member.pk, world.bob_member.pk)
    assert case.opened_event == event and case.last_member == world.bob_member and case.is_open
    assert case.deadline - case.opened_at == timedelta(hours=24)
    item.refresh_from_db()
    assert item.holder_member == world.bob_member
    assert ledger.verify().ok


def test_the_last_custodian_is_frozen_and_the_item_cannot_move(world, lost_with_bob):
    item, _ = lost_with_bob
    other = make_item(world.armory_a, world.alice)
    with pytest.raises(Refused) as refusal:
        services.issue(
            item=other,
            member=world.bob_member,
            actor=world.alice,
            override=services.Override(commander=world.dave, reason="he needs one for the patrol"),
        )
    assert refusal.value.code == "member_frozen"
    with pytest.raises(Refused) as refusal:
        services.return_item(item=item, actor=world.alice)
    assert refusal.value.code == "item_lost"


def test_one_open_case_per_item(world, lost_with_bob):
    item, _ = lost_with_bob
    with pytest.raises(Refused) as refusal:
        losses.open_case(
            item=item, kind="stolen", circumstances="again", occurred_at=timezone.now(), place="x", actor=world.alice
        )
    assert refusal.value.code == "item_already_lost"
    with pytest.raises(IntegrityError), transaction.atomic():
        LossCase.objects.create(
            item=item,
            kind="lost",
            last_armory=world.armory_a,
            circumstances="x",
            occurred_at=timezone.now(),
            place="x",
            opened_at=timezone.now(),
            opened_by=world.alice,
            opened_event=LedgerEvent.objects.get(kind="loss"),
            deadline=timezone.now(),
        )


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"kind": "misplaced"}, "unknown_kind"),
        ({"circumstances": " "}, "circumstances_missing"),
        ({"occurred_at": timezone.now() + timedelta(days=1)}, "occurred_in_future"),
    ],
)
def test_bad_reports_are_refused(world, changes, code):
    item = make_item(world.armory_a, world.alice)
    report = {"kind": "lost", "circumstances": "gone", "occurred_at": timezone.now(), "place": "range"} | changes
    with pytest.raises(Invalid) as refusal:
        losses.open_case(item=item, actor=world.alice, **report)
    assert refusal.value.code == code
    assert not LossCase.objects.exists() and not LedgerEvent.objects.filter(kind="loss").exists()


def test_only_staff_of_the_unit_open_cases(world):
    item = make_item(world.armory_a, world.alice)
    for who in (world.bob, world.erin, world.carol):
        with pytest.raises(NotPermitted):
            losses.open_case(
                item=item, kind="lost", circumstances="gone", occurred_at=timezone.now(), place="x", actor=who
            )


def test_a_missed_deadline_escalates_and_notifies(world, lost_with_bob, django_capture_on_commit_callbacks):
    _, case = lost_with_bob
    assert losses.escalate_overdue() == []
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.escalate_loss_cases.call_local() == 0
        escalated = losses.escalate_overdue(now=case.deadline + timedelta(minutes=1))
    assert [c.pk for c in escalated] == [case.pk]
    case.refresh_from_db()
    assert case.status == LossCase.Status.ESCALATED and case.is_open
    assert Notification.objects.filter(subject__startswith="ESCALATED", recipient=world.dave).exists()
    # Not a custody event, so not in the ledger: the append-only change log keeps it.
    record = ChangeRecord.objects.get(object_type="custody.losscase", object_id=str(case.pk))
    assert (record.actor_name, record.unit, record.changes["status"]) == ("system", world.unit_a, ["open", "escalated"])


def test_a_reported_case_does_not_escalate(world, lost_with_bob):
    _, case = lost_with_bob
    losses.record_report_to_authorities(case=case, police_report_no="POL-2026-4471", actor=world.alice)
    assert losses.escalate_overdue(now=case.deadline + timedelta(hours=1)) == []
    record = ChangeRecord.objects.get(object_type="custody.losscase", object_id=str(case.pk))
    assert (record.actor, record.changes["police_report_no"]) == (world.alice, ["", "POL-2026-4471"])


def test_recovery_returns_the_item_to_an_armory_and_unfreezes(world, lost_with_bob):
    item, case = lost_with_bob
    event = losses.recover(
        case=case,
        armory=world.armory_a,
        actor=world.alice,
        notes="Handed in at the police station",
        condition="needs_repair",
    )
    item.refresh_from_db()
    case.refresh_from_db()
    assert (item.holder_kind, item.holder_armory, item.condition) == (HolderKind.ARMORY, world.armory_a, "needs_repair")
    assert (case.status, case.closed_event, case.is_open) == ("recovered", event, False)
    fresh = make_item(world.armory_a, world.alice)
    services.issue(item=fresh, member=world.bob_member, actor=world.alice)  # no longer frozen
    assert ledger.verify().ok
    with pytest.raises(Refused):
        losses.recover(case=case, armory=world.armory_a, actor=world.alice, notes="twice")


def test_an_item_lost_from_the_armory_names_the_armory(world):
    item = make_item(world.armory_a, world.alice)
    case = losses.open_case(
        item=item,
        kind="unaccounted",
        circumstances="Missing at the monthly count",
        occurred_at=timezone.now(),
        place="Arms room A",
        actor=world.alice,
    )
    assert case.last_armory == world.armory_a and case.last_member is None
    assert Item.objects.get(pk=item.pk).holder_armory == world.armory_a
