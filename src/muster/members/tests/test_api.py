import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.testing import PASSWORD, make_account, make_member, make_unit
from muster.members.api import MemberSerializer
from muster.members.models import Role

pytestmark = pytest.mark.django_db

URLS = ["/api/v1/units/", "/api/v1/units/A/", "/api/v1/members/", "/api/v1/members/{bob}/"]


def client_for(account, *, via: str = "token") -> APIClient:
    client = APIClient()
    if via == "token":
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    else:
        assert client.login(username=account.username, password=PASSWORD)
    return client


def member_numbers(client, query: str = "") -> list[str]:
    response = client.get(f"/api/v1/members/{query}")
    assert response.status_code == 200, response.content
    return [row["member_no"] for row in response.json()["results"]]


@pytest.mark.parametrize("url", URLS)
def test_it_answers_401_with_a_challenge_when_unauthenticated(world, url):
    response = APIClient().get(url.format(bob=world.bob_member.member_no))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"code": "not_authenticated", "detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("via", ["token", "session"])
@pytest.mark.parametrize("url", URLS)
def test_it_serves_token_and_session_callers(world, via, url):
    response = client_for(world.alice, via=via).get(url.format(bob=world.bob_member.member_no))
    assert response.status_code == 200, response.content


def test_it_lists_the_units_in_the_callers_scope(world):
    make_unit("A-1", parent=world.unit_a, name="Platoon A-1")
    alice = client_for(world.alice)
    rows = alice.get("/api/v1/units/").json()["results"]
    assert [(row["code"], row["parent"], row["depth"]) for row in rows] == [("A", "R", 1), ("A-1", "A", 2)]
    assert alice.get("/api/v1/units/B/").status_code == 404
    assert alice.get("/api/v1/units/R/").json() == {"code": "not_found", "detail": "Not found."}
    assert sorted(row["code"] for row in client_for(world.rita).get("/api/v1/units/").json()["results"]) == [
        "A", "A-1", "B", "R"
    ]  # fmt: skip
    assert [row["code"] for row in alice.get("/api/v1/units/?parent=A").json()["results"]] == ["A-1"]


def test_it_shows_staff_the_members_of_their_units_and_contact_data_to_commanders_and_auditors(world):
    alice = client_for(world.alice)
    numbers = member_numbers(alice)
    assert world.bob_member.member_no in numbers
    assert world.member_b.member_no not in numbers
    row = alice.get(f"/api/v1/members/{world.bob_member.member_no}/").json()
    assert (row["full_name"], row["unit"], row["status"]) == ("Bob Baker", "A", "active")
    assert (row["phone"], row["email"]) == (None, None)  # an armorer sees the roster, not how to reach people
    response = alice.get(f"/api/v1/members/{world.member_b.member_no}/")
    assert (response.status_code, response.json()) == (404, {"code": "not_found", "detail": "Not found."})
    assert alice.get("/api/v1/members/NO-SUCH/").status_code == 404
    # The commander and the auditor of the unit see it.
    for reader in (world.dave, world.erin):
        assert client_for(reader).get(f"/api/v1/members/{world.bob_member.member_no}/").json()["phone"]


def test_it_shows_a_plain_member_only_themself_with_their_own_contact_data(world):
    bob = client_for(world.bob)
    assert member_numbers(bob) == [world.bob_member.member_no]
    row = bob.get(f"/api/v1/members/{world.bob_member.member_no}/").json()
    assert row["phone"] == world.bob_member.phone
    alice_no = world.alice.member.member_no
    assert bob.get(f"/api/v1/members/{alice_no}/").status_code == 404


def test_it_hides_contact_data_from_callers_who_are_not_commanders_or_auditors_of_the_members_unit(world):
    # Rita, armorer of the region, sees every member below it, without contact data; a commander of the region
    # sees it for all of them. Someone seeing a member without any role over them can only be that member.
    rita = client_for(world.rita)
    row = rita.get(f"/api/v1/members/{world.member_b.member_no}/").json()
    assert (row["member_no"], row["phone"], row["email"]) == (world.member_b.member_no, None, None)
    rex = make_account("rex", roles=[(Role.COMMANDER, world.region)])
    assert client_for(rex).get(f"/api/v1/members/{world.member_b.member_no}/").json()["phone"] == world.member_b.phone
    request = type("Request", (), {"user": world.bob})()
    data = MemberSerializer(world.member_b, context={"request": request}).data
    assert (data["phone"], data["email"], data["member_no"]) == (None, None, world.member_b.member_no)


def test_it_filters_members_by_name_status_and_unit(world):
    make_member(world.unit_a, first_name="Zed", last_name="Zulu", status="suspended")
    alice = client_for(world.alice)
    assert member_numbers(alice, "?q=Baker") == [world.bob_member.member_no]
    assert [row["last_name"] for row in alice.get("/api/v1/members/?status=suspended").json()["results"]] == ["Zulu"]
    assert member_numbers(alice, "?unit=B") == []
    assert len(member_numbers(alice, "?unit=A")) == 3
    response = alice.get("/api/v1/members/?status=sleeping")
    assert (response.status_code, response.json()["code"], list(response.json()["errors"])) == (
        400,
        "invalid",
        ["status"],
    )


def _query_count(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"limit": 100})
    assert response.status_code == 200
    return len(queries.captured_queries), response.json()["count"]


@pytest.mark.parametrize("url", ["/api/v1/members/", "/api/v1/units/"])
def test_it_keeps_list_query_counts_flat(world, url):
    client = client_for(world.rita)

    def add(count: int) -> None:
        for _ in range(count):
            unit = make_unit(f"P{make_member(world.unit_a).pk}", parent=world.unit_a)
            make_member(unit)

    add(5)
    few, few_rows = _query_count(client, url)
    add(35)
    many, many_rows = _query_count(client, url)
    assert many_rows - few_rows >= 35
    assert few == many
