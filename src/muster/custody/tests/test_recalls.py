"""Recall cascade: lapses by status, vetting or qualification flag the holder's items and notify the unit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.errors import Refused
from muster.core.models import Notification
from muster.custody import recalls, services
from muster.custody.models import Recall
from muster.custody.testing import make_item, make_item_type
from muster.members import hooks
from muster.members.models import Member
from muster.training.models import MemberQualification
from muster.training.testing import make_qualification, qualify

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(world):
    """bob holds a qualified rifle and a radio that needs no qualification."""
    qualification = make_qualification("rifle-ak", name="Rifle (AK family)")
    rifle_type = make_item_type("AK-74M assault rifle")
    rifle_type.required_qualifications.add(qualification)
    rifle = make_item(world.armory_a, world.alice, item_type=rifle_type)
    radio = make_item(world.armory_a, world.alice, item_type=make_item_type("VHF radio", category="radio"))
    grant = qualify(world.bob_member, qualification, world.dave, days_left=60)
    due = timezone.now() + timedelta(days=3)
    services.issue(item=rifle, member=world.bob_member, actor=world.alice, due_at=due)
    services.issue(item=radio, member=world.bob_member, actor=world.alice, due_at=due)
    return rifle, radio, grant


def test_a_lapse_signal_recalls_everything_the_member_holds_and_notifies(
    world, issued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        hooks.member_lapsed.send(Member, member=world.bob_member, reason_code="member_suspended", detail="suspended")
    assert set(Recall.objects.values_list("item_id", "reason")) == {
        (issued[0].pk, "member_suspended"),
        (issued[1].pk, "member_suspended"),
    }
    # armorers and commanders of A and above: alice, dave, rita — not carol (B), not erin (auditor)
    notified = set(Notification.objects.values_list("recipient__username", flat=True))
    assert notified == {"alice", "dave", "rita"}


def test_scan_finds_expired_vetting(world, issued):
    Member.objects.filter(pk=world.bob_member.pk).update(vetting_valid_until=timezone.localdate() - timedelta(days=1))
    found = recalls.scan()
    assert {(recall.item_id, recall.reason) for recall in found} == {
        (issued[0].pk, "vetting_expired"),
        (issued[1].pk, "vetting_expired"),
    }


def test_scan_finds_an_expired_qualification_only_for_items_that_need_it(world, issued):
    rifle, _radio, grant = issued
    MemberQualification.objects.filter(pk=grant.pk).update(expires_on=timezone.localdate() - timedelta(days=1))
    found = recalls.scan()
    assert [(recall.item_id, recall.reason) for recall in found] == [(rifle.pk, "qualification_expired")]


def test_scan_is_idempotent_and_quiet_when_all_is_well(world, issued):
    assert recalls.scan() == []
    Member.objects.filter(pk=world.bob_member.pk).update(status=Member.Status.SUSPENDED)
    assert len(recalls.scan()) == 2
    assert recalls.scan() == []
    assert Recall.objects.count() == 2


def test_returning_the_item_resolves_its_recall(world, issued):
    rifle, radio, _ = issued
    hooks.member_lapsed.send(Member, member=world.bob_member, reason_code="vetting_expired", detail="expired")
    event = services.return_item(item=rifle, actor=world.alice)
    recall = Recall.objects.get(item=rifle)
    assert recall.resolved_by_event == event
    assert recall.resolved_at == event.recorded_at
    assert Recall.objects.get(item=radio).resolved_at is None


def test_the_database_allows_one_open_recall_per_item(world, issued):
    from django.db import IntegrityError, transaction

    recalls.flag_member_items(member=world.bob_member, reason=Recall.Reason.SUSPENDED, detail="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Recall.objects.create(
            item=issued[0], member=world.bob_member, reason="member_suspended", detail="again", raised_at=timezone.now()
        )


def test_departure_is_refused_while_the_member_holds_items(world, issued):
    with pytest.raises(Refused) as refusal:
        for check in hooks.departure_checks:
            check(world.bob_member)
    assert refusal.value.code == "member_holds_items"
    assert "2 item(s)" in refusal.value.detail
