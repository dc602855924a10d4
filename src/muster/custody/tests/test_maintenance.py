"""Maintenance: to a workshop and back, nothing issued from a workshop, the inspection queue."""

from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.custody import ledger, maintenance, services
from muster.custody.models import Armory, Item
from muster.custody.testing import make_item, make_item_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def workshop(world):
    return Armory.objects.create(code="WS-A", name="Gunsmith A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)


def test_an_item_goes_to_the_workshop_and_comes_back_inspected(world, workshop):
    item = make_item(world.armory_a, world.alice)
    out = maintenance.send(item=item, workshop=workshop, actor=world.alice, reason="Trigger sticks")
    assert (out.kind, out.from_armory_id, out.to_armory_id) == ("maintenance_out", world.armory_a.pk, workshop.pk)
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    assert refusal.value.code == "item_in_maintenance"
    back = maintenance.receive(item=item, actor=world.alice, condition="serviceable", notes="Spring replaced")
    item.refresh_from_db()
    assert (back.kind, item.holder_armory, item.condition) == ("maintenance_in", world.armory_a, "serviceable")
    assert item.last_inspected_on == timezone.localdate()
    assert ledger.verify().ok


def test_only_stores_send_and_receive_and_only_their_armorers(world, workshop):
    item = make_item(world.armory_a, world.alice)
    with pytest.raises(Invalid):
        maintenance.send(item=item, workshop=world.armory_b, actor=world.alice, reason="x")
    with pytest.raises(NotPermitted):
        maintenance.send(item=item, workshop=workshop, actor=world.carol, reason="x")
    with pytest.raises(Refused):
        maintenance.receive(item=item, actor=world.alice, condition="serviceable", notes="never left")
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    with pytest.raises(Refused) as refusal:
        maintenance.send(item=item, workshop=workshop, actor=world.alice, reason="x")
    assert refusal.value.code == "item_not_in_armory"
    with pytest.raises(Invalid) as refusal:
        services.return_item(item=item, actor=world.alice, armory=workshop)
    assert refusal.value.code == "not_a_store"


def test_an_unserviceable_verdict_keeps_it_off_the_counter(world, workshop):
    item = make_item(world.armory_a, world.alice)
    maintenance.send(item=item, workshop=workshop, actor=world.alice, reason="Cracked stock")
    maintenance.receive(item=item, actor=world.alice, condition="unserviceable", notes="Beyond repair")
    with pytest.raises(Refused) as refusal:
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    assert refusal.value.code == "item_unserviceable"


def test_the_inspection_queue(world):
    rifle_type = make_item_type("AK-74M assault rifle")
    rifle_type.inspection_interval_days = 90
    rifle_type.save()
    never, recent, stale = (make_item(world.armory_a, world.alice, item_type=rifle_type) for _ in range(3))
    unscheduled = make_item(world.armory_a, world.alice, item_type=make_item_type("VHF radio", category="radio"))
    today = timezone.localdate()
    Item.objects.filter(pk=recent.pk).update(last_inspected_on=today - timedelta(days=10))
    Item.objects.filter(pk=stale.pk).update(last_inspected_on=today - timedelta(days=120))
    due = list(maintenance.due_for_inspection(Item.objects.all()).values_list("pk", flat=True))
    assert due == [never.pk, stale.pk]
    assert unscheduled.pk not in due
