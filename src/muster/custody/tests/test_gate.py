"""The issue gate: qualifications valid until due-back, commander overrides, and what they write."""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.testing import make_member
from muster.custody import services
from muster.custody.models import HolderKind, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.members.models import Member
from muster.training.testing import make_qualification, qualify

pytestmark = pytest.mark.django_db


@pytest.fixture
def rifle(world):
    rifle_type = make_item_type("AK-74M assault rifle")
    rifle_type.required_qualifications.add(make_qualification("rifle-ak", name="Rifle (AK family)"))
    return make_item(world.armory_a, world.alice, item_type=rifle_type)


def issue_events() -> int:
    return LedgerEvent.objects.filter(kind="issue").count()


def test_it_issues_to_a_member_qualified_beyond_the_due_date(world, rifle):
    qualify(world.bob_member, make_qualification("rifle-ak"), world.dave, days_left=30)
    services.issue(item=rifle, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(days=7))
    rifle.refresh_from_db()
    assert rifle.holder_member == world.bob_member


def test_it_refuses_a_member_without_the_qualification(world, rifle):
    with pytest.raises(Refused) as refusal:
        services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    assert refusal.value.code == "member_not_qualified"
    assert "Rifle (AK family)" in refusal.value.detail
    assert issue_events() == 0


def test_it_refuses_when_the_qualification_lapses_before_the_due_date(world, rifle):
    qualify(world.bob_member, make_qualification("rifle-ak"), world.dave, days_left=2)
    with pytest.raises(Refused) as refusal:
        services.issue(
            item=rifle, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(days=5)
        )
    assert refusal.value.code == "member_not_qualified"
    services.issue(item=rifle, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(days=1))
    assert issue_events() == 1


def test_an_expired_grant_does_not_count_even_when_an_older_one_exists(world, rifle):
    qualification = make_qualification("rifle-ak")
    qualify(world.bob_member, qualification, world.dave, days_left=-400)
    qualify(world.bob_member, qualification, world.dave, days_left=-1)
    with pytest.raises(Refused):
        services.issue(item=rifle, member=world.bob_member, actor=world.alice)


def test_a_commander_can_override_a_missing_qualification_with_a_reason(world, rifle):
    override = services.Override(commander=world.dave, reason="Qualified in the army, papers on the way")
    event = services.issue(item=rifle, member=world.bob_member, actor=world.alice, override=override)
    assert event.data == {
        "override": {
            "commander": world.dave.pk,
            "codes": ["member_not_qualified"],
            "reason": "Qualified in the army, papers on the way",
        }
    }
    rifle.refresh_from_db()
    assert rifle.holder_kind == HolderKind.MEMBER


def test_an_override_covers_expired_vetting_and_applicants_together(world, rifle):
    applicant = make_member(world.unit_a, status=Member.Status.APPLICANT, vetted_days=-3)
    override = services.Override(commander=world.dave, reason="Emergency mobilisation order 17")
    event = services.issue(item=rifle, member=applicant, actor=world.alice, override=override)
    assert event.data["override"]["codes"] == ["member_applicant", "member_not_qualified", "member_vetting_expired"]


@pytest.mark.parametrize("status", [Member.Status.SUSPENDED, Member.Status.DEPARTED])
def test_no_override_issues_to_a_suspended_or_departed_member(world, rifle, status):
    member = make_member(world.unit_a, status=status)
    override = services.Override(commander=world.dave, reason="Trust me, it is fine")
    with pytest.raises(Refused) as refusal:
        services.issue(item=rifle, member=member, actor=world.alice, override=override)
    assert refusal.value.code == "member_not_active"
    assert issue_events() == 0


def test_an_override_needs_a_commander_of_the_armory(world, rifle):
    for not_a_commander in (world.erin, world.carol, world.rita):
        with pytest.raises(NotPermitted) as refusal:
            services.issue(
                item=rifle,
                member=world.bob_member,
                actor=world.alice,
                override=services.Override(commander=not_a_commander, reason="Because I say so"),
            )
        assert refusal.value.code == "override_not_commander"
    assert issue_events() == 0


def test_an_override_needs_a_second_person_and_a_real_reason(world, rifle):
    from muster.members.models import Role, RoleAssignment

    RoleAssignment.objects.create(account=world.alice, unit=world.unit_a, role=Role.COMMANDER)
    with pytest.raises(NotPermitted) as refusal:
        services.issue(
            item=rifle,
            member=world.bob_member,
            actor=world.alice,
            override=services.Override(commander=world.alice, reason="I am both armorer and commander"),
        )
    assert refusal.value.code == "self_override"
    with pytest.raises(Invalid) as refusal:
        services.issue(
            item=rifle,
            member=world.bob_member,
            actor=world.alice,
            override=services.Override(commander=world.dave, reason="ok"),
        )
    assert refusal.value.code == "override_reason_missing"
    assert issue_events() == 0
