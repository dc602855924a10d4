"""Lots in the API: each write changes the balances, the ledger and the loss cases as custody.lots and
custody.lot_losses say (or nothing, when refused with its code), lots are scoped to the caller's units (404), roles
are checked first (403), and the list reads in a fixed number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from muster.core.testing import make_member
from muster.custody import handover, lot_losses, lots
from muster.custody.lot_balances import armory_holder, balance_of, member_holder
from muster.custody.lot_models import Lot
from muster.custody.models import ItemType, LedgerEvent, LossCase
from muster.custody.testing import make_item_type, make_lot
from muster.training import services as training
from muster.training.testing import make_course, make_qualification

pytestmark = pytest.mark.django_db

LOTS = "/api/v1/lots/"


def held(lot, member):
    return balance_of(lot, member_holder(member))


def in_store(lot, armory):
    return balance_of(lot, armory_holder(armory))


def client_for(account) -> APIClient:
    client = APIClient()
    client.force_authenticate(account)
    return client


def post(world, who: str, url: str, body: dict | None = None):
    return client_for(getattr(world, who)).post(url, body or {}, format="json")


def answer(response) -> tuple[int, str]:
    return response.status_code, response.json().get("code", "")


@pytest.fixture
def lot(world):
    return make_lot(world.armory_a, world.alice, quantity=1000, number="7N6-1987-041")


@pytest.fixture
def issued(world, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=120, actor=world.alice)
    return lot


def action(lot, name: str) -> str:
    return f"{LOTS}{lot.pk}/{name}"


def bob(world, **body) -> dict:
    return {"member": world.bob_member.member_no, **body}


# --- reading ---------------------------------------------------------------------------------------------------------


def test_staff_list_their_units_lots_with_every_balance(world, issued):
    make_lot(world.armory_b, world.carol, number="B-1")
    response = client_for(world.erin).get(LOTS)
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["id"], row["lot_number"], row["home_armory"], row["on_hand"], row["with_members"]) == (
        issued.pk, "7N6-1987-041", "ARM-A", 880, 120,
    )  # fmt: skip
    assert [(b["holder"]["kind"], b["quantity"], b["overdue"]) for b in row["balances"]] == [
        ("armory", 880, False), ("member", 120, False),
    ]  # fmt: skip
    assert row["balances"][1]["holder"]["member_no"] == world.bob_member.member_no


def test_a_member_lists_only_lots_they_hold_and_only_their_own_balance(world, issued):
    make_lot(world.armory_a, world.alice, number="NOT-HELD")
    lots.issue(lot=issued, member=make_member(world.unit_a), quantity=7, actor=world.alice)
    [row] = client_for(world.bob).get(LOTS).json()["results"]
    assert row["id"] == issued.pk
    assert [(b["holder"]["member_no"], b["quantity"]) for b in row["balances"]] == [(world.bob_member.member_no, 120)]
    assert (row["on_hand"], row["with_members"]) == (0, 120)


@pytest.mark.parametrize(
    ("query", "listed"), [("recalled=true", False), ("recalled=false", True), ("armory=ARM-A", True),
                          ("armory=ARM-B", False), ("lot_number=7N6-1987-041", True)],
)  # fmt: skip
def test_the_list_filters(world, issued, query, listed):
    ids = [row["id"] for row in client_for(world.alice).get(f"{LOTS}?{query}").json()["results"]]
    assert (issued.pk in ids) == listed


def test_another_units_lot_answers_404(world, lot):
    assert answer(client_for(world.carol).get(f"{LOTS}{lot.pk}/")) == (404, "not_found")
    assert answer(client_for(world.bob).get(f"{LOTS}{lot.pk}/")) == (404, "not_found")
    assert answer(post(world, "carol", action(lot, "issue"), {"member": world.member_b.member_no, "quantity": 1})) == (
        404, "lot_not_found",
    )  # fmt: skip
    assert client_for(world.alice).get(f"{LOTS}{lot.pk}/").json()["on_hand"] == 1000


def test_the_list_reads_in_a_fixed_number_of_queries(world, issued):
    client = client_for(world.alice)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LOTS).status_code == 200
        return len(captured)

    before = count()
    for n in range(4):
        extra = make_lot(world.armory_a, world.alice, number=f"X-{n}")
        lots.issue(lot=extra, member=make_member(world.unit_a), quantity=3, actor=world.alice)
        lots.issue(lot=issued, member=make_member(world.unit_a), quantity=3, actor=world.alice)
    assert count() == before


# --- writing ---------------------------------------------------------------------------------------------------------


def test_it_receives_a_delivery(world):
    ammo = make_item_type("9 mm ball", category=ItemType.Category.AMMUNITION)
    body = {"item_type": ammo.pk, "lot_number": "P9-22", "armory": "ARM-A", "quantity": 500, "delivery_ref": "DN-5"}
    response = post(world, "alice", f"{LOTS}receive", body)
    assert response.status_code == 201, response.json()
    lot = Lot.objects.get(lot_number="P9-22")
    assert (response.json()["kind"], response.json()["lot"], response.json()["quantity"]) == (
        "lot_receive",
        lot.pk,
        500,
    )
    assert in_store(lot, world.armory_a) == 500


def test_a_refused_delivery_changes_nothing(world):
    rifle = make_item_type()
    ammo = make_item_type("9 mm ball", category=ItemType.Category.AMMUNITION)
    base = {"lot_number": "X1", "armory": "ARM-A", "quantity": 5}
    assert answer(post(world, "alice", f"{LOTS}receive", {**base, "item_type": rifle.pk})) == (400, "not_by_lot")
    assert answer(post(world, "alice", f"{LOTS}receive", {**base, "item_type": ammo.pk, "armory": "ARM-B"})) == (
        404, "armory_not_found",
    )  # fmt: skip
    assert answer(post(world, "alice", f"{LOTS}receive", {**base, "item_type": ammo.pk, "quantity": 0})) == (
        400, "quantity_not_positive",
    )  # fmt: skip
    assert answer(post(world, "dave", f"{LOTS}receive", {**base, "item_type": ammo.pk})) == (403, "not_armorer")
    assert not Lot.objects.exists()


def test_it_issues_and_refuses_more_than_the_store_holds(world, lot):
    response = post(world, "alice", action(lot, "issue"), bob(world, quantity=120, reason="patrol"))
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["quantity"], body["to_holder"]["member_no"], body["from_ref"]) == (
        "lot_issue", 120, world.bob_member.member_no, f"armory:{world.armory_a.pk}",
    )  # fmt: skip
    assert answer(post(world, "alice", action(lot, "issue"), bob(world, quantity=881))) == (
        409, "insufficient_quantity",
    )  # fmt: skip
    assert (in_store(lot, world.armory_a), held(lot, world.bob_member)) == (880, 120)


def test_the_receiver_confirms_an_issue_with_their_pin(world, lot, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4071", actor=world.alice)
    url = action(lot, "issue")
    assert answer(post(world, "alice", url, bob(world, quantity=10))) == (409, "receiver_confirmation_required")
    assert answer(post(world, "alice", url, bob(world, quantity=10, receiver_pin="9999"))) == (409, "pin_wrong")
    assert held(lot, world.bob_member) == 0
    response = post(world, "alice", url, bob(world, quantity=10, receiver_pin="4071"))
    assert response.status_code == 201
    assert response.json()["data"]["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}


@pytest.mark.parametrize(("quantity", "code"), [(10, "member_not_active"), (5000, "insufficient_quantity")])
def test_it_refuses_by_the_rules_before_it_checks_the_pin(world, lot, settings, quantity, code):
    """A refused issue costs the member no PIN attempt: nothing is logged or counted towards the lockout."""
    from muster.custody.models import HandoverAttempt, HandoverPin
    from muster.members.models import Member

    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4071", actor=world.alice)
    if code == "member_not_active":
        Member.objects.filter(pk=world.bob_member.pk).update(status=Member.Status.SUSPENDED)
    url = action(lot, "issue")
    assert answer(post(world, "alice", url, bob(world, quantity=quantity, receiver_pin="9999"))) == (409, code)
    assert not HandoverAttempt.objects.exists()
    assert HandoverPin.objects.get(member=world.bob_member).failures == 0
    assert held(lot, world.bob_member) == 0


def test_it_takes_back_part_and_refuses_more_than_held(world, issued):
    assert post(world, "alice", action(issued, "return"), bob(world, quantity=100)).status_code == 201
    assert answer(post(world, "alice", action(issued, "return"), bob(world, quantity=21))) == (
        409, "insufficient_quantity",
    )  # fmt: skip
    assert (in_store(issued, world.armory_a), held(issued, world.bob_member)) == (980, 20)


def test_it_expends_at_a_training_session_and_refuses_an_unjustified_expenditure(world, issued):
    session = training.schedule_session(
        course=make_course("range-day", grants=[make_qualification("range-day")]), unit=world.unit_a,
        starts_at=timezone.now() + timedelta(days=1), place="Range 2", actor=world.dave,
    )  # fmt: skip
    url = action(issued, "expend")
    response = post(world, "alice", url, bob(world, quantity=90, justification="training_session",
                                                reference=str(session.pk)))  # fmt: skip
    assert response.status_code == 201
    assert response.json()["data"]["expended"] == {"justification": "training_session", "reference": str(session.pk)}
    assert answer(post(world, "alice", url, bob(world, quantity=5))) == (400, "invalid")
    assert answer(post(world, "alice", url, bob(world, quantity=5, justification="disposal", reference="D1"))) == (
        400, "disposal_from_member",
    )  # fmt: skip
    disposal = {"armory": "ARM-A", "quantity": 10, "justification": "disposal", "reference": "DC-4"}
    assert post(world, "alice", url, disposal).status_code == 201
    assert (held(issued, world.bob_member), in_store(issued, world.armory_a)) == (30, 870)


def test_settling_returns_expends_and_opens_a_loss_case_for_the_rest(world, issued):
    body = bob(world, returned=60, expended=55, justification="incident", reference="INC-31")
    response = post(world, "alice", action(issued, "settle"), body)
    assert response.status_code == 201
    body = response.json()
    case = LossCase.objects.get(lot=issued)
    assert (body["returned"]["quantity"], body["expended"]["quantity"], body["loss_case"]["id"]) == (60, 55, case.pk)
    assert (body["loss_case"]["quantity"], body["loss_case"]["kind"], body["loss_case"]["last_member"]) == (
        5, "unaccounted", world.bob_member.member_no,
    )  # fmt: skip
    assert held(issued, world.bob_member) == 0 and in_store(issued, world.armory_a) == 940


def test_a_settlement_that_does_not_add_up_changes_nothing(world, issued):
    url = action(issued, "settle")
    assert answer(post(world, "alice", url, bob(world, returned=100, expended=21, justification="incident",
                                                reference="I"))) == (409, "insufficient_quantity")  # fmt: skip
    assert answer(post(world, "alice", url, bob(world, returned=100, expended=20))) == (400, "justification_missing")
    assert (LedgerEvent.objects.filter(lot=issued).count(), held(issued, world.bob_member)) == (2, 120)
    assert not LossCase.objects.exists()


def test_a_duty_officer_reports_a_quantity_lost(world, issued):
    body = bob(world, quantity=20, kind="stolen", circumstances="Taken from the vehicle", place="Motor pool",
               occurred_at=(timezone.now() - timedelta(hours=1)).isoformat())  # fmt: skip
    assert answer(post(world, "erin", action(issued, "loss"), body)) == (403, "not_loss_reporter")
    response = post(world, "frank", action(issued, "loss"), body)
    assert response.status_code == 201
    case = LossCase.objects.get(lot=issued)
    assert (response.json()["id"], case.quantity, case.kind, held(issued, world.bob_member)) == (
        case.pk, 20, "stolen", 100,
    )  # fmt: skip


def test_a_commander_recalls_a_lot_once(world, issued):
    url = action(issued, "recall")
    assert answer(post(world, "frank", url, {"reason": "Misfires reported"})) == (403, "not_lot_manager")
    assert answer(post(world, "dave", url, {"reason": "bad"})) == (400, "recall_reason_missing")
    response = post(world, "dave", url, {"reason": "Misfires reported"})
    assert response.status_code == 200
    assert (response.json()["recalled_by"], response.json()["recall_reason"]) == ("dave", "Misfires reported")
    assert answer(post(world, "dave", url, {"reason": "Misfires reported"})) == (409, "lot_already_recalled")
    assert answer(post(world, "alice", action(issued, "issue"), bob(world, quantity=1))) == (409, "lot_recalled")


def test_a_lost_quantity_is_recovered_in_parts(world, issued):
    case = lot_losses.report_loss(lot=issued, member=world.bob_member, quantity=30, kind="lost", actor=world.dave,
                                  circumstances="Dropped", place="Range", occurred_at=timezone.now())  # fmt: skip
    url = f"/api/v1/loss-cases/{case.pk}/recover-lot"
    body = {"quantity": 25, "armory": "ARM-A", "notes": "Found in the grass."}
    assert answer(post(world, "carol", url, body)) == (404, "loss_case_not_found")
    assert answer(post(world, "dave", url, body)) == (403, "not_armorer")
    response = post(world, "alice", url, body)
    assert (response.status_code, response.json()["recovered_quantity"], response.json()["status"]) == (200, 25, "open")
    assert answer(post(world, "alice", url, {**body, "quantity": 6})) == (400, "more_than_lost")
    response = post(world, "alice", url, {**body, "quantity": 5})
    assert (response.json()["status"], in_store(issued, world.armory_a)) == ("recovered", 910)
    assert answer(post(world, "alice", url, {**body, "quantity": 1})) == (409, "case_closed")
