"""API of the two-person handover: issue with the receiver's PIN, member-to-member transfer, members' PINs."""

import pytest
from rest_framework.test import APIClient

from muster.core.testing import PASSWORD, make_account, make_member
from muster.custody import handover, services
from muster.custody.models import HandoverAttempt, HandoverPin, HolderKind, Item, LedgerEvent
from muster.custody.testing import make_item
from muster.custody.tests.test_api import client_for, custody_state
from muster.members.models import Member, Role

pytestmark = pytest.mark.django_db

ISSUE = "/api/v1/custody/issue"
TRANSFER = "/api/v1/custody/transfer"
BOB_PIN, ALICE_PIN = "4711", "8302"


def pin_url(member: Member) -> str:
    return f"/api/v1/members/{member.member_no}/pin"


@pytest.fixture
def pins(world, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin=BOB_PIN, actor=world.alice)
    handover.set_pin(member=world.alice.member, pin=ALICE_PIN, actor=world.alice)


@pytest.fixture
def rifle(world):
    return make_item(world.armory_a, world.alice, serial="A-1")


@pytest.fixture
def bobs_rifle(world, pins, rifle):
    """A-1, issued to bob with his PIN; the attempt log is cleared so tests count only their own entries."""
    receiver = handover.confirm(member=world.bob_member, pin=BOB_PIN, actor=world.alice, purpose="issue")
    services.issue(item=rifle, member=world.bob_member, actor=world.alice, receiver=receiver)
    HandoverAttempt.objects.all().delete()
    rifle.refresh_from_db()
    return rifle


def assert_no_pin_in(response, *pins_typed) -> None:
    for pin in pins_typed:
        assert pin not in response.content.decode()


# --- issue with the receiver's PIN ---------------------------------------------------------------------------------


def test_it_issues_when_the_receiver_types_the_right_pin(world, pins, rifle):
    body = {"item": rifle.pk, "member": world.bob_member.member_no, "pin": BOB_PIN}
    response = client_for(world.alice).post(ISSUE, body, format="json")
    assert response.status_code == 201, response.content
    event = LedgerEvent.objects.get(item=rifle, kind="issue")
    assert event.data["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}
    assert response.json()["data"]["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}
    assert Item.objects.get(pk=rifle.pk).holder_member == world.bob_member
    attempt = HandoverAttempt.objects.get()
    assert (attempt.member, attempt.actor, attempt.succeeded, attempt.purpose) == (
        world.bob_member, world.alice, True, "issue"
    )  # fmt: skip
    assert_no_pin_in(response, BOB_PIN)


def test_it_refuses_a_wrong_pin_logs_it_and_issues_nothing(world, pins, rifle):
    before = custody_state()
    body = {"item": rifle.pk, "member": world.bob_member.member_no, "pin": "9513"}
    response = client_for(world.alice).post(ISSUE, body, format="json")
    assert (response.status_code, sorted(response.json()), response.json()["code"]) == (
        409, ["code", "detail"], "pin_wrong"
    )  # fmt: skip
    assert "4 more tries" in response.json()["detail"]
    assert custody_state() == before
    attempt = HandoverAttempt.objects.get()
    assert (attempt.member, attempt.succeeded, attempt.actor) == (world.bob_member, False, world.alice)
    assert HandoverPin.objects.get(member=world.bob_member).failures == 1
    assert_no_pin_in(response, "9513")


def test_it_refuses_by_the_rules_before_it_checks_the_pin(world, pins, rifle):
    """An issue the rules refuse answers with the rule's code and leaves the PIN alone: the member's typing is
    neither logged nor counted towards the lockout."""
    world.bob_member.status = Member.Status.SUSPENDED
    world.bob_member.save(update_fields=["status"])
    before = custody_state()
    body = {"item": rifle.pk, "member": world.bob_member.member_no, "pin": "9513"}
    response = client_for(world.alice).post(ISSUE, body, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "member_not_active")
    assert custody_state() == before
    assert not HandoverAttempt.objects.exists()
    assert HandoverPin.objects.get(member=world.bob_member).failures == 0


def test_it_answers_pin_locked_after_five_wrong_pins_even_for_the_right_one(world, pins, rifle):
    alice = client_for(world.alice)
    body = {"item": rifle.pk, "member": world.bob_member.member_no, "pin": "9513"}
    codes = [alice.post(ISSUE, body, format="json").json()["code"] for _ in range(5)]
    assert codes == ["pin_wrong"] * 5
    response = alice.post(ISSUE, {**body, "pin": BOB_PIN}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "pin_locked")
    assert Item.objects.get(pk=rifle.pk).holder_kind == HolderKind.ARMORY
    assert HandoverPin.objects.get(member=world.bob_member).locked_until is not None
    assert HandoverAttempt.objects.filter(succeeded=False).count() == 5


def test_it_answers_pin_not_set_for_a_member_without_a_pin(world, pins, rifle):
    other = make_member(world.unit_a)
    before = custody_state()
    response = client_for(world.alice).post(
        ISSUE, {"item": rifle.pk, "member": other.member_no, "pin": "5827"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "pin_not_set")
    assert custody_state() == before


def test_it_refuses_an_issue_without_the_pin_where_the_site_requires_one(world, pins, rifle):
    before = custody_state()
    response = client_for(world.alice).post(
        ISSUE, {"item": rifle.pk, "member": world.bob_member.member_no}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "receiver_confirmation_required")
    assert custody_state() == before
    assert not HandoverAttempt.objects.exists()


def test_it_records_a_pin_given_where_the_site_does_not_require_one(world, pins, rifle, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = False
    body = {"item": rifle.pk, "member": world.bob_member.member_no, "pin": BOB_PIN}
    assert client_for(world.alice).post(ISSUE, body, format="json").status_code == 201
    assert LedgerEvent.objects.get(item=rifle, kind="issue").data["receiver_confirmed"]["member"] == world.bob_member.pk


@pytest.mark.parametrize("pin", [4711, None, ""])
def test_it_answers_400_for_a_pin_that_is_not_a_string_of_digits(world, pins, rifle, pin):
    before = custody_state()
    body = {"item": rifle.pk, "member": world.bob_member.member_no, "pin": pin}
    response = client_for(world.alice).post(ISSUE, body, format="json")
    assert (response.status_code, response.json()["code"], list(response.json()["errors"])) == (400, "invalid", ["pin"])
    assert custody_state() == before
    assert not HandoverAttempt.objects.exists()


# --- transfer ------------------------------------------------------------------------------------------------------


def transfer_body(world, **changes) -> dict:
    body = {"item": "A-1", "to_member": world.alice.member.member_no, "giver_pin": BOB_PIN, "receiver_pin": ALICE_PIN}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


@pytest.mark.parametrize("who", ["bob", "alice", "frank", "rita"])
def test_it_transfers_an_item_recorded_by_the_holder_or_an_armorer_or_duty_officer(world, bobs_rifle, who):
    response = client_for(getattr(world, who)).post(TRANSFER, transfer_body(world, reason="relief"), format="json")
    assert response.status_code == 201, response.content
    event = LedgerEvent.objects.get(item=bobs_rifle, kind="transfer")
    assert (event.from_member, event.to_member, event.actor.username, event.reason) == (
        world.bob_member, world.alice.member, who, "relief"
    )  # fmt: skip
    assert event.data["giver_confirmed"]["member"] == world.bob_member.pk
    assert event.data["receiver_confirmed"]["member"] == world.alice.member.pk
    assert Item.objects.get(pk=bobs_rifle.pk).holder_member == world.alice.member
    assert (response.json()["seq"], response.json()["kind"]) == (event.seq, "transfer")
    assert response["Location"] == f"/api/v1/ledger/{event.seq}/"
    assert sorted(HandoverAttempt.objects.values_list("member_id", "purpose", "succeeded")) == sorted([
        (world.bob_member.pk, "transfer", True), (world.alice.member.pk, "transfer", True)
    ])  # fmt: skip
    assert_no_pin_in(response, BOB_PIN, ALICE_PIN)


def test_a_member_finds_the_receiver_in_the_items_unit_and_keeps_the_due_time(world, bobs_rifle):
    relief = make_member(world.unit_a)
    handover.set_pin(member=relief, pin="3691", actor=world.alice)
    body = transfer_body(world, item=bobs_rifle.pk, to_member=relief.member_no, receiver_pin="3691")
    assert client_for(world.bob).post(TRANSFER, body, format="json").status_code == 201
    item = Item.objects.get(pk=bobs_rifle.pk)
    assert (item.holder_member, item.due_at) == (relief, bobs_rifle.due_at)


@pytest.mark.parametrize("who", ["erin", "dave"])
def test_it_answers_403_to_staff_who_may_not_record_transfers_before_trying_any_pin(world, bobs_rifle, who):
    before = custody_state()
    response = client_for(getattr(world, who)).post(TRANSFER, transfer_body(world), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "not_transfer_recorder")
    assert custody_state() == before
    assert not HandoverAttempt.objects.exists()


def test_it_answers_404_for_items_the_caller_cannot_see(world, bobs_rifle):
    olga = make_account("olga", roles=[(Role.MEMBER, world.unit_a)], member=make_member(world.unit_a))
    before = custody_state()
    for account in (world.carol, olga):
        response = client_for(account).post(TRANSFER, transfer_body(world), format="json")
        assert (response.status_code, response.json()["code"]) == (404, "item_not_found")
    assert custody_state() == before
    assert not HandoverAttempt.objects.exists()


def test_it_answers_404_or_403_for_a_receiver_outside_the_items_unit(world, bobs_rifle):
    handover.set_pin(member=world.member_b, pin="3691", actor=world.carol)
    before = custody_state()
    body = transfer_body(world, to_member=world.member_b.member_no, receiver_pin="3691")
    response = client_for(world.bob).post(TRANSFER, body, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "member_not_found")
    response = client_for(world.rita).post(TRANSFER, body, format="json")  # rita sees B, but A owns the rifle
    assert (response.status_code, response.json()["code"]) == (403, "member_out_of_scope")
    assert custody_state() == before


def test_it_refuses_a_wrong_or_missing_pin_and_logs_the_wrong_one(world, bobs_rifle):
    before = custody_state()
    bob = client_for(world.bob)
    response = bob.post(TRANSFER, transfer_body(world, receiver_pin="1357"), format="json")
    assert (response.status_code, response.json()["code"]) == (409, "pin_wrong")
    assert HandoverAttempt.objects.get(member=world.alice.member).succeeded is False
    assert HandoverPin.objects.get(member=world.alice.member).failures == 1
    response = bob.post(TRANSFER, transfer_body(world, giver_pin=None), format="json")
    assert (response.status_code, response.json()["code"]) == (409, "giver_confirmation_required")
    response = bob.post(TRANSFER, transfer_body(world, receiver_pin=None), format="json")
    assert (response.status_code, response.json()["code"]) == (409, "receiver_confirmation_required")
    assert custody_state() == before
    assert_no_pin_in(response, BOB_PIN, ALICE_PIN, "1357")


def test_it_refuses_transfers_the_rules_forbid(world, bobs_rifle):
    in_armory = make_item(world.armory_a, world.alice, serial="A-2")
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    handover.set_pin(member=suspended, pin="3691", actor=world.alice)
    before = custody_state()
    alice = client_for(world.alice)
    cases = [
        (transfer_body(world, item=in_armory.pk), 409, "item_not_issued"),
        (transfer_body(world, to_member=world.bob_member.member_no), 400, "transfer_to_holder"),
        (transfer_body(world, to_member=suspended.member_no, receiver_pin="3691"), 409, "member_not_active"),
        (transfer_body(world, due_at="2020-01-01T10:00:00Z"), 400, "due_in_past"),
        (transfer_body(world, to_member=None), 400, "invalid"),
        (transfer_body(world, giver_pin=4711), 400, "invalid"),
    ]
    for body, status, code in cases:
        response = alice.post(TRANSFER, body, format="json")
        assert (response.status_code, response.json()["code"]) == (status, code), body
    assert custody_state() == before
    assert Item.objects.get(pk=bobs_rifle.pk).holder_member == world.bob_member


# --- members' PINs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "whose", "status"),
    [
        ("bob", "bob", 204), ("alice", "bob", 204), ("dave", "bob", 204), ("rita", "bob", 204),
        ("erin", "bob", 403), ("frank", "bob", 403), ("carol", "bob", 404), ("bob", "alice", 404),
        ("alice", "member_b", 404), ("carol", "member_b", 204),
    ],
)  # fmt: skip
def test_it_lets_the_member_or_their_armorer_or_commander_set_a_pin(world, who, whose, status):
    member = world.bob_member if whose == "bob" else world.alice.member if whose == "alice" else world.member_b
    body = {"pin": "2580", **({"current_password": PASSWORD} if who == whose else {})}
    response = client_for(getattr(world, who)).post(pin_url(member), body, format="json")
    assert response.status_code == status, response.content
    record = HandoverPin.objects.filter(member=member).first()
    if status == 204:
        assert response.content == b""
        assert record.set_by == getattr(world, who)
        assert "2580" not in record.pin_hash
        assert handover.confirm(member=member, pin="2580", actor=world.rita, purpose="test")
    else:
        assert record is None
        assert response.json()["code"] == {403: "not_pin_manager", 404: "member_not_found"}[status]


def test_setting_a_pin_again_resets_the_lock(world, pins):
    HandoverPin.objects.filter(member=world.bob_member).update(failures=3)
    body = {"pin": "2580", "current_password": PASSWORD}
    assert client_for(world.bob).post(pin_url(world.bob_member), body, format="json").status_code == 204
    record = HandoverPin.objects.get(member=world.bob_member)
    assert (record.failures, record.locked_until) == (0, None)


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({"pin": "2580"}, (400, "owner_proof_required")),
        ({"pin": "2580", "current_password": "not my password"}, (403, "password_wrong")),
        ({"pin": "2580", "current_pin": "9513"}, (409, "pin_wrong")),
        ({"pin": "2580", "current_pin": BOB_PIN}, (204, None)),
        ({"pin": "2580", "current_password": PASSWORD}, (204, None)),
    ],
)
def test_a_member_setting_their_own_pin_proves_it_is_them(world, pins, body, answer):
    """A stolen token alone does not change the member's PIN: the password again, or the current PIN (counted like
    any PIN entry)."""
    old_hash = HandoverPin.objects.get(member=world.bob_member).pin_hash
    response = client_for(world.bob).post(pin_url(world.bob_member), body, format="json")
    assert (response.status_code, response.json()["code"] if response.content else None) == answer
    record = HandoverPin.objects.get(member=world.bob_member)
    assert (record.pin_hash != old_hash) is (answer[0] == 204)
    if answer[1] == "pin_wrong":
        assert record.failures == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [({"pin": "1111"}, "pin_weak"), ({"pin": "12"}, "pin_format"), ({"pin": 2580}, "invalid"), ({}, "invalid")],
)
def test_it_answers_400_for_a_bad_pin_and_keeps_the_old_one(world, pins, body, code):
    old_hash = HandoverPin.objects.get(member=world.bob_member).pin_hash
    response = client_for(world.alice).post(pin_url(world.bob_member), body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert HandoverPin.objects.get(member=world.bob_member).pin_hash == old_hash


@pytest.mark.parametrize(
    ("who", "whose", "status"),
    [
        ("bob", "bob", 200), ("alice", "bob", 200), ("dave", "bob", 200), ("erin", "bob", 200), ("frank", "bob", 200),
        ("rita", "bob", 200), ("carol", "bob", 404), ("bob", "alice", 404), ("alice", "member_b", 404),
    ],
)  # fmt: skip
def test_it_shows_the_pin_state_to_staff_and_the_member(world, pins, who, whose, status):
    member = world.bob_member if whose == "bob" else world.alice.member if whose == "alice" else world.member_b
    response = client_for(getattr(world, who)).get(pin_url(member))
    assert response.status_code == status
    if status == 404:
        assert response.json()["code"] == "member_not_found"


@pytest.mark.parametrize("blank", ["%20", "%0D", "%09"])
def test_a_blank_member_number_in_the_pin_path_names_no_member(world, pins, blank):
    """Found by the full Schemathesis run: a blank number in the path answered 400 member_no_missing (undocumented
    on the GET); in a path it names no member, so 404 as an unknown number, for reading and for setting."""
    before = (list(HandoverPin.objects.values()), HandoverAttempt.objects.count())
    client = client_for(world.alice)
    for response in (client.get(f"/api/v1/members/{blank}/pin"),
                     client.post(f"/api/v1/members/{blank}/pin", {"pin": "2580"}, format="json")):  # fmt: skip
        assert (response.status_code, response.json()["code"]) == (404, "member_not_found")
    assert (list(HandoverPin.objects.values()), HandoverAttempt.objects.count()) == before


def test_the_pin_state_names_the_lock_and_the_recent_entries_but_no_hash(world, pins):
    for _ in range(5):
        with pytest.raises(Exception):  # noqa: B017 - pin_wrong; the state is what this test is about
            handover.confirm(member=world.bob_member, pin="9513", actor=world.alice, purpose="issue")
    body = client_for(world.bob).get(pin_url(world.bob_member)).json()
    record = HandoverPin.objects.get(member=world.bob_member)
    assert (body["has_pin"], body["set_by"]) == (True, "alice")
    assert body["locked_until"] is not None and body["locked_until"][:19] == record.locked_until.isoformat()[:19]
    assert [(row["succeeded"], row["purpose"], row["actor"]) for row in body["recent_attempts"]] == [
        (False, "issue", "alice")
    ] * 5
    assert set(body) == {"has_pin", "set_at", "set_by", "locked_until", "recent_attempts"}
    assert record.pin_hash not in str(body)
    fresh = client_for(world.alice).get(pin_url(make_member(world.unit_a))).json()
    assert fresh == {"has_pin": False, "set_at": None, "set_by": None, "locked_until": None, "recent_attempts": []}


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("url", ["/api/v1/custody/transfer", "/api/v1/members/{no}/pin"])
def test_it_answers_401_to_strangers(world, method, url):
    response = getattr(APIClient(), method)(url.format(no=world.bob_member.member_no), {}, format="json")
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    assert not HandoverPin.objects.exists()
