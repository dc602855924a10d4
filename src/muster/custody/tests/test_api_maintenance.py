"""API for maintenance and the inspection queue: sending an item to a workshop and receiving it back change what they
say (or nothing when refused), items are scoped to the caller's units (else 404), roles are checked (403), and the
queue of items due for inspection reads in a fixed number of queries."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from muster.custody import maintenance, services
from muster.custody.models import Armory, Item, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.custody.tests.api_controls_fixtures import (
    answer,
    client_for,
    open_case,
    post,
    queries_for,
    rifle_fixture,  # noqa: F401 — the `rifle` fixture
)

pytestmark = pytest.mark.django_db

SEND, RECEIVE = "/api/v1/custody/maintenance/send", "/api/v1/custody/maintenance/receive"
INSPECTIONS = "/api/v1/reports/inspections/"


@pytest.fixture
def workshop(world):
    return Armory.objects.create(code="WS-A", name="Gunsmith A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)


# --- every route needs credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", SEND), ("post", RECEIVE), ("get", INSPECTIONS)],
)
def test_it_answers_401_without_credentials(world, method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert answer(response) == (401, "not_authenticated")


# --- maintenance ---------------------------------------------------------------------------------------------------


def test_it_sends_an_item_to_the_workshop(world, rifle, workshop):
    response = post(world, "alice", SEND, {"item": "AK-1", "workshop": "WS-A", "reason": "Trigger sticks"})
    assert response.status_code == 201, response.content
    event = LedgerEvent.objects.get(item=rifle, kind="maintenance_out")
    assert response.json()["seq"] == event.seq and response["Location"] == f"/api/v1/ledger/{event.seq}/"
    rifle.refresh_from_db()
    assert (rifle.holder_armory, event.reason) == (workshop, "Trigger sticks")


@pytest.mark.parametrize(
    ("who", "changes", "expected"),
    [
        ("frank", {}, (403, "not_armorer")),
        ("bob", {}, (403, "not_armorer")),
        ("carol", {}, (404, "item_not_found")),
        ("alice", {"workshop": "ARM-B"}, (404, "armory_not_found")),
        ("alice", {"workshop": "ARM-A"}, (400, "not_a_workshop")),
        ("alice", {"reason": ""}, (400, "invalid")),
    ],
)
def test_it_refuses_to_send_and_changes_nothing(world, rifle, workshop, who, changes, expected):
    body = {"item": "AK-1", "workshop": "WS-A", "reason": "Trigger sticks", **changes}
    assert answer(post(world, who, SEND, body)) == expected
    rifle.refresh_from_db()
    assert (rifle.holder_armory, rifle.custody_version) == (world.armory_a, 1)


def test_it_refuses_to_send_an_issued_or_lost_item(world, rifle, workshop):
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    body = {"item": "AK-1", "workshop": "WS-A", "reason": "Trigger sticks"}
    assert answer(post(world, "alice", SEND, body)) == (409, "item_not_in_armory")
    lost = make_item(world.armory_a, world.alice, serial="AK-2")
    open_case(world, lost)
    assert answer(post(world, "alice", SEND, {**body, "item": "AK-2"})) == (409, "item_lost")
    assert not LedgerEvent.objects.filter(kind="maintenance_out").exists()


def test_it_receives_an_item_back_inspected(world, rifle, workshop):
    maintenance.send(item=rifle, workshop=workshop, actor=world.alice, reason="Trigger sticks")
    response = post(world, "alice", RECEIVE, {"item": rifle.pk, "condition": "serviceable", "notes": "Spring"})
    assert response.status_code == 201, response.content
    rifle.refresh_from_db()
    assert (rifle.holder_armory, rifle.condition, rifle.last_inspected_on) == (
        world.armory_a, "serviceable", timezone.localdate()
    )  # fmt: skip
    assert LedgerEvent.objects.get(seq=response.json()["seq"]).data == {"condition": "serviceable", "inspected": True}


def test_it_receives_an_item_into_another_store_without_counting_an_inspection(world, rifle, workshop):
    other = Armory.objects.create(code="ARM-A2", name="Arms room A2", unit=world.unit_a)
    maintenance.send(item=rifle, workshop=workshop, actor=world.alice, reason="Optic mount")
    body = {"item": "AK-1", "condition": "needs_repair", "notes": "Parts on order", "armory": "ARM-A2",
            "inspected": False}  # fmt: skip
    assert post(world, "alice", RECEIVE, body).status_code == 201
    rifle.refresh_from_db()
    assert (rifle.holder_armory, rifle.condition, rifle.last_inspected_on) == (other, "needs_repair", None)


@pytest.mark.parametrize(
    ("who", "changes", "expected"),
    [
        ("frank", {}, (403, "not_armorer")),
        ("carol", {}, (404, "item_not_found")),
        ("alice", {"condition": "shiny"}, (400, "invalid")),
        ("alice", {"armory": "WS-A"}, (400, "not_a_store")),
        ("alice", {"armory": "ARM-B"}, (404, "armory_not_found")),
    ],
)
def test_it_refuses_to_receive_and_changes_nothing(world, rifle, workshop, who, changes, expected):
    maintenance.send(item=rifle, workshop=workshop, actor=world.alice, reason="Trigger sticks")
    body = {"item": "AK-1", "condition": "serviceable", "notes": "done", **changes}
    assert answer(post(world, who, RECEIVE, body)) == expected
    rifle.refresh_from_db()
    assert rifle.holder_armory == workshop


def test_it_refuses_to_receive_an_item_not_in_maintenance(world, rifle):
    response = post(world, "alice", RECEIVE, {"item": "AK-1", "condition": "serviceable", "notes": "x"})
    assert answer(response) == (409, "item_not_in_maintenance")
    assert not LedgerEvent.objects.filter(kind="maintenance_in").exists()


@pytest.fixture
def inspected_types(world):
    monthly = make_item_type("PKM machine gun")
    monthly.inspection_interval_days = 30
    monthly.save()
    never = make_item_type("Radio", category="radio")
    return monthly, never


def test_it_lists_the_items_due_for_inspection_in_scope(world, inspected_types):
    monthly, never = inspected_types
    overdue = make_item(world.armory_a, world.alice, item_type=monthly)
    fresh = make_item(world.armory_a, world.alice, item_type=monthly)
    never_inspected = make_item(world.armory_a, world.alice, item_type=monthly)
    make_item(world.armory_a, world.alice, item_type=never)
    foreign = make_item(world.armory_b, world.carol, item_type=monthly)
    Item.objects.filter(pk=overdue.pk).update(last_inspected_on=date.today() - timedelta(days=45))
    Item.objects.filter(pk=fresh.pk).update(last_inspected_on=date.today() - timedelta(days=3))
    rows = client_for(world.alice).get(INSPECTIONS).json()["results"]
    assert [row["id"] for row in rows] == [never_inspected.pk, overdue.pk]
    assert (rows[1]["inspection_interval_days"], rows[0]["last_inspected_on"]) == (30, None)
    assert [row["id"] for row in client_for(world.carol).get(INSPECTIONS).json()["results"]] == [foreign.pk]
    assert client_for(world.alice).get(INSPECTIONS, {"armory": "ARM-B"}).json()["results"] == []


def test_it_lists_the_inspection_queue_in_a_fixed_number_of_queries(world, inspected_types):
    monthly, _ = inspected_types
    client = client_for(world.alice)
    make_item(world.armory_a, world.alice, item_type=monthly)
    one = queries_for(client, INSPECTIONS)
    for _ in range(4):
        make_item(world.armory_a, world.alice, item_type=monthly)
    assert queries_for(client, INSPECTIONS) == one
