"""The key and seal register (web and API): keys and items that open an armory, their holders, handovers, and the
count each last handover made due."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core.testing import make_member
from muster.custody import counts, handover, services
from muster.custody.count_models import Count
from muster.custody.models import Item, ItemType, LedgerEvent
from muster.custody.testing import make_item, make_item_type

pytestmark = pytest.mark.django_db

PIN = "4071"


@pytest.fixture(autouse=True)
def _no_second_factor(settings):
    # Two-factor sign-in is another feature's business; these tests sign staff in with force_login.
    settings.MUSTER_REQUIRE_TOTP = False


def make_key(armory, actor, *, opens=None, serial="", category=ItemType.Category.KEY, name="Arms room key"):
    item = make_item(armory, actor, item_type=make_item_type(name, category=category), serial=serial)
    if opens is not None:
        # No service sets what a key opens yet: registration leaves it to the admin.
        Item.objects.filter(pk=item.pk).update(opens_armory=opens)
        item.refresh_from_db()
    return item


def hand_over(item, to_member, actor):
    """A member-to-member handover with both PINs given."""
    giver = Item.objects.get(pk=item.pk).holder_member
    for member in (giver, to_member):
        if not hasattr(member, "handover_pin"):
            handover.set_pin(member=member, pin=PIN, actor=actor)
    confirm = {"pin": PIN, "actor": actor, "purpose": "transfer"}
    return services.transfer(
        item=item, to_member=to_member, actor=actor,
        giver=handover.confirm(member=giver, **confirm), receiver=handover.confirm(member=to_member, **confirm),
    )  # fmt: skip


@pytest.fixture
def keys(world):
    """A key of ARM-A issued to bob; a seal of another category that opens ARM-A, and one of the seal category that
    opens nothing yet, on the shelf; a rifle; B's key."""
    key = make_key(world.armory_a, world.alice, opens=world.armory_a, serial="KEY-A1")
    seal = make_key(world.armory_a, world.alice, opens=world.armory_a, serial="SEAL-A1",
                    category=ItemType.Category.OTHER, name="Wire seal")  # fmt: skip
    make_key(world.armory_a, world.alice, serial="SEAL-LOOSE", category=ItemType.Category.SEAL, name="Door seal")
    make_item(world.armory_a, world.alice, serial="RIFLE-1")
    make_key(world.armory_b, world.carol, opens=world.armory_b, serial="KEY-B1")
    issued = services.issue(item=key, member=world.bob_member, actor=world.alice, reason="duty officer's key")
    return {"key": key, "seal": seal, "issued": issued}


def rows(response) -> dict:
    return {key.serial_number: key for key in response.context["page_obj"]}


def test_it_lists_keys_and_seals_with_holder_since_and_the_count_made_due(client, world, keys):
    client.force_login(world.alice)
    response = client.get(reverse("unit-keys", args=["A"]))
    assert response.status_code == 200
    listed = rows(response)
    assert set(listed) == {"KEY-A1", "SEAL-A1", "SEAL-LOOSE"}  # not the rifle, not B's key
    assert listed["SEAL-LOOSE"].opens_armory is None
    key = listed["KEY-A1"]
    issued = keys["issued"]
    assert (key.holder_member_id, key.holder_since, key.due_at) == (
        world.bob_member.pk,
        issued.recorded_at,
        issued.due_at,
    )
    assert [event.seq for event in key.recent_handovers] == [issued.seq]
    count = Count.objects.get(armory=world.armory_a)
    assert (key.count_id, key.count_status, key.count_triggered) == (count.pk, Count.Status.DUE, True)
    seal = listed["SEAL-A1"]
    assert seal.holder_armory_id == world.armory_a.pk and seal.recent_handovers == [] and seal.count_id is None
    register_event = LedgerEvent.objects.get(item=seal, kind="register")
    assert seal.holder_since == register_event.recorded_at
    html = response.content.decode()
    assert reverse("count-page", args=[count.pk]) in html and reverse("item-page", args=[key.pk]) in html
    assert world.armory_a.name in html


def test_a_handover_while_a_count_is_open_shows_that_count_as_already_open(client, world, keys):
    paula = make_member(world.unit_a, first_name="Paula")
    transfer = hand_over(keys["key"], paula, world.alice)
    client.force_login(world.dave)
    key = rows(client.get(reverse("unit-keys", args=["A"])))["KEY-A1"]
    assert Count.objects.filter(armory=world.armory_a).count() == 1  # no second count while one is open
    assert (key.holder_member_id, key.holder_since, key.last_handover_at) == (
        paula.pk, transfer.recorded_at, transfer.recorded_at,
    )  # fmt: skip
    assert [event.kind for event in key.recent_handovers] == ["transfer", "issue"]
    assert key.count_id == Count.objects.get(armory=world.armory_a).pk and not key.count_triggered
    assert "(already open)" in client.get(reverse("unit-keys", args=["A"])).content.decode()


def test_after_the_count_is_signed_the_next_handover_makes_a_new_one_due(client, world, keys):
    first = counts.start(armory=world.armory_a, actor=world.frank)
    for serial in Item.objects.filter(pk__in=first.expected).values_list("serial_number", flat=True):
        counts.scan(count=first, code=serial, actor=world.frank)  # a clean count: nothing left to resolve
    counts.submit(count=first, actor=world.frank)
    counts.sign(count=first, actor=world.dave)
    services.return_item(item=keys["key"], actor=world.alice)
    services.issue(item=keys["key"], member=make_member(world.unit_a), actor=world.alice)
    second = Count.objects.exclude(pk=first.pk).get(armory=world.armory_a)
    client.force_login(world.erin)
    key = rows(client.get(reverse("unit-keys", args=["A"])))["KEY-A1"]
    assert (key.count_id, key.count_status, key.count_triggered) == (second.pk, Count.Status.DUE, True)
    assert [event.kind for event in key.recent_handovers] == ["issue", "return", "issue"]


def test_a_scheduled_count_open_at_the_handover_covers_it_but_was_not_made_by_it(client, world):
    scheduled = counts.require_count(world.armory_a, reason="scheduled weekly count")
    key = make_key(world.armory_a, world.alice, opens=world.armory_a, serial="KEY-SCHED")
    services.issue(item=key, member=world.bob_member, actor=world.alice)
    client.force_login(world.alice)
    listed = rows(client.get(reverse("unit-keys", args=["A"])))["KEY-SCHED"]
    assert (listed.count_id, listed.count_triggered) == (scheduled.pk, False)


@pytest.mark.parametrize(("who", "code", "status"), [
    ("alice", "A", 200), ("dave", "A", 200), ("erin", "A", 200), ("frank", "A", 200), ("rita", "R", 200),
    ("bob", "A", 404), ("carol", "A", 404), ("alice", "B", 404), ("alice", "R", 404),
])  # fmt: skip
def test_the_register_is_for_staff_of_the_unit(client, world, keys, who, code, status):
    client.force_login(getattr(world, who))
    assert client.get(reverse("unit-keys", args=[code])).status_code == status


def test_the_region_register_includes_every_unit_below(client, world, keys):
    client.force_login(world.rita)
    assert set(rows(client.get(reverse("unit-keys", args=["R"])))) == {"KEY-A1", "SEAL-A1", "SEAL-LOOSE", "KEY-B1"}


def test_the_api_lists_the_same_register(world, keys):
    api = APIClient()
    api.force_authenticate(world.alice)
    body = api.get(reverse("api:key-list"), {"unit": "A"}).json()
    assert body["count"] == 3
    by_serial = {row["serial_number"]: row for row in body["results"]}
    key = by_serial["KEY-A1"]
    issued = keys["issued"]
    count = Count.objects.get(armory=world.armory_a)
    assert key["opens_armory"] == {"code": "ARM-A", "name": world.armory_a.name}
    assert key["holder"]["member_no"] == world.bob_member.member_no
    assert key["holder_since"] == issued.recorded_at.isoformat().replace("+00:00", "Z")
    assert [event["seq"] for event in key["recent_handovers"]] == [issued.seq]
    assert key["recent_handovers"][0]["to_holder"]["member_no"] == world.bob_member.member_no
    assert key["handover_count"] == {"id": count.pk, "status": "due", "reason": "key KEY-A1 changed hands",
                                     "triggered": True}  # fmt: skip
    assert key["overdue"] is False
    assert by_serial["SEAL-A1"]["handover_count"] is None
    # Without ?unit: every key of the caller's units.
    assert api.get(reverse("api:key-list")).json()["count"] == 3


@pytest.mark.parametrize(("who", "query", "status", "total"), [
    ("bob", {"unit": "A"}, 404, None), ("alice", {"unit": "B"}, 404, None), ("bob", {}, 200, 0),
    ("rita", {}, 200, 4), ("rita", {"unit": "B"}, 200, 1),
])  # fmt: skip
def test_the_api_register_is_scoped_to_the_callers_units(world, keys, who, query, status, total):
    api = APIClient()
    api.force_authenticate(getattr(world, who))
    response = api.get(reverse("api:key-list"), query)
    assert response.status_code == status
    if status == 404:
        assert response.json()["code"] == "unit_not_found"
    else:
        assert response.json()["count"] == total


def test_an_overdue_key_is_flagged(world):
    key = make_key(world.armory_a, world.alice, opens=world.armory_a, serial="KEY-LATE")
    services.issue(item=key, member=world.bob_member, actor=world.alice, due_at=timezone.now() + timedelta(seconds=1))
    Item.objects.filter(pk=key.pk).update(due_at=timezone.now() - timedelta(hours=1))
    api = APIClient()
    api.force_authenticate(world.alice)
    assert api.get(reverse("api:key-list"), {"unit": "A"}).json()["results"][0]["overdue"] is True


def _add_keys(world, n: int) -> None:
    paula = make_member(world.unit_a)
    for _ in range(n):
        key = make_key(world.armory_a, world.alice, opens=world.armory_a)
        services.issue(item=key, member=world.bob_member, actor=world.alice)
        hand_over(key, paula, world.alice)
        services.return_item(item=key, actor=world.alice)
        services.issue(item=key, member=paula, actor=world.alice)


@pytest.mark.parametrize("face", ["web", "api"])
def test_the_register_query_count_does_not_grow_with_its_rows(client, world, face):
    client.force_login(world.alice)
    api = APIClient()
    api.force_authenticate(world.alice)

    def fetch():
        if face == "web":
            return client.get(reverse("unit-keys", args=["A"]))
        return api.get(reverse("api:key-list"), {"unit": "A"})

    _add_keys(world, 3)
    fetch()
    with CaptureQueriesContext(connection) as few:
        assert fetch().status_code == 200
    _add_keys(world, 9)
    with CaptureQueriesContext(connection) as many:
        response = fetch()
    assert (response.context["page_obj"].paginator.count if face == "web" else response.json()["count"]) == 12
    assert len(many) == len(few)
