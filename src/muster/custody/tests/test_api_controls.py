"""API for loss cases, maintenance and counts: each write changes what it says (or nothing when refused), every
row is scoped to the caller's units (else 404), roles are checked (403), and the lists read in a fixed number of
queries."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.custody import counts, losses, maintenance, services
from muster.custody.models import Armory, Count, CountScan, Discrepancy, Item, LedgerEvent, LossCase
from muster.custody.testing import make_item, make_item_type

pytestmark = pytest.mark.django_db

CASES, COUNTS = "/api/v1/loss-cases/", "/api/v1/counts/"
SEND, RECEIVE = "/api/v1/custody/maintenance/send", "/api/v1/custody/maintenance/receive"
INSPECTIONS = "/api/v1/reports/inspections/"
STAFF_OF_A = ["alice", "dave", "erin", "frank", "rita"]


def client_for(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    return client


def post(world, who: str, url: str, body: dict | None = None):
    return client_for(getattr(world, who)).post(url, body or {}, format="json")


def answer(response) -> tuple[int, str]:
    return response.status_code, response.json().get("code", "")


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.fixture
def workshop(world):
    return Armory.objects.create(code="WS-A", name="Gunsmith A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)


@pytest.fixture
def rifle(world):
    return make_item(world.armory_a, world.alice, serial="AK-1")


def open_case(world, item, actor=None) -> LossCase:
    return losses.open_case(
        item=item, kind="lost", circumstances="Left in a patrol vehicle", place="Checkpoint North",
        occurred_at=timezone.now() - timedelta(hours=2), actor=actor or world.frank,
    )  # fmt: skip


def loss_body(target, **changes) -> dict:
    body = {
        "item": target.serial_number, "kind": "stolen", "circumstances": "Taken from the vehicle at night",
        "occurred_at": (timezone.now() - timedelta(hours=5)).isoformat(), "place": "Depot gate",
    }  # fmt: skip
    return {**body, **changes}


# --- every new route needs credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", CASES), ("get", f"{CASES}1/"), ("post", CASES), ("post", f"{CASES}1/report"),
        ("post", f"{CASES}1/recover"), ("post", SEND), ("post", RECEIVE), ("get", INSPECTIONS), ("get", COUNTS),
        ("get", f"{COUNTS}1/"), ("post", COUNTS), ("post", f"{COUNTS}1/scan"), ("post", f"{COUNTS}1/submit"),
        ("post", f"{COUNTS}1/sign"), ("post", f"{COUNTS}discrepancies/1/resolve"),
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


# --- counts --------------------------------------------------------------------------------------------------------


@pytest.fixture
def shelf(world):
    """Three rifles in ARM-A and one issued to bob."""
    rifles = [make_item(world.armory_a, world.alice, serial=f"A-{n}") for n in range(4)]
    services.issue(item=rifles[3], member=world.bob_member, actor=world.alice)
    return rifles


def submitted(world, codes=("A-0", "A-1")) -> Count:
    count = counts.start(armory=world.armory_a, actor=world.alice)
    for code in codes:
        counts.scan(count=count, code=code, actor=world.alice)
    counts.submit(count=count, actor=world.alice)
    count.refresh_from_db()
    return count


ALL_ON_THE_SHELF = ("A-0", "A-1", "A-2")  # A-3 is out with bob


def settled(count: Count, actor) -> None:
    """Resolve every discrepancy of a submitted count (a missing item scanned back), then sign it if still open."""
    for discrepancy in count.discrepancies.select_related("item"):
        scan = discrepancy.item.serial_number if discrepancy.kind == "missing" else ""
        counts.resolve(discrepancy=discrepancy, actor=actor, explanation="Sorted out", scanned_code=scan)
    count.refresh_from_db()
    if count.status == "submitted":
        counts.sign(count=count, actor=actor)


def test_it_starts_a_count_with_what_the_ledger_expects(world, shelf):
    response = post(world, "frank", COUNTS, {"armory": "ARM-A"})
    assert response.status_code == 201, response.content
    count = Count.objects.get()
    assert response["Location"] == f"/api/v1/counts/{count.pk}/"
    assert (count.status, count.counter, sorted(count.expected)) == (
        "in_progress", world.frank, sorted(item.pk for item in shelf[:3])
    )  # fmt: skip
    body = response.json()
    assert (body["armory"], body["counter"], body["scans"], body["discrepancies"]) == ("ARM-A", "frank", [], [])


@pytest.mark.parametrize(
    ("who", "armory", "expected"),
    [
        ("erin", "ARM-A", (403, "not_counter")),
        ("dave", "ARM-A", (403, "not_counter")),
        ("bob", "ARM-A", (403, "not_counter")),
        ("carol", "ARM-A", (404, "armory_not_found")),
        ("alice", "NOPE", (404, "armory_not_found")),
    ],
)
def test_it_refuses_to_start_a_count_and_creates_none(world, shelf, who, armory, expected):
    assert answer(post(world, who, COUNTS, {"armory": armory})) == expected
    assert not Count.objects.exists()


def test_it_refuses_a_second_count_while_one_is_under_way(world, shelf):
    first = counts.start(armory=world.armory_a, actor=world.alice)
    assert answer(post(world, "frank", COUNTS, {"armory": "ARM-A"})) == (409, "count_in_progress")
    assert list(Count.objects.all()) == [first]


def test_it_records_scans_by_the_counter(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    response = post(world, "alice", f"{COUNTS}{count.pk}/scan", {"code": "A-0"})
    assert response.status_code == 201, response.content
    unknown = post(world, "alice", f"{COUNTS}{count.pk}/scan", {"code": "ZZ-9"})
    assert [(scan.code, scan.item_id) for scan in CountScan.objects.order_by("pk")] == [
        ("A-0", shelf[0].pk), ("ZZ-9", None)
    ]  # fmt: skip
    assert (response.json()["item"], unknown.json()["item"]) == (shelf[0].pk, None)


@pytest.mark.parametrize(
    ("who", "body", "expected"),
    [
        ("frank", {"code": "A-0"}, (403, "not_the_counter")),
        ("carol", {"code": "A-0"}, (404, "count_not_found")),
        ("bob", {"code": "A-0"}, (404, "count_not_found")),
        ("alice", {"code": ""}, (400, "invalid")),
        ("alice", {}, (400, "invalid")),
    ],
)
def test_it_refuses_a_scan_and_records_nothing(world, shelf, who, body, expected):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    assert answer(post(world, who, f"{COUNTS}{count.pk}/scan", body)) == expected
    assert not CountScan.objects.exists()


def test_it_refuses_scans_and_a_second_submission_after_submission(world, shelf):
    count = submitted(world)
    assert answer(post(world, "alice", f"{COUNTS}{count.pk}/scan", {"code": "A-2"})) == (409, "count_not_open")
    assert answer(post(world, "alice", f"{COUNTS}{count.pk}/submit")) == (409, "count_not_open")
    assert CountScan.objects.count() == 2 and Discrepancy.objects.count() == 1


def test_it_submits_a_count_and_answers_with_its_discrepancies(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    for code in ("A-0", "A-1", "A-3", "ZZ-9"):
        counts.scan(count=count, code=code, actor=world.alice)
    response = post(world, "alice", f"{COUNTS}{count.pk}/submit")
    assert response.status_code == 200, response.content
    count.refresh_from_db()
    assert count.status == "submitted"
    found = sorted((d.kind, d.item_id or d.code) for d in Discrepancy.objects.filter(count=count))
    assert found == sorted([("missing", shelf[2].pk), ("unexpected", shelf[3].pk), ("unknown", "ZZ-9")])
    body = response.json()
    assert sorted(row["kind"] for row in body["discrepancies"]) == ["missing", "unexpected", "unknown"]
    assert [row["code"] for row in body["scans"]] == ["A-0", "A-1", "A-3", "ZZ-9"]


@pytest.mark.parametrize(
    ("who", "expected"), [("frank", (403, "not_the_counter")), ("carol", (404, "count_not_found"))]
)
def test_it_refuses_a_submission_by_anyone_but_the_counter(world, shelf, who, expected):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    assert answer(post(world, who, f"{COUNTS}{count.pk}/submit")) == expected
    count.refresh_from_db()
    assert count.status == "in_progress" and not Discrepancy.objects.exists()


@pytest.mark.parametrize("who", ["frank", "dave"])
def test_a_second_person_signs_a_submitted_count(world, shelf, who):
    count = submitted(world, ALL_ON_THE_SHELF)
    response = post(world, who, f"{COUNTS}{count.pk}/sign")
    assert response.status_code == 200, response.content
    count.refresh_from_db()
    assert (count.status, count.signed_by.username) == ("closed", who)
    assert response.json()["signed_by"] == who


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("alice", (409, "same_signer")),
        ("erin", (403, "not_counter")),
        ("bob", (403, "not_counter")),
        ("carol", (404, "count_not_found")),
    ],
)
def test_it_refuses_a_signature_and_leaves_the_count_submitted(world, shelf, who, expected):
    count = submitted(world)
    assert answer(post(world, who, f"{COUNTS}{count.pk}/sign")) == expected
    count.refresh_from_db()
    assert (count.status, count.signed_by) == ("submitted", None)


def test_it_refuses_to_sign_a_count_still_being_scanned(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    assert answer(post(world, "frank", f"{COUNTS}{count.pk}/sign")) == (409, "count_not_submitted")
    count.refresh_from_db()
    assert count.status == "in_progress"


def resolve_url(discrepancy) -> str:
    return f"{COUNTS}discrepancies/{discrepancy.pk}/resolve"


def test_it_resolves_a_missing_item_as_found_when_it_is_scanned_back(world, shelf):
    missing = Discrepancy.objects.get(count=submitted(world), kind="missing")
    body = {"explanation": "On the cleaning bench", "scanned_code": "A-2"}
    response = post(world, "dave", resolve_url(missing), body)
    assert response.status_code == 200, response.content
    missing.refresh_from_db()
    assert (missing.resolution, missing.explanation, missing.resolved_by) == (
        "found", "On the cleaning bench", world.dave
    )  # fmt: skip
    assert (missing.found_scan.item, missing.found_scan.rescan, missing.found_scan.scanned_by) == (
        shelf[2], True, world.dave
    )  # fmt: skip
    found = response.json()
    assert (found["resolution"], found["found_scan"]["code"], found["found_scan"]["rescan"]) == ("found", "A-2", True)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"explanation": "On the cleaning bench"}, (409, "found_needs_rescan")),
        ({"explanation": "On the cleaning bench", "scanned_code": "A-0"}, (400, "scan_not_the_item")),
        ({"explanation": "Both at once", "scanned_code": "A-2", "open_loss_case": True}, (400, "found_or_loss_case")),
    ],
)
def test_it_finds_a_missing_item_only_by_its_own_scan(world, shelf, body, expected):
    missing = Discrepancy.objects.get(count=submitted(world), kind="missing")
    scans = CountScan.objects.count()
    assert answer(post(world, "dave", resolve_url(missing), body)) == expected
    missing.refresh_from_db()
    assert (missing.resolution, missing.found_scan, CountScan.objects.count()) == ("", None, scans)
    assert not LossCase.objects.exists()


def test_it_resolves_a_missing_item_by_opening_a_loss_case(world, shelf):
    missing = Discrepancy.objects.get(count=submitted(world), kind="missing")
    body = {"explanation": "Not found after a full search", "open_loss_case": True, "place": "Arms room A"}
    response = post(world, "frank", resolve_url(missing), body)
    assert response.status_code == 200, response.content
    missing.refresh_from_db()
    case = LossCase.objects.get(item=shelf[2])
    assert (missing.resolution, missing.loss_case, case.kind, case.place) == (
        "loss_case", case, "unaccounted", "Arms room A"
    )  # fmt: skip
    assert response.json()["loss_case"] == case.pk
    assert LedgerEvent.objects.filter(item=shelf[2], kind="loss").exists()


@pytest.mark.parametrize(
    ("who", "body", "expected"),
    [
        ("erin", {"explanation": "x"}, (403, "not_counter")),
        ("carol", {"explanation": "x"}, (404, "discrepancy_not_found")),
        ("frank", {"explanation": ""}, (400, "invalid")),
        ("frank", {"explanation": "x", "open_loss_case": "perhaps"}, (400, "invalid")),
    ],
)
def test_it_refuses_a_resolution_and_changes_nothing(world, shelf, who, body, expected):
    missing = Discrepancy.objects.get(count=submitted(world), kind="missing")
    assert answer(post(world, who, resolve_url(missing), body)) == expected
    missing.refresh_from_db()
    assert (missing.resolution, missing.resolved_by) == ("", None)
    assert not LossCase.objects.exists()


def test_it_refuses_a_loss_case_for_a_discrepancy_that_is_not_missing(world, shelf):
    unexpected = Discrepancy.objects.get(count=submitted(world, ("A-0", "A-1", "A-3")), kind="unexpected")
    body = {"explanation": "Bob brought it in", "open_loss_case": True}
    assert answer(post(world, "frank", resolve_url(unexpected), body)) == (400, "not_missing")
    unexpected.refresh_from_db()
    assert unexpected.resolution == "" and not LossCase.objects.exists()


def test_it_refuses_to_resolve_twice(world, shelf):
    missing = Discrepancy.objects.get(count=submitted(world), kind="missing")
    counts.resolve(discrepancy=missing, actor=world.dave, explanation="On the bench", scanned_code="A-2")
    body = {"explanation": "again", "scanned_code": "A-2"}
    assert answer(post(world, "frank", resolve_url(missing), body)) == (409, "already_resolved")
    missing.refresh_from_db()
    assert (missing.explanation, missing.resolved_by) == ("On the bench", world.dave)


@pytest.mark.parametrize("who", [*STAFF_OF_A, "carol", "bob"])
def test_it_lists_and_shows_counts_only_to_staff_of_the_armorys_unit(world, shelf, who):
    count = submitted(world)
    sees = who in STAFF_OF_A
    client = client_for(getattr(world, who))
    assert [row["id"] for row in client.get(COUNTS).json()["results"]] == ([count.pk] if sees else [])
    response = client.get(f"{COUNTS}{count.pk}/")
    assert response.status_code == (200 if sees else 404)
    if sees:
        assert [row["code"] for row in response.json()["scans"]] == ["A-0", "A-1"]
        assert [row["kind"] for row in response.json()["discrepancies"]] == ["missing"]


def test_it_filters_counts_by_status_and_armory(world, shelf):
    closed = submitted(world, ALL_ON_THE_SHELF)
    counts.sign(count=closed, actor=world.frank)
    running = counts.start(armory=world.armory_b, actor=world.carol)
    rita = client_for(world.rita)

    def ids(**query):
        return [row["id"] for row in rita.get(COUNTS, query).json()["results"]]

    assert ids(status="closed") == [closed.pk]
    assert ids(armory="ARM-B") == [running.pk]
    assert answer(rita.get(COUNTS, {"status": "done"})) == (400, "invalid")


def test_it_lists_counts_in_a_fixed_number_of_queries(world, shelf):
    client = client_for(world.dave)
    first = submitted(world)
    settled(first, world.frank)
    one = queries_for(client, COUNTS)
    for counter in (world.frank, world.alice, world.frank):
        count = counts.start(armory=world.armory_a, actor=counter)
        for code in ("A-0", "A-0", "ZZ-1"):
            counts.scan(count=count, code=code, actor=counter)
        counts.submit(count=count, actor=counter)
        settled(count, world.dave)
    assert Count.objects.count() == 4 and Discrepancy.objects.count() > 4
    assert queries_for(client, COUNTS) == one
