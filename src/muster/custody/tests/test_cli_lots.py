"""`muster lot`: the same rules as the web and the API; each subcommand changes the balances, the ledger and the loss
cases as custody.lots and custody.lot_losses say, and a refusal exits with its code (2 invalid, 3 refused, 4 not
permitted, 5 not found) and changes nothing."""

import pytest

from muster.core.testing import make_member
from muster.custody import handover, lots
from muster.custody.lot_balances import armory_holder, balance_of, member_holder
from muster.custody.lot_models import Lot
from muster.custody.models import ItemType, LedgerEvent, LossCase
from muster.custody.testing import make_item_type, make_lot
from muster.custody.tests.test_cli import call

pytestmark = pytest.mark.django_db


def held(lot, member):
    return balance_of(lot, member_holder(member))


def in_store(lot, armory):
    return balance_of(lot, armory_holder(armory))


@pytest.fixture
def lot(world):
    return make_lot(world.armory_a, world.alice, quantity=1000, number="7N6-41")


@pytest.fixture
def issued(world, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=120, actor=world.alice)
    return lot


def events(lot) -> int:
    return LedgerEvent.objects.filter(lot=lot).count()


def test_it_receives_a_delivery_by_type_name(world):
    make_item_type("9 mm ball", category=ItemType.Category.AMMUNITION)
    code, out, err = call("lot", "receive", "P9-22", "500", "--type", "9 mm ball", "--armory", "ARM-A",
                          "--delivery", "DN-5", "--as", "alice")  # fmt: skip
    assert code == 0, err
    lot = Lot.objects.get(lot_number="P9-22")
    event = LedgerEvent.objects.get(lot=lot)
    assert out.startswith(f"#{event.seq} lot_receive {event.hash[:12]}  9 mm ball lot P9-22: 500 → ARM-A")
    assert (in_store(lot, world.armory_a), event.data) == (500, {"delivery": "DN-5"})


@pytest.mark.parametrize(
    ("args", "exit_code", "error"),
    [
        (["--type", "AK-74M assault rifle", "--armory", "ARM-A"], 5, "item_type_not_found"),
        (["--type", "9 mm ball", "--armory", "ARM-B"], 5, "armory_not_found"),
        (["--type", "9 mm ball", "--armory", "ARM-A", "--as", "dave"], 4, "not_armorer"),
    ],
)
def test_a_refused_delivery_exits_with_its_code_and_changes_nothing(world, args, exit_code, error):
    make_item_type()
    make_item_type("9 mm ball", category=ItemType.Category.AMMUNITION)
    actor = [] if "--as" in args else ["--as", "alice"]
    code, _, err = call("lot", "receive", "X1", "5", *args, *actor)
    assert (code, err.startswith(f"{error}:")) == (exit_code, True), err
    assert not Lot.objects.exists()


def test_it_issues_and_refuses_more_than_the_store_holds(world, lot):
    code, out, err = call("lot", "issue", "7N6-41", world.bob_member.member_no, "120", "--reason", "patrol",
                          "--as", "alice")  # fmt: skip
    assert code == 0, err
    assert f"7N6-41: 120 → Bob Baker ({world.bob_member.member_no}), due back" in out
    assert (in_store(lot, world.armory_a), held(lot, world.bob_member)) == (880, 120)
    code, _, err = call("lot", "issue", "7N6-41", world.bob_member.member_no, "881", "--as", "alice")
    assert (code, err.split(":")[0]) == (3, "insufficient_quantity")
    code, _, err = call("lot", "issue", "7N6-41", world.bob_member.member_no, "ten", "--as", "alice")
    assert (code, err.split(":")[0]) == (2, "quantity_invalid")
    assert events(lot) == 2


def test_the_receiver_confirms_with_a_pin(world, lot, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4071", actor=world.alice)
    args = ("lot", "issue", "7N6-41", world.bob_member.member_no, "10", "--as", "alice")
    assert call(*args)[0] == 3  # no PIN and no terminal to type it at: receiver_confirmation_required
    code, _, err = call(*args, "--pin", "9999")
    assert (code, err.split(":")[0]) == (3, "pin_wrong")
    assert call(*args, "--pin", "4071")[0] == 0
    assert LedgerEvent.objects.filter(lot=lot).last().data["receiver_confirmed"]["method"] == "pin"


def test_it_refuses_by_the_rules_before_it_asks_for_the_pin(world, lot, settings):
    from muster.custody.models import HandoverAttempt, HandoverPin
    from muster.members.models import Member

    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4071", actor=world.alice)
    Member.objects.filter(pk=world.bob_member.pk).update(status=Member.Status.SUSPENDED)
    code, _, err = call("lot", "issue", "7N6-41", world.bob_member.member_no, "10", "--pin", "9999", "--as", "alice")
    assert (code, err.split(":")[0]) == (3, "member_not_active")
    assert not HandoverAttempt.objects.exists()
    assert HandoverPin.objects.get(member=world.bob_member).failures == 0


def test_it_takes_back_part_of_a_members_quantity(world, issued):
    code, out, _ = call("lot", "return", "7N6-41", world.bob_member.member_no, "100", "--as", "alice")
    assert code == 0
    assert f"7N6-41: 100 Bob Baker ({world.bob_member.member_no}) → ARM-A" in out
    assert (in_store(issued, world.armory_a), held(issued, world.bob_member)) == (980, 20)
    code, _, err = call("lot", "return", "7N6-41", world.bob_member.member_no, "21", "--as", "alice")
    assert (code, err.split(":")[0]) == (3, "insufficient_quantity")
    assert held(issued, world.bob_member) == 20


def test_settling_returns_expends_and_opens_a_loss_case_for_the_rest(world, issued):
    code, out, err = call("lot", "settle", "7N6-41", world.bob_member.member_no, "--returned", "60", "--expended",
                          "55", "--justification", "incident", "--reference", "INC-31", "--as", "alice")  # fmt: skip
    assert code == 0, err
    case = LossCase.objects.get(lot=issued)
    assert (case.quantity, case.kind, case.last_member) == (5, "unaccounted", world.bob_member)
    lines = out.splitlines()
    assert "lot_return" in lines[0] and "lot_expend" in lines[1]
    assert lines[2].startswith(f"loss case {case.pk} opened: 5 of")
    assert (held(issued, world.bob_member), in_store(issued, world.armory_a)) == (0, 940)


def test_a_settlement_that_does_not_add_up_changes_nothing(world, issued):
    base = ("lot", "settle", "7N6-41", world.bob_member.member_no, "--returned", "100", "--as", "alice")
    code, _, err = call(*base, "--expended", "21", "--justification", "incident", "--reference", "I-1")
    assert (code, err.split(":")[0]) == (3, "insufficient_quantity")
    code, _, err = call(*base, "--expended", "20")
    assert (code, err.split(":")[0]) == (2, "justification_missing")
    assert (events(issued), held(issued, world.bob_member), LossCase.objects.count()) == (2, 120, 0)


def test_another_units_lot_is_not_found(world, lot):
    code, _, err = call("lot", "issue", "7N6-41", world.member_b.member_no, "1", "--as", "carol")
    assert (code, err.split(":")[0]) == (5, "lot_not_found")
    code, _, err = call("lot", "status", "7N6-41", "--as", "carol")
    assert (code, err.split(":")[0]) == (5, "lot_not_found")


def test_status_shows_a_lots_balances_and_every_visible_lot(world, issued):
    make_lot(world.armory_b, world.carol, number="B-1")
    lots.recall(lot=issued, actor=world.dave, reason="Misfires reported")
    code, out, _ = call("lot", "status", "7N6-41", "--as", "alice")
    assert code == 0
    assert "RECALLED: Misfires reported" in out.splitlines()[0]
    assert "ARM-A" in out and " 880" in out and f"{world.bob_member.member_no}" in out and " 120  due " in out
    code, out, _ = call("lot", "status", "--as", "alice")
    assert "7N6-41" in out and "B-1" not in out and "RECALLED" in out and out.rstrip().endswith("1 lot(s)")
    code, out, _ = call("lot", "status")  # an operator on the server: every lot
    assert out.rstrip().endswith("2 lot(s)")


def test_a_member_sees_only_their_own_balance(world, issued):
    lots.issue(lot=issued, member=make_member(world.unit_a, first_name="Other"), quantity=5, actor=world.alice)
    code, out, _ = call("lot", "status", "7N6-41", "--as", "bob")
    assert code == 0
    assert "Other" not in out and "ARM-A " not in out.splitlines()[1] and "120" in out
    code, out, _ = call("lot", "status", "--as", "bob")  # the list: his own quantity, not the store's or others'
    (row,) = [line for line in out.splitlines() if "7N6-41" in line]
    assert "you hold      120" in row and "on hand" not in row and "out" not in row.split("you hold")[1]
