"""API for recalls: raised when a holder lapses (here: suspended through the members API), listed in scope,
open by default, resolved by the item's return."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.testing import make_account, make_member
from muster.custody import services
from muster.custody.models import Item, Recall
from muster.custody.testing import make_item
from muster.members import services as member_services
from muster.members.models import Member, Role

pytestmark = pytest.mark.django_db

RECALLS = "/api/v1/recalls/"


def client_for(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    return client


def held(world, armory=None, member: Member | None = None, actor=None) -> Item:
    item = make_item(armory or world.armory_a, actor or world.alice)
    services.issue(item=item, member=member or world.bob_member, actor=actor or world.alice)
    return item


def suspend(world, member: Member, actor=None) -> None:
    member_services.change_status(
        member=member, to_status="suspended", reason="missed three musters", actor=actor or world.dave
    )


def recall_ids(client, **query) -> list[int]:
    response = client.get(RECALLS, query)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_it_answers_401_when_unauthenticated(world):
    response = APIClient().get(RECALLS)
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


def test_suspending_a_member_through_the_api_raises_a_recall_that_is_listed(world):
    item = held(world)
    response = client_for(world.dave).post(
        f"/api/v1/members/{world.bob_member.member_no}/status",
        {"to_status": "suspended", "reason": "missed three musters"},
        format="json",
    )
    assert response.status_code == 201, response.content
    recall = Recall.objects.get(item=item)
    assert (recall.member, recall.reason, recall.resolved_at) == (world.bob_member, "member_suspended", None)
    row = client_for(world.alice).get(RECALLS).json()["results"][0]
    assert (row["id"], row["item"]["id"], row["home_armory"], row["member"], row["reason"]) == (
        recall.pk, item.pk, "ARM-A", world.bob_member.member_no, "member_suspended"
    )  # fmt: skip
    assert (row["resolved_at"], row["resolved_by_event"]) == (None, None)


def test_departure_is_refused_while_the_member_holds_items(world):
    item = held(world)
    before = (Member.objects.get(pk=world.bob_member.pk).status, Recall.objects.count())
    response = client_for(world.dave).post(
        f"/api/v1/members/{world.bob_member.member_no}/status",
        {"to_status": "departed", "reason": "moved away"},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (409, "member_holds_items")
    assert (Member.objects.get(pk=world.bob_member.pk).status, Recall.objects.count()) == before
    assert Item.objects.get(pk=item.pk).holder_member == world.bob_member


# Who sees a recall of an item homed in A: staff of A and the holder; nobody of B.
@pytest.mark.parametrize(("who", "sees"), [
    ("alice", True), ("dave", True), ("erin", True), ("frank", True), ("bob", True), ("carol", False),
])  # fmt: skip
def test_it_lists_recalls_in_the_callers_scope(world, who, sees):
    held(world)
    suspend(world, world.bob_member)
    recall = Recall.objects.get()
    client = client_for(getattr(world, who))
    assert recall_ids(client) == ([recall.pk] if sees else [])
    response = client.get(f"{RECALLS}{recall.pk}/")
    assert response.status_code == (200 if sees else 404)


def test_a_member_sees_only_the_recalls_addressed_to_them(world):
    other = make_member(world.unit_a)
    make_account("olga", roles=[(Role.MEMBER, world.unit_a)], member=other)
    held(world)
    held(world, member=other)
    suspend(world, world.bob_member)
    suspend(world, other)
    bob_recall = Recall.objects.get(member=world.bob_member)
    assert recall_ids(client_for(world.bob)) == [bob_recall.pk]


def test_it_lists_open_recalls_by_default_and_resolved_ones_on_request(world):
    returned = held(world)
    still_out = held(world)
    suspend(world, world.bob_member)
    event = services.return_item(item=returned, actor=world.alice)
    alice = client_for(world.alice)
    open_recall = Recall.objects.get(item=still_out)
    resolved = Recall.objects.get(item=returned)
    assert recall_ids(alice) == [open_recall.pk]
    assert recall_ids(alice, state="open") == [open_recall.pk]
    assert recall_ids(alice, state="resolved") == [resolved.pk]
    assert sorted(recall_ids(alice, state="all")) == sorted([open_recall.pk, resolved.pk])
    assert alice.get(f"{RECALLS}{resolved.pk}/").json()["resolved_by_event"] == event.seq
    response = alice.get(RECALLS, {"state": "closed"})
    assert (response.status_code, response.json()["code"], list(response.json()["errors"])) == (
        400,
        "invalid",
        ["state"],
    )


def test_it_filters_recalls_by_armory_and_unit(world):
    held(world)
    held(world, armory=world.armory_b, member=world.member_b, actor=world.carol)
    suspend(world, world.bob_member)
    suspend(world, world.member_b, actor=make_account("bea", roles=[(Role.COMMANDER, world.unit_b)]))
    rita = client_for(world.rita)
    recall_a, recall_b = Recall.objects.get(member=world.bob_member), Recall.objects.get(member=world.member_b)
    assert sorted(recall_ids(rita)) == sorted([recall_a.pk, recall_b.pk])
    assert recall_ids(rita, armory="ARM-B") == [recall_b.pk]
    assert recall_ids(rita, unit="A") == [recall_a.pk]
    assert sorted(recall_ids(rita, unit="R")) == sorted([recall_a.pk, recall_b.pk])
    assert recall_ids(rita, member=world.bob_member.member_no) == [recall_a.pk]
    assert recall_ids(client_for(world.alice), armory="ARM-B") == []


def test_it_keeps_the_recall_list_query_count_flat(world):
    alice = client_for(world.alice)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = alice.get(RECALLS, {"limit": 100})
        assert response.status_code == 200
        return len(captured.captured_queries), response.json()["count"]

    def add(number: int) -> None:
        for _ in range(number):
            member = make_member(world.unit_a)
            held(world, member=member)
            suspend(world, member)

    add(5)
    few, few_rows = count()
    add(35)
    many, many_rows = count()
    assert (few_rows, many_rows) == (5, 40)
    assert few == many
