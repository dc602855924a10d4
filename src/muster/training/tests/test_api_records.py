"""API for a member's qualifications, prior service, and the report of qualifications expiring soon."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.testing import make_member, make_unit
from muster.members.models import Member
from muster.training.models import MemberQualification
from muster.training.testing import make_qualification, qualify

pytestmark = pytest.mark.django_db

EXPIRING = "/api/v1/reports/expiring/"


def client_for(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    return client


def qualifications_url(member: Member) -> str:
    return f"/api/v1/members/{member.member_no}/qualifications/"


def prior_service_url(member: Member) -> str:
    return f"/api/v1/members/{member.member_no}/qualifications/prior-service"


def grants() -> list:
    return list(MemberQualification.objects.order_by("pk").values_list("pk", "member", "qualification", "expires_on"))


@pytest.fixture
def rifle(world):
    return make_qualification("rifle-ak", name="Rifle (AK)")


def prior_service_body(**changes) -> dict:
    today = timezone.localdate()
    return {
        "qualification": "rifle-ak", "granted_on": str(today - timedelta(days=100)),
        "expires_on": str(today + timedelta(days=265)), "evidence": "army record 1234", **changes,
    }  # fmt: skip


# --- authentication ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["qualifications", "prior-service", "expiring"])
def test_it_answers_401_when_unauthenticated(world, rifle, path):
    client = APIClient()
    response = {
        "qualifications": lambda: client.get(qualifications_url(world.bob_member)),
        "prior-service": lambda: client.post(prior_service_url(world.bob_member), prior_service_body(), format="json"),
        "expiring": lambda: client.get(EXPIRING),
    }[path]()
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    assert grants() == []


# --- a member's qualifications -------------------------------------------------------------------------------------


def test_it_shows_the_latest_expiry_of_each_qualification_with_its_status_and_every_grant(world, rifle):
    drone = make_qualification("drone-op", name="Drone operator")
    radio = make_qualification("radio", name="Radio")
    bob = world.bob_member
    old = qualify(bob, rifle, world.dave, days_left=-100)
    renewed = qualify(bob, rifle, world.dave, days_left=200)
    qualify(bob, drone, world.dave, days_left=10)
    qualify(bob, radio, world.dave, days_left=-1)
    body = client_for(world.alice).get(qualifications_url(bob)).json()
    today = timezone.localdate()
    assert body["member"] == bob.member_no
    assert [(row["qualification"], row["expires_on"], row["status"]) for row in body["qualifications"]] == [
        ("drone-op", str(today + timedelta(days=10)), "expiring"),
        ("radio", str(today - timedelta(days=1)), "expired"),
        ("rifle-ak", str(renewed.expires_on), "valid"),
    ]
    assert [row["id"] for row in body["grants"]][-1] == old.pk
    assert len(body["grants"]) == 4
    assert body["grants"][0]["source"] == "prior_service"


@pytest.mark.parametrize(("who", "status"), [
    ("alice", 200), ("dave", 200), ("erin", 200), ("frank", 200), ("bob", 200), ("carol", 404),
])  # fmt: skip
def test_it_shows_a_members_qualifications_to_whoever_may_see_the_member(world, rifle, who, status):
    qualify(world.bob_member, rifle, world.dave)
    response = client_for(getattr(world, who)).get(qualifications_url(world.bob_member))
    assert response.status_code == status
    if status == 404:
        assert response.json()["code"] == "member_not_found"


def test_a_plain_member_cannot_see_anyone_elses_qualifications(world, rifle):
    response = client_for(world.bob).get(qualifications_url(world.alice.member))
    assert (response.status_code, response.json()["code"]) == (404, "member_not_found")


# --- prior service -------------------------------------------------------------------------------------------------


def test_a_commander_records_prior_service_with_its_evidence(world, rifle):
    response = client_for(world.dave).post(prior_service_url(world.bob_member), prior_service_body(), format="json")
    assert response.status_code == 201, response.content
    grant = MemberQualification.objects.get()
    assert (grant.member, grant.qualification, grant.source, grant.evidence, grant.granted_by) == (
        world.bob_member, rifle, "prior_service", "army record 1234", world.dave
    )  # fmt: skip
    assert (response.json()["id"], response.json()["qualification"], response.json()["session"]) == (
        grant.pk, "rifle-ak", None
    )  # fmt: skip


@pytest.mark.parametrize(
    ("who", "member", "changes", "status", "code"),
    [
        ("alice", "bob", {}, 403, "not_commander"),
        ("erin", "bob", {}, 403, "not_commander"),
        ("frank", "bob", {}, 403, "not_commander"),
        ("bob", "bob", {}, 403, "not_commander"),
        ("carol", "bob", {}, 404, "member_not_found"),
        ("dave", "member_b", {}, 404, "member_not_found"),
        ("dave", "bob", {"qualification": "no-such"}, 400, "invalid"),
        ("dave", "bob", {"evidence": "  "}, 400, "invalid"),
        ("dave", "bob", {"expires_on": "2000-01-01"}, 400, "expiry_before_grant"),
        ("dave", "bob", {"granted_on": "2999-01-01", "expires_on": "2999-06-01"}, 400, "grant_in_future"),
    ],
)
def test_it_refuses_bad_prior_service_and_grants_nothing(world, rifle, who, member, changes, status, code):
    target = world.bob_member if member == "bob" else world.member_b
    response = client_for(getattr(world, who)).post(
        prior_service_url(target), prior_service_body(**changes), format="json"
    )
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert grants() == []


# --- expiring report -----------------------------------------------------------------------------------------------


def test_it_reports_qualifications_expiring_within_the_window_in_the_callers_units(world, rifle):
    platoon = make_unit("A-1", parent=world.unit_a)
    soon, later, gone = make_member(world.unit_a), make_member(platoon), make_member(world.unit_a, status="departed")
    qualify(soon, rifle, world.dave, days_left=5)
    qualify(later, rifle, world.dave, days_left=20)
    qualify(gone, rifle, world.dave, days_left=5)
    qualify(world.member_b, rifle, world.dave, days_left=5)
    renewed = make_member(world.unit_a)
    qualify(renewed, rifle, world.dave, days_left=5)
    qualify(renewed, rifle, world.dave, days_left=300)  # the latest grant counts
    dave = client_for(world.dave)

    def rows(**query) -> list:
        response = dave.get(EXPIRING, query)
        assert response.status_code == 200, response.content
        return [(row["member"], row["qualification"], row["days_left"]) for row in response.json()["results"]]

    assert rows() == [(soon.member_no, "rifle-ak", 5), (later.member_no, "rifle-ak", 20)]
    assert rows(days=10) == [(soon.member_no, "rifle-ak", 5)]
    assert rows(unit="A-1") == [(later.member_no, "rifle-ak", 20)]
    first = dave.get(EXPIRING).json()["results"][0]
    assert (first["member_name"], first["unit"], first["qualification_name"]) == (soon.full_name, "A", "Rifle (AK)")
    # Region staff see both companies.
    assert world.member_b.member_no in [row["member"] for row in client_for(world.rita).get(EXPIRING).json()["results"]]


@pytest.mark.parametrize(
    ("who", "query", "status", "code"),
    [
        ("bob", {}, 403, "not_staff"),
        ("dave", {"unit": "B"}, 404, "unit_not_found"),
        ("dave", {"unit": "NO-SUCH"}, 404, "unit_not_found"),
        ("dave", {"days": "soon"}, 400, "invalid"),
        ("dave", {"days": "-1"}, 400, "invalid"),
    ],
)
def test_it_refuses_bad_report_requests(world, who, query, status, code):
    response = client_for(getattr(world, who)).get(EXPIRING, query)
    assert (response.status_code, response.json()["code"]) == (status, code)


@pytest.mark.parametrize("who", ["alice", "erin", "frank", "carol"])
def test_any_staff_may_read_the_report_of_their_units(world, rifle, who):
    qualify(world.bob_member, rifle, world.dave, days_left=3)
    rows = client_for(getattr(world, who)).get(EXPIRING).json()["results"]
    assert [row["member"] for row in rows] == ([] if who == "carol" else [world.bob_member.member_no])


# --- query counts --------------------------------------------------------------------------------------------------


def _add_expiring(world, rifle, count: int) -> None:
    for number in range(count):
        qualify(make_member(world.unit_a), rifle, world.dave, days_left=1 + number % 20)


def _add_grants(world, rifle, count: int) -> None:
    for number in range(count):
        qualify(world.bob_member, make_qualification(f"q-{count}-{number}"), world.dave, days_left=number - 5)


@pytest.mark.parametrize(
    ("path", "add", "rows"),
    [
        (EXPIRING, _add_expiring, lambda body: body["count"]),
        ("member", _add_grants, lambda body: len(body["grants"])),
    ],
)
def test_it_keeps_query_counts_flat(world, rifle, path, add, rows):
    dave = client_for(world.dave)
    path = qualifications_url(world.bob_member) if path == "member" else path

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = dave.get(path, {"limit": 100})
        assert response.status_code == 200
        return len(queries.captured_queries), rows(response.json())

    add(world, rifle, 5)
    few, few_rows = count()
    add(world, rifle, 35)
    many, many_rows = count()
    assert many_rows - few_rows == 35
    assert few == many
