"""Member lifecycle: each transition allowed and refused, vetting records, and the recall cascade they trigger."""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.testing import make_member
from muster.custody import services as custody
from muster.custody.models import Recall
from muster.custody.testing import make_item
from muster.members import services
from muster.members.models import DisciplinaryEntry, Member, StatusChange, Vetting

pytestmark = pytest.mark.django_db

A, S, D, P = Member.Status.ACTIVE, Member.Status.SUSPENDED, Member.Status.DEPARTED, Member.Status.APPLICANT


@pytest.mark.parametrize(
    ("start", "end"),
    [(P, A), (P, D), (A, S), (A, D), (S, A), (S, D), (D, P)],
)
def test_allowed_transitions_change_the_status_and_record_who_when_why(world, start, end):
    member = make_member(world.unit_a, status=start)
    change = services.change_status(member=member, to_status=end, reason="board decision 12", actor=world.dave)
    member.refresh_from_db()
    assert member.status == end
    assert (change.from_status, change.to_status, change.reason, change.changed_by) == (
        start,
        end,
        "board decision 12",
        world.dave,
    )


@pytest.mark.parametrize(("start", "end"), [(P, S), (A, P), (S, P), (D, A), (D, S), (A, A)])
def test_other_transitions_are_refused_and_change_nothing(world, start, end):
    member = make_member(world.unit_a, status=start)
    with pytest.raises(Refused) as refusal:
        services.change_status(member=member, to_status=end, reason="try", actor=world.dave)
    assert refusal.value.code == "status_change_refused"
    member.refresh_from_db()
    assert member.status == start
    assert not StatusChange.objects.filter(member=member).exists()


def test_activation_needs_a_valid_vetting(world):
    member = make_member(world.unit_a, status=P, vetted_days=-1)
    with pytest.raises(Refused) as refusal:
        services.change_status(member=member, to_status=A, reason="sworn in", actor=world.dave)
    assert refusal.value.code == "vetting_required"
    member.refresh_from_db()
    assert member.status == P


def test_only_a_commander_of_the_unit_changes_status_and_a_reason_is_needed(world):
    for who in (world.alice, world.erin, world.carol, world.bob):
        with pytest.raises(NotPermitted):
            services.change_status(member=world.bob_member, to_status=S, reason="x", actor=who)
    with pytest.raises(Invalid):
        services.change_status(member=world.bob_member, to_status=S, reason="  ", actor=world.dave)
    world.bob_member.refresh_from_db()
    assert world.bob_member.status == A


def test_suspension_recalls_what_the_member_holds(world):
    item = make_item(world.armory_a, world.alice)
    custody.issue(item=item, member=world.bob_member, actor=world.alice)
    services.change_status(member=world.bob_member, to_status=S, reason="investigation", actor=world.dave)
    recall = Recall.objects.get(item=item)
    assert (recall.member, recall.reason, recall.resolved_at) == (world.bob_member, "member_suspended", None)


def test_departure_is_refused_while_holding_and_allowed_after_return(world):
    item = make_item(world.armory_a, world.alice)
    custody.issue(item=item, member=world.bob_member, actor=world.alice)
    with pytest.raises(Refused) as refusal:
        services.change_status(member=world.bob_member, to_status=D, reason="moved away", actor=world.dave)
    assert refusal.value.code == "member_holds_items"
    world.bob_member.refresh_from_db()
    assert world.bob_member.status == A
    custody.return_item(item=item, actor=world.alice)
    services.change_status(member=world.bob_member, to_status=D, reason="moved away", actor=world.dave)
    world.bob_member.refresh_from_db()
    assert world.bob_member.status == D


def test_a_passed_vetting_sets_the_validity(world):
    member = make_member(world.unit_a, status=P, vetted_days=0)
    today = timezone.localdate()
    vetting = services.record_vetting(
        member=member, vetted_on=today, outcome="passed", valid_until=today + timedelta(days=730), actor=world.dave
    )
    member.refresh_from_db()
    assert member.vetting_valid_until == today + timedelta(days=730)
    assert vetting.vetted_by == world.dave
    services.change_status(member=member, to_status=A, reason="vetted and sworn in", actor=world.dave)


def test_a_failed_vetting_ends_validity_and_recalls(world):
    item = make_item(world.armory_a, world.alice)
    custody.issue(item=item, member=world.bob_member, actor=world.alice)
    services.record_vetting(member=world.bob_member, vetted_on=timezone.localdate(), outcome="failed", actor=world.dave)
    world.bob_member.refresh_from_db()
    assert world.bob_member.vetting_valid_until is None
    assert Recall.objects.get(item=item).reason == "vetting_expired"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"outcome": "passed", "valid_until": None}, "validity_missing"),
        ({"outcome": "passed", "days_valid": 0}, "validity_missing"),
        ({"outcome": "maybe"}, "unknown_outcome"),
        ({"outcome": "passed", "days_ago": -1, "days_valid": 10}, "vetted_in_future"),
    ],
)
def test_bad_vetting_records_are_refused(world, kwargs, code):
    today = timezone.localdate()
    vetted_on = today - timedelta(days=kwargs.pop("days_ago", 0))
    if "days_valid" in kwargs:
        kwargs["valid_until"] = vetted_on + timedelta(days=kwargs.pop("days_valid"))
    with pytest.raises(Invalid) as refusal:
        services.record_vetting(member=world.bob_member, vetted_on=vetted_on, actor=world.dave, **kwargs)
    assert refusal.value.code == code
    assert not Vetting.objects.exists()


def test_disciplinary_entries_are_kept_by_commanders(world):
    entry = services.add_disciplinary_entry(
        member=world.bob_member,
        occurred_on=timezone.localdate(),
        kind="warning",
        note="Late for duty",
        actor=world.dave,
    )
    assert entry.recorded_by == world.dave
    with pytest.raises(NotPermitted):
        services.add_disciplinary_entry(
            member=world.bob_member, occurred_on=timezone.localdate(), kind="warning", note="x", actor=world.alice
        )
    with pytest.raises(Invalid):
        services.add_disciplinary_entry(
            member=world.bob_member, occurred_on=timezone.localdate(), kind="flogging", note="x", actor=world.dave
        )
    assert DisciplinaryEntry.objects.count() == 1
