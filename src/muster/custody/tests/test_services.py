from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.testing import make_member
from muster.custody import ledger, services
from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.members.models import Member

pytestmark = pytest.mark.django_db


def test_it_registers_an_item_into_its_home_armory_with_a_ledger_event(world):
    item = make_item(world.armory_a, world.alice, serial="AK-0001")
    item.refresh_from_db()
    assert item.holder_kind == HolderKind.ARMORY
    assert item.holder_armory == world.armory_a
    assert item.custody_version == 1
    event = LedgerEvent.objects.get(item=item)
    assert (event.seq, event.kind, event.to_armory_id, event.prev_hash) == (
        1,
        "register",
        world.armory_a.pk,
        "0" * 64,
    )


def test_it_refuses_a_second_item_with_the_same_serial_and_type(world):
    item = make_item(world.armory_a, world.alice, serial="AK-0001")
    with pytest.raises(Refused) as refusal:
        make_item(world.armory_a, world.alice, item_type=item.item_type, serial="AK-0001")
    assert refusal.value.code == "serial_taken"
    assert Item.objects.count() == 1
    assert LedgerEvent.objects.count() == 1


def test_it_issues_an_item_to_an_active_vetted_member(world):
    item = make_item(world.armory_a, world.alice)
    due = timezone.now() + timedelta(hours=8)
    event = services.issue(item=item, member=world.bob_member, actor=world.alice, due_at=due, reason="patrol")
    item.refresh_from_db()
    assert item.holder_member == world.bob_member
    assert item.holder_armory is None
    assert item.due_at == due
    assert (event.kind, event.from_armory_id, event.to_member_id, event.actor_id, event.reason) == (
        "issue",
        world.armory_a.pk,
        world.bob_member.pk,
        world.alice.pk,
        "patrol",
    )
    assert event.prev_hash == LedgerEvent.objects.get(seq=event.seq - 1).hash


def test_it_uses_the_default_due_back_time_when_none_is_given(world, settings):
    settings.MUSTER_DEFAULT_LOAN_HOURS = 12
    item = make_item(world.armory_a, world.alice)
    before = timezone.now()
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    item.refresh_from_db()
    assert before + timedelta(hours=12) <= item.due_at <= timezone.now() + timedelta(hours=12)


def test_it_refuses_to_issue_an_item_already_issued(world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    other = make_member(world.unit_a)
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=other, actor=world.alice)
    assert refusal.value.code == "item_not_in_armory"
    item.refresh_from_db()
    assert item.holder_member == world.bob_member
    assert LedgerEvent.objects.filter(kind="issue").count() == 1


@pytest.mark.parametrize(
    ("status", "vetted_days", "code"),
    [
        (Member.Status.APPLICANT, 365, "member_applicant"),
        (Member.Status.SUSPENDED, 365, "member_not_active"),
        (Member.Status.DEPARTED, 365, "member_not_active"),
        (Member.Status.ACTIVE, -1, "member_vetting_expired"),
        (Member.Status.ACTIVE, 0, "member_vetting_expired"),
    ],
)
def test_it_refuses_members_who_may_not_draw(world, status, vetted_days, code):

    member = make_member(world.unit_a, status=status, vetted_days=vetted_days)
    if vetted_days == 0:
        member.vetting_valid_until = None
        member.save()
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=member, actor=world.alice)
    assert refusal.value.code == code
    item.refresh_from_db()
    assert item.holder_kind == HolderKind.ARMORY
    assert LedgerEvent.objects.count() == 1


def test_it_refuses_an_unserviceable_item(world):
    item = make_item(world.armory_a, world.alice)
    Item.objects.filter(pk=item.pk).update(condition=Item.Condition.UNSERVICEABLE)
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    assert refusal.value.code == "item_unserviceable"


def test_it_refuses_a_due_time_in_the_past(world):
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(Invalid) as refusal:
        services.issue(item=item, member=world.bob_member, actor=world.alice, due_at=timezone.now())
    assert refusal.value.code == "due_in_past"


@pytest.mark.parametrize("who", ["bob", "dave", "erin", "frank", "carol"])
def test_only_an_armorer_of_the_armory_may_issue(world, who):
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(NotPermitted):
        services.issue(item=item, member=world.bob_member, actor=getattr(world, who))
    assert LedgerEvent.objects.count() == 1


def test_an_armorer_of_a_parent_unit_may_issue(world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.rita)
    item.refresh_from_db()
    assert item.holder_member == world.bob_member


def test_it_refuses_to_issue_to_a_member_of_another_unit(world):
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(NotPermitted) as refusal:
        services.issue(item=item, member=world.member_b, actor=world.alice)
    assert refusal.value.code == "member_out_of_scope"


def test_it_returns_an_issued_item_to_its_home_armory(world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    event = services.return_item(item=item, actor=world.alice, reason="end of shift")
    item.refresh_from_db()
    assert item.holder_armory == world.armory_a
    assert item.holder_member is None
    assert item.due_at is None
    assert (event.kind, event.from_member_id, event.to_armory_id) == (
        "return",
        world.bob_member.pk,
        world.armory_a.pk,
    )
    assert ledger.verify().ok


def test_it_refuses_to_return_an_item_that_is_not_issued(world):
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(Refused) as refusal:
        services.return_item(item=item, actor=world.alice)
    assert refusal.value.code == "item_not_issued"
    assert LedgerEvent.objects.count() == 1


def test_the_ledger_refuses_update_and_delete(world):
    make_item(world.armory_a, world.alice)
    with (
        pytest.raises(IntegrityError if connection.vendor == "postgresql" else Exception),
        transaction.atomic(),
    ):
        LedgerEvent.objects.filter(seq=1).update(reason="rewritten")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        LedgerEvent.objects.filter(seq=1).delete()
    assert LedgerEvent.objects.get(seq=1).reason == "registered"


def test_the_database_refuses_a_second_issue_even_when_the_code_is_bypassed(world):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    item.refresh_from_db()
    # Pretend the item were still in the armory and append a second issue straight through the ledger.
    item.holder_kind, item.holder_armory_id, item.holder_member_id = (
        HolderKind.ARMORY,
        world.armory_a.pk,
        None,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ledger.append(
            kind="issue",
            item=item,
            to_kind=HolderKind.MEMBER,
            to_member_id=world.alice.member.pk,
            actor_id=world.alice.pk,
        )
    assert LedgerEvent.objects.filter(kind="issue").count() == 1


def test_the_database_refuses_a_holder_change_without_a_ledger_event(world):
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.filter(pk=item.pk).update(
            holder_kind=HolderKind.MEMBER,
            holder_armory=None,
            holder_member=world.bob_member,
            custody_version=item.custody_version + 1,
        )
    item.refresh_from_db()
    assert item.holder_kind == HolderKind.ARMORY


def test_verify_passes_on_a_consistent_ledger(world):
    items = [make_item(world.armory_a, world.alice) for _ in range(3)]
    for item in items:
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    services.return_item(item=items[0], actor=world.alice)
    result = ledger.verify()
    assert result.ok, result.summary()
    assert (result.events, result.items) == (7, 3)
    assert result.head_hash == LedgerEvent.objects.get(seq=7).hash


def test_a_key_names_the_armory_it_opens_and_only_keys_and_seals_may(world):
    from muster.custody.models import ItemType

    key_type = make_item_type("Arms room key", category=ItemType.Category.KEY)
    key = services.register_item(item_type=key_type, serial_number="K-1", home_armory=world.armory_a,
                                 actor=world.alice, opens_armory=world.armory_a)  # fmt: skip
    assert key.opens_armory_id == world.armory_a.pk
    with pytest.raises(Invalid) as error:
        services.register_item(item_type=make_item_type(), serial_number="R-1", home_armory=world.armory_a,
                               actor=world.alice, opens_armory=world.armory_a)  # fmt: skip
    assert error.value.code == "not_a_key"
    with pytest.raises(NotPermitted):  # alice is no armorer of B
        services.register_item(item_type=key_type, serial_number="K-2", home_armory=world.armory_a,
                               actor=world.alice, opens_armory=world.armory_b)  # fmt: skip
    ammo = make_item_type("9 mm ball", category=ItemType.Category.AMMUNITION)
    with pytest.raises(Invalid) as error:
        services.register_item(item_type=ammo, serial_number="A-1", home_armory=world.armory_a, actor=world.alice)
    assert error.value.code == "by_lot"
    assert not Item.objects.filter(serial_number__in=["R-1", "K-2", "A-1"]).exists()
