from datetime import timedelta

import pytest
from django.db import connection
from django.middleware.csrf import _get_new_csrf_string
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.testing import PASSWORD, make_member
from muster.custody import services
from muster.custody.models import Armory, HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item, make_item_type
from muster.members.models import Member

pytestmark = pytest.mark.django_db

ISSUE = "/api/v1/custody/issue"
RETURN = "/api/v1/custody/return"


def client_for(account, *, via: str = "token") -> APIClient:
    client = APIClient()
    if via == "token":
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    else:
        assert client.login(username=account.username, password=PASSWORD)
    return client


def custody_state() -> list:
    """Everything a custody write could change: the ledger length and every item's holder."""
    holders = list(Item.objects.order_by("pk").values_list("pk", "holder_kind", "holder_armory", "holder_member"))
    return [LedgerEvent.objects.count(), holders]


def issued(world, item: Item, member: Member | None = None) -> Item:
    services.issue(item=item, member=member or world.bob_member, actor=world.alice)
    item.refresh_from_db()
    return item


@pytest.fixture
def items(world):
    """One item in each unit's armory."""
    return make_item(world.armory_a, world.alice, serial="A-1"), make_item(world.armory_b, world.carol, serial="B-1")


# --- authentication ------------------------------------------------------------------------------------------------

READ_URLS = [
    "/api/v1/item-types/",
    "/api/v1/armories/",
    "/api/v1/armories/ARM-A/",
    "/api/v1/items/",
    "/api/v1/items/{item}/",
    "/api/v1/ledger/",
    "/api/v1/ledger/1/",
]


@pytest.mark.parametrize("url", [*READ_URLS, ISSUE, RETURN])
def test_it_answers_401_with_a_challenge_when_unauthenticated(world, items, url):
    client = APIClient()
    url = url.format(item=items[0].pk)
    response = client.post(url, {}, format="json") if "custody" in url else client.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"code": "not_authenticated", "detail": "Authentication credentials were not provided."}


def test_it_answers_401_for_a_wrong_token(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/items/")
    assert response.status_code == 401
    assert response.json() == {"code": "authentication_failed", "detail": "Invalid token."}


@pytest.mark.parametrize("via", ["token", "session"])
@pytest.mark.parametrize("url", READ_URLS)
def test_it_serves_reads_to_token_and_session_callers(world, items, via, url):
    services.issue(item=items[0], member=world.bob_member, actor=world.alice)
    response = client_for(world.alice, via=via).get(url.format(item=items[0].pk))
    assert response.status_code == 200, response.content


def test_it_lets_any_signed_in_account_read_item_types(world, items):
    for account in (world.bob, world.carol, world.erin):
        body = client_for(account).get("/api/v1/item-types/").json()
        assert [row["name"] for row in body["results"]] == [items[0].item_type.name]


# --- scoping -------------------------------------------------------------------------------------------------------


def test_it_shows_armories_of_the_callers_units_only(world):
    alice = client_for(world.alice)
    assert [row["code"] for row in alice.get("/api/v1/armories/").json()["results"]] == ["ARM-A"]
    assert alice.get("/api/v1/armories/ARM-A/").json() == {
        "code": "ARM-A", "name": "Arms room A", "unit": "A", "address": ""
    }  # fmt: skip
    response = alice.get("/api/v1/armories/ARM-B/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    assert client_for(world.bob).get("/api/v1/armories/").json()["count"] == 0
    assert [row["code"] for row in client_for(world.rita).get("/api/v1/armories/").json()["results"]] == [
        "ARM-A",
        "ARM-B",
    ]


def test_it_shows_items_of_the_callers_units_with_their_holder(world, items):
    item_a, item_b = items
    alice = client_for(world.alice)
    assert [row["serial_number"] for row in alice.get("/api/v1/items/").json()["results"]] == ["A-1"]
    assert alice.get(f"/api/v1/items/{item_b.pk}/").status_code == 404
    assert alice.get("/api/v1/items/999999/").status_code == 404
    row = alice.get(f"/api/v1/items/{item_a.pk}/").json()
    assert row["holder"] == {
        "kind": "armory", "ref": f"armory:{world.armory_a.pk}", "code": "ARM-A", "member_no": None,
        "name": "Arms room A",
    }  # fmt: skip
    assert (row["due_at"], row["custody_version"], row["home_armory"]) == (None, 1, "ARM-A")
    issued(world, item_a)
    row = alice.get(f"/api/v1/items/{item_a.pk}/").json()
    assert row["holder"] == {
        "kind": "member", "ref": f"member:{world.bob_member.pk}", "code": None,
        "member_no": world.bob_member.member_no, "name": "Bob Baker",
    }  # fmt: skip
    assert row["due_at"] is not None
    assert row["custody_version"] == 2


def test_it_shows_a_plain_member_only_the_items_they_hold(world, items):
    bob = client_for(world.bob)
    assert bob.get("/api/v1/items/").json()["count"] == 0
    assert bob.get(f"/api/v1/items/{items[0].pk}/").status_code == 404
    issued(world, items[0])
    assert [row["id"] for row in bob.get("/api/v1/items/").json()["results"]] == [items[0].pk]


def test_it_filters_items_by_state(world, items):
    other = make_item(world.armory_a, world.alice, serial="A-2")
    issued(world, other)
    alice = client_for(world.alice)
    assert [row["serial_number"] for row in alice.get("/api/v1/items/?state=issued").json()["results"]] == ["A-2"]
    assert [row["serial_number"] for row in alice.get("/api/v1/items/?state=in_armory").json()["results"]] == ["A-1"]


# --- ledger --------------------------------------------------------------------------------------------------------


def test_it_renders_a_ledger_event_with_refs_and_readable_holders(world, items):
    item = issued(world, items[0])
    event = LedgerEvent.objects.get(item=item, kind="issue")
    row = client_for(world.alice).get(f"/api/v1/ledger/{event.seq}/").json()
    assert row["item"] == {
        "id": item.pk, "serial_number": "A-1",
        "item_type": {"id": item.item_type_id, "name": item.item_type.name, "category": "firearm"},
    }  # fmt: skip
    assert (row["seq"], row["kind"], row["item_version"], row["actor"], row["actor_id"]) == (
        event.seq, "issue", 2, "alice", world.alice.pk,
    )  # fmt: skip
    assert (row["from"], row["to"]) == (f"armory:{world.armory_a.pk}", f"member:{world.bob_member.pk}")
    assert row["from_holder"]["code"] == "ARM-A"
    assert row["to_holder"]["member_no"] == world.bob_member.member_no
    assert (row["prev_hash"], row["hash"]) == (event.prev_hash, event.hash)
    register = client_for(world.alice).get(f"/api/v1/ledger/?item={item.pk}&kind=register").json()["results"][0]
    assert (register["from"], register["from_holder"]) == (None, None)


def test_it_shows_ledger_events_of_the_callers_units_only(world, items):
    item_a, item_b = items
    seq_b = LedgerEvent.objects.get(item=item_b).seq
    alice = client_for(world.alice)
    assert [row["item"]["id"] for row in alice.get("/api/v1/ledger/").json()["results"]] == [item_a.pk]
    assert alice.get(f"/api/v1/ledger/{seq_b}/").status_code == 404
    issued(world, item_a)
    # A plain member sees the events they were party to, and nothing else.
    assert [row["kind"] for row in client_for(world.bob).get("/api/v1/ledger/").json()["results"]] == ["issue"]


def test_it_filters_the_ledger_by_item_member_time_and_seq(world, items):
    item_a, _ = items
    other = make_item(world.armory_a, world.alice, serial="A-2")
    other_member = make_member(world.unit_a)
    issued(world, item_a)
    issued(world, other, other_member)
    alice = client_for(world.alice)

    def kinds(**query):
        response = alice.get("/api/v1/ledger/", query)
        assert response.status_code == 200, response.content
        return [(row["item"]["serial_number"], row["kind"]) for row in response.json()["results"]]

    assert kinds(item=item_a.pk) == [("A-1", "register"), ("A-1", "issue")]
    assert kinds(serial="A-2") == [("A-2", "register"), ("A-2", "issue")]
    assert kinds(member=other_member.member_no) == [("A-2", "issue")]
    last = LedgerEvent.objects.order_by("seq").last()
    assert kinds(after_seq=last.seq - 1) == [("A-2", "issue")]
    assert kinds(since=last.recorded_at.isoformat()) == [("A-2", "issue")]
    assert kinds(until=last.recorded_at.isoformat(), kind="issue") == [("A-1", "issue")]
    assert kinds(since=(timezone.now() + timedelta(minutes=1)).isoformat()) == []


def test_it_answers_400_for_a_bad_filter_value(world):
    response = client_for(world.alice).get("/api/v1/ledger/?since=yesterday")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], list(body["errors"])) == ("invalid", ["since"])
    assert "since" in body["detail"]


# --- query counts --------------------------------------------------------------------------------------------------


def _query_count(client, url: str, rows: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"limit": 100})
    assert response.status_code == 200
    assert response.json()["count"] == rows
    return len(queries.captured_queries)


def _add_items(world, count: int) -> None:
    for number in range(count):
        item = make_item(world.armory_a, world.alice, item_type=make_item_type(f"Type {number % 3}"))
        if number % 2:
            issued(world, item, make_member(world.unit_a))


@pytest.mark.parametrize(
    ("url", "add", "rows_per_add"),
    [
        ("/api/v1/items/", _add_items, 1),
        ("/api/v1/ledger/", _add_items, 1.5),
        ("/api/v1/item-types/", lambda world, n: [make_item_type(f"T{n}-{i}") for i in range(n)], 1),
        (
            "/api/v1/armories/",
            lambda world, n: [Armory.objects.create(code=f"X{i}-{n}", name="x", unit=world.unit_a) for i in range(n)],
            1,
        ),
    ],
)
def test_it_keeps_list_query_counts_flat(world, url, add, rows_per_add):
    client = client_for(world.alice)
    base = client.get(url).json()["count"]
    add(world, 6)
    few = _query_count(client, url, base + int(6 * rows_per_add))
    add(world, 40)
    many = _query_count(client, url, base + int(46 * rows_per_add))
    assert few == many


# --- issue and return ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["token", "session"])
def test_it_issues_an_item_by_id_and_records_the_actor(world, items, via):
    due = timezone.now() + timedelta(hours=6)
    body = {"item": items[0].pk, "member": world.bob_member.member_no, "due_at": due.isoformat(), "reason": "patrol"}
    response = client_for(world.alice, via=via).post(ISSUE, body, format="json")
    assert response.status_code == 201, response.content
    event = LedgerEvent.objects.get(item=items[0], kind="issue")
    assert (event.actor, event.to_member, event.reason, event.due_at) == (world.alice, world.bob_member, "patrol", due)
    item = Item.objects.get(pk=items[0].pk)
    assert (item.holder_kind, item.holder_member, item.due_at) == (HolderKind.MEMBER, world.bob_member, due)
    row = response.json()
    assert (row["seq"], row["kind"], row["actor"], row["to"]) == (
        event.seq,
        "issue",
        "alice",
        f"member:{event.to_member_id}",
    )
    assert response["Location"] == f"/api/v1/ledger/{event.seq}/"


@pytest.mark.parametrize("by", ["id", "serial"])
def test_the_issue_answers_with_the_event_as_the_ledger_shows_it_in_a_fixed_number_of_queries(world, items, by):
    """The 201 body is built from the objects the request already loaded (custody.api.attach_parties), not read
    back: it must equal the ledger API's view of the event, and the request's queries must stay few."""
    body = {"item": items[0].pk if by == "id" else "A-1", "member": world.bob_member.member_no}
    alice = client_for(world.alice)
    with CaptureQueriesContext(connection) as queries:
        response = alice.post(ISSUE, body, format="json")
    sql = [query["sql"] for query in queries.captured_queries]  # now: the next request clears Django's query log
    assert response.status_code == 201, response.content
    event = LedgerEvent.objects.get(item=items[0], kind="issue")
    assert response.json() == alice.get(f"/api/v1/ledger/{event.seq}/").json()
    # The token, the item, the member, then the issue under the lock (item, type, armory, member, policy, open
    # loss cases, qualifications, head, event, item) and the webhooks after commit; no read-back of the event.
    assert len(sql) <= 19, "\n".join(statement[:120] for statement in sql)
    assert not any('FROM "custody_ledgerevent"' in statement for statement in sql)


def test_it_issues_by_serial_and_takes_the_type_when_serials_repeat(world, items):
    radio = make_item(world.armory_a, world.alice, item_type=make_item_type("Radio", category="radio"), serial="A-1")
    alice = client_for(world.alice)
    ambiguous = alice.post(ISSUE, {"item": "A-1", "member": world.bob_member.member_no}, format="json")
    assert ambiguous.status_code == 400
    assert ambiguous.json() == {"code": "serial_ambiguous", "detail": ambiguous.json()["detail"]}
    body = {"item": " A-1 ", "item_type": radio.item_type_id, "member": world.bob_member.member_no}
    assert alice.post(ISSUE, body, format="json").status_code == 201
    assert Item.objects.get(pk=radio.pk).holder_member == world.bob_member
    assert Item.objects.get(pk=items[0].pk).holder_kind == HolderKind.ARMORY


def test_it_needs_a_csrf_token_for_session_writes(world, items):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="alice", password=PASSWORD)
    body = {"item": items[0].pk, "member": world.bob_member.member_no}
    refused = client.post(ISSUE, body, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert Item.objects.get(pk=items[0].pk).holder_kind == HolderKind.ARMORY
    client.cookies["csrftoken"] = token = _get_new_csrf_string()
    assert client.post(ISSUE, body, format="json", HTTP_X_CSRFTOKEN=token).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"member": "M"}, "item"),
        ({"item": True, "member": "M"}, "item"),
        ({"item": "  ", "member": "M"}, "item"),
        ({"item": 1}, "member"),
        ({"item": 1, "member": "M", "due_at": "2030-01-01T10:00:00"}, "due_at"),
        ({"item": 1, "member": "M", "due_at": "next week"}, "due_at"),
    ],
)
def test_it_answers_400_with_field_errors_for_bad_issue_input(world, items, body, field):
    before = custody_state()
    response = client_for(world.alice).post(ISSUE, body, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert (sorted(payload), payload["code"], list(payload["errors"])) == (
        ["code", "detail", "errors"],
        "invalid",
        [field],
    )
    assert custody_state() == before


def test_it_answers_400_for_a_due_time_in_the_past(world, items):
    before = custody_state()
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    body = {"item": items[0].pk, "member": world.bob_member.member_no, "due_at": past}
    response = client_for(world.alice).post(ISSUE, body, format="json")
    assert (response.status_code, response.json()) == (
        400, {"code": "due_in_past", "detail": "The due-back time must be in the future."}
    )  # fmt: skip
    assert custody_state() == before


def test_it_accepts_only_json_for_custody_writes(world, items):
    response = client_for(world.alice).post(ISSUE, {"item": items[0].pk, "member": world.bob_member.member_no})
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize("who", ["bob", "erin", "dave", "frank"])
@pytest.mark.parametrize("url", [ISSUE, RETURN])
def test_it_answers_403_when_the_caller_is_no_armorer(world, items, who, url):
    item = issued(world, make_item(world.armory_a, world.alice)) if url == RETURN else items[0]
    before = custody_state()
    response = client_for(getattr(world, who)).post(url, {"item": item.pk, "member": "M"}, format="json")
    assert (response.status_code, response.json()) == (
        403, {"code": "not_armorer", "detail": "Issuing and returning items needs the armorer role."}
    )  # fmt: skip
    assert custody_state() == before


def test_it_answers_404_for_items_and_members_outside_the_callers_units(world, items):
    item_a, item_b = items
    before = custody_state()
    alice, carol = client_for(world.alice), client_for(world.carol)
    cases = [
        (alice, {"item": item_b.pk, "member": world.bob_member.member_no}, "item_not_found"),
        (alice, {"item": "B-1", "member": world.bob_member.member_no}, "item_not_found"),
        (alice, {"item": 999999, "member": world.bob_member.member_no}, "item_not_found"),
        (alice, {"item": item_a.pk, "member": world.member_b.member_no}, "member_not_found"),
        (carol, {"item": item_a.pk, "member": world.member_b.member_no}, "item_not_found"),
    ]
    for client, body, code in cases:
        response = client.post(ISSUE, body, format="json")
        assert (response.status_code, sorted(response.json()), response.json()["code"]) == (
            404, ["code", "detail"], code
        )  # fmt: skip
    assert custody_state() == before


BREAK_A_RULE = {
    "item_not_in_armory": lambda world, item: issued(world, item),
    "member_not_active": lambda world, item: Member.objects.filter(pk=world.bob_member.pk).update(status="suspended"),
    "member_vetting_expired": lambda world, item: Member.objects.filter(pk=world.bob_member.pk).update(
        vetting_valid_until=timezone.localdate() - timedelta(days=1)
    ),
    "item_unserviceable": lambda world, item: Item.objects.filter(pk=item.pk).update(condition="needs_repair"),
}


@pytest.mark.parametrize("code", BREAK_A_RULE)
def test_it_answers_409_when_a_rule_refuses_the_issue(world, items, code):
    BREAK_A_RULE[code](world, items[0])
    before = custody_state()
    body = {"item": items[0].pk, "member": world.bob_member.member_no}
    response = client_for(world.alice).post(ISSUE, body, format="json")
    assert (response.status_code, sorted(response.json()), response.json()["code"]) == (409, ["code", "detail"], code)
    assert custody_state() == before


def test_it_returns_an_item_to_its_home_armory_or_a_named_one(world, items):
    spare = Armory.objects.create(code="ARM-A2", name="Spare room A", unit=world.unit_a)
    item = issued(world, items[0])
    alice = client_for(world.alice)
    response = alice.post(RETURN, {"item": item.pk, "reason": "end of patrol"}, format="json")
    assert response.status_code == 201, response.content
    event = LedgerEvent.objects.get(item=item, kind="return")
    assert (event.actor, event.from_member, event.to_armory, event.reason) == (
        world.alice, world.bob_member, world.armory_a, "end of patrol"
    )  # fmt: skip
    assert Item.objects.get(pk=item.pk).holder_armory == world.armory_a
    assert response.json()["from"] == f"member:{world.bob_member.pk}"
    issued(world, item)
    assert alice.post(RETURN, {"item": "A-1", "armory": "ARM-A2"}, format="json").status_code == 201
    assert Item.objects.get(pk=item.pk).holder_armory == spare


def test_it_refuses_bad_returns_and_changes_nothing(world, items):
    item = issued(world, make_item(world.armory_a, world.alice, serial="A-2"))
    before = custody_state()
    alice = client_for(world.alice)
    cases = [
        ({"item": items[0].pk}, 409, "item_not_issued"),
        ({"item": item.pk, "armory": "ARM-B"}, 404, "armory_not_found"),
        ({"item": items[1].pk}, 404, "item_not_found"),
        ({"item": item.pk, "armory": ""}, 400, "invalid"),
        ({}, 400, "invalid"),
    ]
    for body, status, code in cases:
        response = alice.post(RETURN, body, format="json")
        assert (response.status_code, response.json()["code"]) == (status, code), body
        assert set(response.json()) <= {"code", "detail", "errors"}
    assert custody_state() == before
