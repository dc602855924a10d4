"""API for issuing on a commander's override, the overrides report, the ledger's override filter, and the
qualifications item types require."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.testing import PASSWORD, make_account, make_member
from muster.custody import services
from muster.custody.models import Item, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.members.models import Member, Role
from muster.training.testing import make_qualification

pytestmark = pytest.mark.django_db

ISSUE = "/api/v1/custody/issue"
OVERRIDES = "/api/v1/reports/overrides/"
REASON = "Range day; the refresher is booked for Monday."


def client_for(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    return client


def custody_state() -> list:
    holders = list(Item.objects.order_by("pk").values_list("pk", "holder_kind", "holder_armory", "holder_member"))
    return [LedgerEvent.objects.count(), holders]


@pytest.fixture
def rifle(world):
    """An item of a type that needs the AK qualification, which bob lacks."""
    item_type = make_item_type("AK-74M assault rifle")
    item_type.required_qualifications.set([make_qualification("rifle-ak")])
    return make_item(world.armory_a, world.alice, item_type=item_type, serial="A-1")


def issue_body(item: Item, member: Member, **override) -> dict:
    countersign = {"commander": "dave", "commander_password": PASSWORD, "reason": REASON, **override}
    return {"item": item.pk, "member": member.member_no, "override": countersign}


# --- item types ----------------------------------------------------------------------------------------------------


def test_it_shows_the_qualifications_an_item_type_requires(world, rifle):
    rifle.item_type.required_qualifications.add(make_qualification("marksman"))
    row = client_for(world.bob).get(f"/api/v1/item-types/{rifle.item_type_id}/").json()
    assert sorted(row["required_qualifications"]) == ["marksman", "rifle-ak"]


def test_it_keeps_the_item_type_list_query_count_flat_with_qualifications(world):
    client = client_for(world.alice)

    def add(count: int) -> None:
        for number in range(count):
            item_type = make_item_type(f"Type {count}-{number}")
            item_type.required_qualifications.set([make_qualification(f"q{count}-{number}"), make_qualification()])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/item-types/", {"limit": 100}).status_code == 200
        return len(captured.captured_queries)

    add(5)
    few = queries()
    add(35)
    assert queries() == few


# --- issue with an override ----------------------------------------------------------------------------------------


def test_it_refuses_an_unqualified_member_without_an_override(world, rifle):
    before = custody_state()
    response = client_for(world.alice).post(
        ISSUE, {"item": rifle.pk, "member": world.bob_member.member_no}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "member_not_qualified")
    assert custody_state() == before


def test_it_issues_on_a_commanders_countersign_and_records_it_in_the_ledger(world, rifle):
    response = client_for(world.alice).post(ISSUE, issue_body(rifle, world.bob_member), format="json")
    assert response.status_code == 201, response.content
    event = LedgerEvent.objects.get(item=rifle, kind="issue")
    assert event.data == {
        "override": {"commander": world.dave.pk, "codes": ["member_not_qualified"], "reason": REASON}
    }  # fmt: skip
    assert (event.actor, event.to_member) == (world.alice, world.bob_member)
    assert Item.objects.get(pk=rifle.pk).holder_member == world.bob_member
    assert response.json()["data"]["override"]["codes"] == ["member_not_qualified"]
    assert "commander_password" not in response.content.decode()


@pytest.mark.parametrize(
    ("override", "status", "code"),
    [
        ({"commander_password": "wrong"}, 403, "countersign_failed"),
        ({"commander": "nobody"}, 403, "countersign_failed"),
        ({"commander": "frank"}, 403, "override_not_commander"),  # right password, but a duty officer
        ({"commander": "bea"}, 403, "override_not_commander"),  # a commander, of the other unit
        ({"reason": "ok"}, 400, "override_reason_missing"),
        ({"reason": None}, 400, "invalid"),
        ({"commander": ""}, 400, "invalid"),
    ],
)
def test_it_refuses_a_bad_countersign_and_changes_nothing(world, rifle, override, status, code):
    make_account("bea", roles=[(Role.COMMANDER, world.unit_b)])
    before = custody_state()
    response = client_for(world.alice).post(ISSUE, issue_body(rifle, world.bob_member, **override), format="json")
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert custody_state() == before


def test_a_commander_cannot_countersign_their_own_issue(world, rifle):
    ann = make_account("ann", roles=[(Role.ARMORER, world.unit_a), (Role.COMMANDER, world.unit_a)])
    before = custody_state()
    body = issue_body(rifle, world.bob_member, commander="ann")
    response = client_for(ann).post(ISSUE, body, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "self_override")
    assert custody_state() == before


@pytest.mark.parametrize("code", ["member_not_active", "item_unserviceable"])
def test_an_override_cannot_lift_a_refusal_that_is_not_overridable(world, rifle, code):
    if code == "member_not_active":
        Member.objects.filter(pk=world.bob_member.pk).update(status="suspended")
    else:
        Item.objects.filter(pk=rifle.pk).update(condition="needs_repair")
    before = custody_state()
    response = client_for(world.alice).post(ISSUE, issue_body(rifle, world.bob_member), format="json")
    assert (response.status_code, response.json()["code"]) == (409, code)
    assert custody_state() == before


def test_an_override_on_an_issue_the_gate_allows_records_nothing_extra(world):
    item = make_item(world.armory_a, world.alice, item_type=make_item_type("Radio", category="radio"))
    response = client_for(world.alice).post(ISSUE, issue_body(item, world.bob_member), format="json")
    assert response.status_code == 201, response.content
    assert LedgerEvent.objects.get(item=item, kind="issue").data == {}


# --- the overrides report and the ledger filter --------------------------------------------------------------------


def overridden_issue(world, rifle=None, member=None) -> LedgerEvent:
    if rifle is None:
        item_type = make_item_type("AK-74M assault rifle")
        item_type.required_qualifications.set([make_qualification("rifle-ak")])
        rifle = make_item(world.armory_a, world.alice, item_type=item_type)
    return services.issue(
        item=rifle, member=member or world.bob_member, actor=world.alice,
        override=services.Override(commander=world.dave, reason=REASON),
    )  # fmt: skip


@pytest.mark.parametrize(("who", "status", "rows"), [
    ("dave", 200, 1), ("erin", 200, 1), ("alice", 403, 0), ("frank", 403, 0), ("bob", 403, 0), ("carol", 403, 0),
    ("bea", 200, 0),  # a commander of B sees none of A's overrides
])  # fmt: skip
def test_it_reports_overrides_to_commanders_and_auditors_of_the_unit(world, rifle, who, status, rows):
    accounts = {"bea": make_account("bea", roles=[(Role.COMMANDER, world.unit_b)])}
    event = overridden_issue(world, rifle)
    make_item(world.armory_a, world.alice)  # an ordinary register event, not in the report
    response = client_for(accounts.get(who) or getattr(world, who)).get(OVERRIDES)
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "not_commander_or_auditor"
        return
    results = response.json()["results"]
    assert len(results) == rows
    if rows:
        assert results[0]["event"]["seq"] == event.seq
        assert results[0]["override"] == {"commander": "dave", "codes": ["member_not_qualified"], "reason": REASON}


def test_it_filters_the_ledger_by_override(world, rifle):
    event = overridden_issue(world, rifle)
    alice = client_for(world.alice)
    assert [row["seq"] for row in alice.get("/api/v1/ledger/?override=true").json()["results"]] == [event.seq]
    assert event.seq not in [row["seq"] for row in alice.get("/api/v1/ledger/?override=false").json()["results"]]
    response = alice.get("/api/v1/ledger/?override=maybe")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["override"])


def test_it_keeps_the_overrides_report_query_count_flat(world):
    dave = client_for(world.dave)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = dave.get(OVERRIDES, {"limit": 100})
        assert response.status_code == 200
        return len(captured.captured_queries), response.json()["count"]

    def add(number: int) -> None:
        for _ in range(number):
            overridden_issue(world, member=make_member(world.unit_a))

    add(5)
    few, few_rows = count()
    add(35)
    many, many_rows = count()
    assert (few_rows, many_rows) == (5, 40)
    assert few == many
