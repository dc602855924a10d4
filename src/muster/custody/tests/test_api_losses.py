"""API for loss cases: opening one (which freezes the item's holder), the report to the authorities and the
recovery each change what they say (or nothing when refused), every case is scoped to the caller's units (else 404),
roles are checked (403), and the list reads in a fixed number of queries."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from muster.custody import losses, services
from muster.custody.models import LedgerEvent, LossCase
from muster.custody.testing import make_item
from muster.custody.tests.api_controls_fixtures import (
    STAFF_OF_A,
    answer,
    client_for,
    open_case,
    post,
    queries_for,
    rifle_fixture,  # noqa: F401 — the `rifle` fixture
)

pytestmark = pytest.mark.django_db

CASES = "/api/v1/loss-cases/"


def loss_body(target, **changes) -> dict:
    body = {
        "item": target.serial_number, "kind": "stolen", "circumstances": "Taken from the vehicle at night",
        "occurred_at": (timezone.now() - timedelta(hours=5)).isoformat(), "place": "Depot gate",
    }  # fmt: skip
    return {**body, **changes}


# --- every route needs credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", CASES), ("get", f"{CASES}1/"), ("post", CASES), ("post", f"{CASES}1/report"),
        ("post", f"{CASES}1/recover"),
    ],
)  # fmt: skip
def test_it_answers_401_without_credentials(world, method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert answer(response) == (401, "not_authenticated")


# --- loss cases ----------------------------------------------------------------------------------------------------


def test_it_opens_a_loss_case_for_an_issued_item_and_freezes_its_holder(world, rifle):
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    response = post(world, "frank", CASES, loss_body(rifle, police_report_no="UA-77"))
    assert response.status_code == 201, response.content
    case = LossCase.objects.get(item=rifle)
    assert response["Location"] == f"/api/v1/loss-cases/{case.pk}/"
    event = LedgerEvent.objects.get(item=rifle, kind="loss")
    assert (case.kind, case.last_member, case.opened_by, case.opened_event) == (
        "stolen", world.bob_member, world.frank, event
    )  # fmt: skip
    assert (case.police_report_no, case.authorities_notified_at is not None) == ("UA-77", True)
    body = response.json()
    assert (body["id"], body["item"]["id"], body["home_armory"], body["last_member"], body["opened_event"]) == (
        case.pk, rifle.pk, "ARM-A", world.bob_member.member_no, event.seq
    )  # fmt: skip
    assert body["status"] == "open" and body["opened_by"] == "frank"


def test_it_opens_a_case_for_an_item_named_by_its_id(world, rifle):
    response = post(world, "dave", CASES, loss_body(rifle, item=rifle.pk, kind="lost"))
    assert response.status_code == 201, response.content
    assert LossCase.objects.get(item=rifle).last_armory == world.armory_a


@pytest.mark.parametrize(
    ("who", "changes", "expected"),
    [
        ("bob", {}, (403, "not_loss_reporter")),
        ("erin", {}, (403, "not_loss_reporter")),
        ("carol", {}, (404, "item_not_found")),
        ("frank", {"kind": "misplaced"}, (400, "unknown_kind")),
        ("frank", {"circumstances": "  "}, (400, "invalid")),
        ("frank", {"occurred_at": "2026-01-01T10:00:00"}, (400, "invalid")),
        ("frank", {"occurred_at": "in the morning"}, (400, "invalid")),
        ("frank", {"item": "NO-SUCH"}, (404, "item_not_found")),
    ],
)
def test_it_refuses_to_open_a_case_and_changes_nothing(world, rifle, who, changes, expected):
    response = post(world, who, CASES, loss_body(rifle, **changes))
    assert answer(response) == expected
    assert not LossCase.objects.exists()
    assert not LedgerEvent.objects.filter(kind="loss").exists()


def test_it_refuses_a_loss_in_the_future(world, rifle):
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    response = post(world, "frank", CASES, loss_body(rifle, occurred_at=later))
    assert answer(response) == (400, "occurred_in_future")
    assert not LossCase.objects.exists()


def test_it_refuses_a_second_open_case_for_the_same_item(world, rifle):
    first = open_case(world, rifle)
    response = post(world, "dave", CASES, loss_body(rifle))
    assert answer(response) == (409, "item_already_lost")
    assert list(LossCase.objects.all()) == [first]


@pytest.mark.parametrize("who", [*STAFF_OF_A, "carol", "bob"])
def test_it_lists_and_shows_loss_cases_only_to_staff_of_the_items_unit(world, rifle, who):
    case = open_case(world, rifle)
    sees = who in STAFF_OF_A
    client = client_for(getattr(world, who))
    assert [row["id"] for row in client.get(CASES).json()["results"]] == ([case.pk] if sees else [])
    assert client.get(f"{CASES}{case.pk}/").status_code == (200 if sees else 404)


def test_it_filters_loss_cases_by_status_and_armory(world, rifle):
    case = open_case(world, rifle)
    closed = open_case(world, make_item(world.armory_a, world.alice))
    losses.recover(case=closed, armory=world.armory_a, actor=world.alice, notes="Found behind the lockers")
    foreign = open_case(world, make_item(world.armory_b, world.carol), actor=world.carol)
    rita = client_for(world.rita)

    def ids(**query):
        return sorted(row["id"] for row in rita.get(CASES, query).json()["results"])

    assert ids(status="open") == sorted([case.pk, foreign.pk])
    assert ids(status="recovered") == [closed.pk]
    assert ids(armory="ARM-B") == [foreign.pk]
    assert answer(rita.get(CASES, {"status": "lost"})) == (400, "invalid")


def test_it_lists_loss_cases_in_a_fixed_number_of_queries(world):
    client = client_for(world.dave)
    issued = make_item(world.armory_a, world.alice)
    services.issue(item=issued, member=world.bob_member, actor=world.alice)
    open_case(world, issued)
    one = queries_for(client, CASES)
    for _ in range(4):
        open_case(world, make_item(world.armory_a, world.alice))
    assert LossCase.objects.count() == 5
    assert queries_for(client, CASES) == one


def test_it_records_the_report_to_the_authorities(world, rifle):
    case = open_case(world, rifle)
    response = post(world, "dave", f"{CASES}{case.pk}/report", {"police_report_no": " UA-2026-118 "})
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert (case.police_report_no, case.authorities_notified_at is not None) == ("UA-2026-118", True)
    assert response.json()["police_report_no"] == "UA-2026-118"


@pytest.mark.parametrize(
    ("who", "body", "expected"),
    [
        ("erin", {"police_report_no": "X-1"}, (403, "not_loss_reporter")),
        ("bob", {"police_report_no": "X-1"}, (403, "not_loss_reporter")),
        ("carol", {"police_report_no": "X-1"}, (404, "loss_case_not_found")),
        ("frank", {"police_report_no": ""}, (400, "invalid")),
        ("frank", {}, (400, "invalid")),
    ],
)
def test_it_refuses_a_report_and_changes_nothing(world, rifle, who, body, expected):
    case = open_case(world, rifle)
    assert answer(post(world, who, f"{CASES}{case.pk}/report", body)) == expected
    case.refresh_from_db()
    assert (case.police_report_no, case.authorities_notified_at) == ("", None)


def test_it_refuses_a_report_for_a_closed_case_or_an_unknown_one(world, rifle):
    case = open_case(world, rifle)
    losses.recover(case=case, armory=world.armory_a, actor=world.alice, notes="Found in the back room")
    assert answer(post(world, "frank", f"{CASES}{case.pk}/report", {"police_report_no": "X"})) == (409, "case_closed")
    assert answer(post(world, "frank", f"{CASES}99999/report", {"police_report_no": "X"})) == (
        404, "loss_case_not_found"
    )  # fmt: skip


def test_it_recovers_an_item_into_an_armory_and_closes_the_case(world, rifle):
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    case = open_case(world, rifle)
    response = post(world, "alice", f"{CASES}{case.pk}/recover",
                    {"armory": "ARM-A", "condition": "needs_repair", "notes": "Handed in by the police"})  # fmt: skip
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    rifle.refresh_from_db()
    event = LedgerEvent.objects.get(item=rifle, kind="recover")
    assert (case.status, case.closed_by, case.closed_event, case.recovery_notes) == (
        "recovered", world.alice, event, "Handed in by the police"
    )  # fmt: skip
    assert (rifle.holder_kind, rifle.holder_armory, rifle.condition) == ("armory", world.armory_a, "needs_repair")
    assert (response.json()["status"], response.json()["closed_event"]) == ("recovered", event.seq)


@pytest.mark.parametrize(
    ("who", "body", "expected"),
    [
        ("frank", {"armory": "ARM-A", "notes": "back"}, (403, "not_armorer")),
        ("carol", {"armory": "ARM-B", "notes": "back"}, (404, "loss_case_not_found")),
        ("alice", {"armory": "ARM-B", "notes": "back"}, (404, "armory_not_found")),
        ("alice", {"armory": "ARM-A", "notes": ""}, (400, "invalid")),
        ("alice", {"armory": "ARM-A", "notes": "back", "condition": "shiny"}, (400, "invalid")),
    ],
)
def test_it_refuses_a_recovery_and_changes_nothing(world, rifle, who, body, expected):
    case = open_case(world, rifle)
    assert answer(post(world, who, f"{CASES}{case.pk}/recover", body)) == expected
    case.refresh_from_db()
    assert case.is_open
    assert not LedgerEvent.objects.filter(kind="recover").exists()


def test_it_refuses_to_recover_twice(world, rifle):
    case = open_case(world, rifle)
    losses.recover(case=case, armory=world.armory_a, actor=world.alice, notes="Found")
    response = post(world, "alice", f"{CASES}{case.pk}/recover", {"armory": "ARM-A", "notes": "again"})
    assert answer(response) == (409, "case_closed")
    assert LedgerEvent.objects.filter(kind="recover").count() == 1
