"""API for counts: starting one, scanning, submitting, the second person's signature and resolving its
discrepancies (found by a rescan, or a loss case) each change what they say (or nothing when refused), every count is
scoped to the caller's units (else 404), roles are checked (403), and the list reads in a fixed number of queries."""

import pytest
from rest_framework.test import APIClient

from muster.custody import counts, services
from muster.custody.models import Count, CountScan, Discrepancy, LedgerEvent, LossCase
from muster.custody.testing import make_item
from muster.custody.tests.api_controls_fixtures import STAFF_OF_A, answer, client_for, post, queries_for

pytestmark = pytest.mark.django_db

COUNTS = "/api/v1/counts/"


# --- every route needs credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", COUNTS), ("get", f"{COUNTS}1/"), ("post", COUNTS), ("post", f"{COUNTS}1/scan"),
        ("post", f"{COUNTS}1/submit"), ("post", f"{COUNTS}1/sign"), ("post", f"{COUNTS}discrepancies/1/resolve"),
    ],
)  # fmt: skip
def test_it_answers_401_without_credentials(world, method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert answer(response) == (401, "not_authenticated")


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
