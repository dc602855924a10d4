"""Maintenance on the web: send an item to a workshop of the unit tree, receive it back, the inspection queue."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_unit
from muster.custody import maintenance, services
from muster.custody.models import Armory, Item, LedgerEvent
from muster.custody.testing import make_item, make_item_type

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def workshop(world):
    return Armory.objects.create(code="WS-A", name="Gunsmith A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)


def holder(item):
    item.refresh_from_db()
    return item.holder_kind, item.holder_armory_id, item.holder_member_id


def test_it_offers_the_workshops_of_the_unit_tree_only(client, world, workshop):
    regional = Armory.objects.create(code="WS-R", name="Depot R", unit=world.region, kind=Armory.Kind.WORKSHOP)
    platoon = make_unit("A1", parent=world.unit_a)
    below = Armory.objects.create(code="WS-A1", name="Bench A1", unit=platoon, kind=Armory.Kind.WORKSHOP)
    Armory.objects.create(code="WS-B", name="Gunsmith B", unit=world.unit_b, kind=Armory.Kind.WORKSHOP)
    item = make_item(world.armory_a, world.alice)
    client.force_login(world.alice)
    form = client.get(reverse("maintenance-send", args=[item.pk])).context["form"]
    assert set(form.fields["workshop"].queryset) == {workshop, regional, below}


def test_it_sends_an_item_for_maintenance(client, world, workshop):
    item = make_item(world.armory_a, world.alice)
    client.force_login(world.alice)
    panel = client.get(reverse("item-controls", args=[item.pk]), **HTMX)
    assert panel.context["can_send"] and not panel.context["can_receive"]
    response = client.post(
        reverse("maintenance-send", args=[item.pk]), {"workshop": workshop.pk, "reason": "Trigger sticks"}
    )
    assert response.status_code == 302 and response.url == reverse("item-page", args=[item.pk])
    assert holder(item) == ("armory", workshop.pk, None)
    event = LedgerEvent.objects.get(item=item, kind="maintenance_out")
    assert (event.actor, event.reason) == (world.alice, "Trigger sticks")


def test_it_refuses_to_send_an_issued_item_and_changes_nothing(client, world, workshop):
    item = make_item(world.armory_a, world.alice)
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    client.force_login(world.alice)
    response = client.post(reverse("maintenance-send", args=[item.pk]), {"workshop": workshop.pk, "reason": "x"})
    assert response.status_code == 409 and "item_not_in_armory" in response.content.decode()
    assert holder(item) == ("member", None, world.bob_member.pk)
    assert not LedgerEvent.objects.filter(kind="maintenance_out").exists()


def test_it_refuses_to_send_without_a_reason(client, world, workshop):
    item = make_item(world.armory_a, world.alice)
    client.force_login(world.alice)
    response = client.post(reverse("maintenance-send", args=[item.pk]), {"workshop": workshop.pk, "reason": ""})
    assert response.status_code == 400 and "reason" in response.context["form"].errors
    assert holder(item) == ("armory", world.armory_a.pk, None)


def test_it_receives_an_item_back_inspected(client, world, workshop):
    item = make_item(world.armory_a, world.alice)
    maintenance.send(item=item, workshop=workshop, actor=world.alice, reason="Annual inspection")
    client.force_login(world.alice)
    panel = client.get(reverse("item-controls", args=[item.pk]), **HTMX)
    assert panel.context["can_receive"] and panel.context["in_workshop"] and not panel.context["can_send"]
    data = {"condition": "needs_repair", "notes": "Barrel worn", "inspected": "on", "armory": ""}
    response = client.post(reverse("maintenance-receive", args=[item.pk]), data)
    assert response.status_code == 302
    assert holder(item) == ("armory", world.armory_a.pk, None)
    assert (item.condition, item.last_inspected_on) == ("needs_repair", timezone.localdate())
    assert LedgerEvent.objects.get(item=item, kind="maintenance_in").data == {
        "condition": "needs_repair",
        "inspected": True,
    }


def test_it_refuses_to_receive_an_item_not_in_maintenance(client, world):
    item = make_item(world.armory_a, world.alice)
    client.force_login(world.alice)
    response = client.post(reverse("maintenance-receive", args=[item.pk]), {"condition": "serviceable"})
    assert response.status_code == 409 and "item_not_in_maintenance" in response.content.decode()
    assert Item.objects.get(pk=item.pk).last_inspected_on is None
    assert not LedgerEvent.objects.filter(kind="maintenance_in").exists()


@pytest.mark.parametrize("who, status", [("dave", 403), ("frank", 403), ("erin", 403), ("carol", 404)])
def test_only_the_units_armorers_send_and_receive(client, world, workshop, who, status):
    item = make_item(world.armory_a, world.alice)
    client.force_login(getattr(world, who))
    assert client.get(reverse("maintenance-send", args=[item.pk])).status_code == status
    response = client.post(reverse("maintenance-send", args=[item.pk]), {"workshop": workshop.pk, "reason": "x"})
    assert response.status_code == status
    assert (
        client.post(reverse("maintenance-receive", args=[item.pk]), {"condition": "serviceable"}).status_code == status
    )
    assert holder(item) == ("armory", world.armory_a.pk, None)


# --- the inspection queue ---------------------------------------------------------------------------------------------


@pytest.fixture
def inspected_type():
    rifle = make_item_type("Inspected rifle")
    rifle.inspection_interval_days = 90
    rifle.save()
    return rifle


def test_the_queue_lists_the_units_items_due_for_inspection(client, world, inspected_type):
    never = make_item(world.armory_a, world.alice, item_type=inspected_type)
    stale = make_item(world.armory_a, world.alice, item_type=inspected_type)
    fresh = make_item(world.armory_a, world.alice, item_type=inspected_type)
    make_item(world.armory_a, world.alice)  # a type with no schedule
    make_item(world.armory_b, world.carol, item_type=inspected_type)  # another unit's
    Item.objects.filter(pk=stale.pk).update(last_inspected_on=timezone.localdate() - timedelta(days=100))
    Item.objects.filter(pk=fresh.pk).update(last_inspected_on=timezone.localdate() - timedelta(days=10))
    client.force_login(world.dave)
    response = client.get(reverse("inspection-index"))
    rows = list(response.context["page_obj"])
    assert [item.pk for item in rows] == [never.pk, stale.pk]
    assert rows[1].due_on == timezone.localdate() - timedelta(days=10)


def test_the_queue_is_for_staff(client, world):
    client.force_login(world.bob)
    assert client.get(reverse("inspection-index")).status_code == 403


def test_the_queue_reads_a_flat_number_of_queries(client, world, inspected_type):
    client.force_login(world.alice)
    for _ in range(2):
        make_item(world.armory_a, world.alice, item_type=inspected_type)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("inspection-index")).status_code == 200
    other = make_item_type("Inspected radio")
    other.inspection_interval_days = 30
    other.save()
    for n in range(10):
        item = make_item(world.armory_a, world.alice, item_type=other if n % 2 else inspected_type)
        if n < 3:  # some held by a member: the holder column must not cost a query per row
            services.issue(item=item, member=world.bob_member, actor=world.alice)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("inspection-index"))
    assert len(response.context["page_obj"]) == 12
    assert len(many) == len(few)
