"""Ammunition and consumables by lot: every movement, every refusal, the ledger and the never-negative balances."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.models import Notification
from muster.core.testing import make_member
from muster.custody import handover, ledger, lot_losses, lots, services, triggers
from muster.custody.lot_balances import armory_holder, balance_of, member_holder
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.lots import Expenditure
from muster.custody.models import ItemType, LedgerEvent, LossCase
from muster.custody.testing import make_item_type, make_lot
from muster.members import services as member_services
from muster.training import services as training
from muster.training.testing import make_course, make_qualification

pytestmark = pytest.mark.django_db


def held(lot, member):
    return balance_of(lot, member_holder(member))


def in_store(lot, armory):
    return balance_of(lot, armory_holder(armory))


@pytest.fixture
def lot(world):
    return make_lot(world.armory_a, world.alice, quantity=1000, number="7N6-1987-041")


def test_it_receives_a_delivery_into_a_store_and_writes_a_lot_event(world, lot):
    event = LedgerEvent.objects.get(lot=lot)
    assert (event.kind, event.quantity, event.item_id, event.from_kind, event.to_armory_id) == (
        "lot_receive", 1000, None, None, world.armory_a.pk,
    )  # fmt: skip
    assert in_store(lot, world.armory_a) == 1000
    lots.receive(item_type=lot.item_type, lot_number=lot.lot_number, armory=world.armory_a, quantity=500,
                 actor=world.alice, delivery_ref="DN-55")  # fmt: skip
    assert in_store(lot, world.armory_a) == 1500
    assert Lot.objects.get(pk=lot.pk).version == 2
    assert LedgerEvent.objects.filter(lot=lot).last().data == {"delivery": "DN-55"}
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("quantity", "code"), [(0, "quantity_not_positive"), (-5, "quantity_not_positive"), ("12", "quantity_invalid"),
                           (10**9, "quantity_too_large")],
)  # fmt: skip
def test_it_refuses_a_bad_quantity_and_writes_nothing(world, lot, quantity, code):
    before = LedgerEvent.objects.count()
    with pytest.raises(Invalid) as error:
        lots.issue(lot=lot, member=world.bob_member, quantity=quantity, actor=world.alice)
    assert error.value.code == code
    assert LedgerEvent.objects.count() == before
    assert in_store(lot, world.armory_a) == 1000


def test_it_refuses_to_receive_a_serialized_type_or_an_empty_lot_number(world):
    with pytest.raises(Invalid) as error:
        lots.receive(item_type=make_item_type(), lot_number="X1", armory=world.armory_a, quantity=5, actor=world.alice)
    assert error.value.code == "not_by_lot"
    ammo = make_item_type("9 mm ball", category=ItemType.Category.AMMUNITION)
    with pytest.raises(Invalid) as error:
        lots.receive(item_type=ammo, lot_number="  ", armory=world.armory_a, quantity=5, actor=world.alice)
    assert error.value.code == "lot_number_empty"
    assert not Lot.objects.exists()


def test_only_an_armorer_of_the_unit_receives_and_issues(world, lot):
    ammo = lot.item_type
    for actor in (world.bob, world.dave, world.carol):
        with pytest.raises(NotPermitted):
            lots.receive(item_type=ammo, lot_number="L2", armory=world.armory_a, quantity=5, actor=actor)
        with pytest.raises(NotPermitted):
            lots.issue(lot=lot, member=world.bob_member, quantity=5, actor=actor)
    assert LedgerEvent.objects.count() == 1


def test_it_issues_a_quantity_to_a_member_who_passes_the_gate(world, lot):
    event = lots.issue(lot=lot, member=world.bob_member, quantity=120, actor=world.alice)
    assert (event.kind, event.quantity, event.from_armory_id, event.to_member_id) == (
        "lot_issue", 120, world.armory_a.pk, world.bob_member.pk,
    )  # fmt: skip
    assert (in_store(lot, world.armory_a), held(lot, world.bob_member)) == (880, 120)
    assert LotBalance.objects.get(lot=lot, holder_member=world.bob_member).due_at == event.due_at
    assert ledger.verify().ok


def test_it_refuses_more_than_the_store_holds(world, lot):
    with pytest.raises(Refused) as error:
        lots.issue(lot=lot, member=world.bob_member, quantity=1001, actor=world.alice)
    assert error.value.code == "insufficient_quantity"
    assert held(lot, world.bob_member) == 0


def test_it_refuses_an_armorer_issuing_to_themselves(world, lot):
    with pytest.raises(NotPermitted) as error:
        lots.issue(lot=lot, member=world.alice.member, quantity=10, actor=world.alice)
    assert error.value.code == "self_issue"


def test_the_member_gate_applies_to_lots(world, lot):
    qualification = make_qualification("range-safety")
    lot.item_type.required_qualifications.add(qualification)
    with pytest.raises(Refused) as error:
        lots.issue(lot=lot, member=world.bob_member, quantity=10, actor=world.alice)
    assert error.value.code == "member_not_qualified"
    member_services.change_status(member=world.bob_member, to_status="suspended", reason="Inquiry", actor=world.dave)
    with pytest.raises(Refused) as error:
        lots.issue(lot=lot, member=world.bob_member, quantity=10, actor=world.alice)
    assert error.value.code == "member_not_active"
    assert held(lot, world.bob_member) == 0


def test_the_receiver_confirms_with_a_pin_when_required(world, lot, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4071", actor=world.alice)
    with pytest.raises(Refused) as error:
        lots.issue(lot=lot, member=world.bob_member, quantity=10, actor=world.alice)
    assert error.value.code == "receiver_confirmation_required"
    confirmation = handover.confirm(member=world.bob_member, pin="4071", actor=world.alice, purpose="lot_issue")
    event = lots.issue(lot=lot, member=world.bob_member, quantity=10, actor=world.alice, receiver=confirmation)
    assert event.data["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}


def test_it_takes_back_part_and_refuses_more_than_held(world, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=120, actor=world.alice)
    lots.return_quantity(lot=lot, member=world.bob_member, quantity=100, actor=world.alice)
    assert (in_store(lot, world.armory_a), held(lot, world.bob_member)) == (980, 20)
    with pytest.raises(Refused) as error:
        lots.return_quantity(lot=lot, member=world.bob_member, quantity=21, actor=world.alice)
    assert error.value.code == "insufficient_quantity"
    lots.return_quantity(lot=lot, member=world.bob_member, quantity=20, actor=world.alice)
    assert LotBalance.objects.get(lot=lot, holder_member=world.bob_member).due_at is None
    assert ledger.verify().ok


@pytest.fixture
def session(world):
    course = make_course("range-day", grants=[make_qualification("range-day")])
    return training.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() + timedelta(days=1), place="Range 2",
        actor=world.dave,
    )  # fmt: skip


def test_it_accounts_a_members_quantity_as_expended_at_a_training_session(world, lot, session):
    lots.issue(lot=lot, member=world.bob_member, quantity=120, actor=world.alice)
    event = lots.expend(lot=lot, member=world.bob_member, quantity=90, actor=world.alice,
                        expenditure=Expenditure("training_session", str(session.pk)))  # fmt: skip
    assert (event.kind, event.to_kind, event.quantity) == ("lot_expend", None, 90)
    assert event.data == {"expended": {"justification": "training_session", "reference": str(session.pk)}}
    assert held(lot, world.bob_member) == 30
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("expenditure", "code"),
    [
        (Expenditure("training_session", "999999"), "session_unknown"),
        (Expenditure("training_session", "abc"), "session_unknown"),
        (Expenditure("party", "x"), "justification_unknown"),
        (Expenditure("incident", "  "), "reference_missing"),
        (Expenditure("disposal", "DC-1"), "disposal_from_member"),
    ],
)
def test_it_refuses_an_expenditure_without_a_valid_justification(world, lot, expenditure, code):
    lots.issue(lot=lot, member=world.bob_member, quantity=120, actor=world.alice)
    before = LedgerEvent.objects.count()
    with pytest.raises(Invalid) as error:
        lots.expend(lot=lot, member=world.bob_member, quantity=10, actor=world.alice, expenditure=expenditure)
    assert error.value.code == code
    assert (LedgerEvent.objects.count(), held(lot, world.bob_member)) == (before, 120)


def test_armory_stock_is_expended_only_by_disposal(world, lot):
    with pytest.raises(Invalid) as error:
        lots.expend(lot=lot, armory=world.armory_a, quantity=10, actor=world.alice,
                    expenditure=Expenditure("incident", "INC-7"))  # fmt: skip
    assert error.value.code == "expended_from_armory"
    lots.expend(lot=lot, armory=world.armory_a, quantity=10, actor=world.alice,
                expenditure=Expenditure("disposal", "Destruction cert. 44"))  # fmt: skip
    assert in_store(lot, world.armory_a) == 990


def test_settling_returns_expends_and_opens_a_loss_case_for_the_rest(world, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=120, actor=world.alice)
    result = lots.settle(lot=lot, member=world.bob_member, returned=60, expended=55, actor=world.alice,
                         expenditure=Expenditure("incident", "INC-2026-031"))  # fmt: skip
    assert (result.returned.quantity, result.expended.quantity) == (60, 55)
    case = result.loss_case
    assert (case.lot_id, case.quantity, case.kind, case.last_member_id) == (
        lot.pk, 5, "unaccounted", world.bob_member.pk,
    )  # fmt: skip
    assert case.opened_event.kind == "lot_loss"
    assert case.opened_event.reason.startswith("Settlement shortfall: 5 of ")  # not "count discrepancy"
    assert held(lot, world.bob_member) == 0
    assert in_store(lot, world.armory_a) == 940
    # The open case freezes the member, for items and lots alike.
    with pytest.raises(Refused) as error:
        lots.issue(lot=lot, member=world.bob_member, quantity=1, actor=world.alice)
    assert error.value.code == "member_frozen"
    assert ledger.verify().ok


def test_a_full_settlement_opens_no_case(world, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=50, actor=world.alice)
    result = lots.settle(lot=lot, member=world.bob_member, returned=50, expended=0, actor=world.alice)
    assert result.loss_case is None and result.expended is None
    assert not LossCase.objects.exists()


def test_a_settlement_that_does_not_add_up_changes_nothing(world, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=50, actor=world.alice)
    before = LedgerEvent.objects.count()
    with pytest.raises(Refused) as error:
        lots.settle(lot=lot, member=world.bob_member, returned=40, expended=11, actor=world.alice,
                    expenditure=Expenditure("incident", "INC-1"))  # fmt: skip
    assert error.value.code == "insufficient_quantity"
    with pytest.raises(Invalid) as error:
        lots.settle(lot=lot, member=world.bob_member, returned=40, expended=10, actor=world.alice)
    assert error.value.code == "justification_missing"
    assert LedgerEvent.objects.count() == before
    assert held(lot, world.bob_member) == 50


def test_a_lost_quantity_is_recovered_in_parts_and_the_case_closes_when_all_is_back(
    world, lot, django_capture_on_commit_callbacks
):
    lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        case = lot_losses.report_loss(lot=lot, member=world.bob_member, quantity=30, kind="lost", actor=world.dave,
                                      circumstances="Magazine pouch torn on patrol.", place="Sector 4",
                                      occurred_at=timezone.now() - timedelta(hours=3))  # fmt: skip
    assert held(lot, world.bob_member) == 0
    assert Notification.objects.filter(subject__startswith="Loss case: 30").exists()
    lot_losses.recover(case=case, quantity=25, armory=world.armory_a, actor=world.alice, notes="Found in the vehicle.")
    case.refresh_from_db()
    assert (case.is_open, case.recovered_quantity) == (True, 25)
    with pytest.raises(Invalid) as error:
        lot_losses.recover(case=case, quantity=6, armory=world.armory_a, actor=world.alice, notes="More.")
    assert error.value.code == "more_than_lost"
    lot_losses.recover(case=case, quantity=5, armory=world.armory_a, actor=world.alice, notes="The rest, same place.")
    case.refresh_from_db()
    assert (case.status, case.closed_event.kind) == ("recovered", "lot_recover")
    assert in_store(lot, world.armory_a) == 1000
    assert ledger.verify().ok


def test_a_recalled_lot_is_neither_issued_nor_received_and_holders_are_told(
    world, lot, django_capture_on_commit_callbacks
):
    lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    with pytest.raises(NotPermitted):
        lots.recall(lot=lot, actor=world.bob, reason="Misfires reported")
    with pytest.raises(Invalid):
        lots.recall(lot=lot, actor=world.dave, reason=" ")
    with django_capture_on_commit_callbacks(execute=True):
        lots.recall(lot=lot, actor=world.dave, reason="Misfires reported by two units")
    lot.refresh_from_db()
    assert lot.is_recalled and lot.recalled_by == world.dave
    assert Notification.objects.filter(recipient=world.bob, subject__startswith="RECALL").exists()
    with pytest.raises(Refused) as error:
        lots.issue(lot=lot, member=make_member(world.unit_a), quantity=1, actor=world.alice)
    assert error.value.code == "lot_recalled"
    with pytest.raises(Refused) as error:
        lots.receive(item_type=lot.item_type, lot_number=lot.lot_number, armory=world.armory_a, quantity=1,
                     actor=world.alice)  # fmt: skip
    assert error.value.code == "lot_recalled"
    # Bringing it back still works.
    lots.return_quantity(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    assert ledger.verify().ok


def test_the_database_refuses_a_negative_balance(world, lot):
    with pytest.raises(IntegrityError), transaction.atomic():
        LotBalance.objects.filter(lot=lot).update(quantity=-1)


def test_the_database_refuses_a_lot_version_changed_without_its_event(world, lot):
    with pytest.raises(IntegrityError), transaction.atomic():
        Lot.objects.filter(pk=lot.pk).update(version=2)


def test_the_database_refuses_a_lot_event_that_skips_a_version(world, lot):
    event = LedgerEvent.objects.get(lot=lot)
    with pytest.raises(IntegrityError), transaction.atomic():
        ledger.append_lot(
            kind="lot_receive",
            lot=Lot(pk=lot.pk, lot_number="x", version=5),
            quantity=1,
            source=ledger.NOBODY,
            target=armory_holder(world.armory_a),
            actor_id=world.alice.pk,
        )
    assert LedgerEvent.objects.filter(lot=lot).count() == 1 and event.item_version == 1


@pytest.fixture
def without_triggers(db):
    triggers.uninstall(connection)
    yield
    triggers.install(connection)


def test_verify_catches_a_balance_edited_behind_the_ledger(world, lot, without_triggers):
    lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    assert ledger.verify().ok
    LotBalance.objects.filter(lot=lot, holder_member=world.bob_member).update(quantity=25)
    result = ledger.verify()
    assert not result.ok
    assert f"lot {lot.pk}: member:{world.bob_member.pk} holds 25 but the ledger says 30" in result.problem


def test_a_member_holding_a_lot_cannot_depart(world, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    with pytest.raises(Refused) as error:
        member_services.change_status(member=world.bob_member, to_status="departed", reason="Moved", actor=world.dave)
    assert error.value.code == "member_holds_items"


def test_item_services_still_refuse_a_lost_item_when_a_lot_case_is_open(world, lot):
    # A lot's loss case has no item: the item gate must not mistake it for every item's case.
    lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    lots.settle(lot=lot, member=world.bob_member, returned=0, expended=0, actor=world.alice)
    from muster.custody.testing import make_item

    item = make_item(world.armory_a, world.alice)
    other = make_member(world.unit_a)
    services.issue(item=item, member=other, actor=world.alice)
    assert item.events.count() == 2


def test_an_open_lot_case_does_not_hide_an_armorys_items_from_a_count(world, lot):
    from muster.custody import counts
    from muster.custody.testing import make_item

    item = make_item(world.armory_a, world.alice)
    lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    lots.settle(lot=lot, member=world.bob_member, returned=0, expended=0, actor=world.alice)
    count = counts.start(armory=world.armory_a, actor=world.alice)
    assert count.expected == [item.pk]


def test_lot_events_show_on_the_member_page_the_ledger_api_and_a_receipt(world, lot, client):
    from django.urls import reverse
    from rest_framework.test import APIClient

    event = lots.issue(lot=lot, member=world.bob_member, quantity=30, actor=world.alice)
    client.force_login(world.alice)
    page = client.get(reverse("member-page", args=[world.bob_member.member_no]))
    assert page.status_code == 200
    assert "30 × " in page.content.decode() and reverse("lot-page", args=[lot.pk]) in page.content.decode()
    api = APIClient()
    api.force_authenticate(world.alice)
    body = api.get(reverse("api:ledger-detail", kwargs={"seq": event.seq})).json()
    assert (body["item"], body["lot"], body["lot_number"], body["quantity"], body["to"]) == (
        None, lot.pk, lot.lot_number, 30, f"member:{world.bob_member.pk}",
    )  # fmt: skip
    receipt = client.get(reverse("event-receipt", args=[event.seq]))
    assert receipt.status_code == 200 and receipt["Content-Type"] == "application/pdf"
    # Bob sees his own lot event; Carol (another unit) does not.
    api.force_authenticate(world.bob)
    assert api.get(reverse("api:ledger-detail", kwargs={"seq": event.seq})).status_code == 200
    api.force_authenticate(world.carol)
    assert api.get(reverse("api:ledger-detail", kwargs={"seq": event.seq})).status_code == 404


def test_a_lot_loss_case_runs_on_the_home_units_reporting_clock_like_an_items(world, lot):
    from muster.custody import losses, policy
    from muster.custody.testing import make_item

    policy.set_unit_policy(unit=world.unit_a, actor=world.dave, loss_report_hours=72)
    lots.issue(lot=lot, member=world.bob_member, quantity=40, actor=world.alice)
    before = timezone.now()
    lot_case = lots.settle(lot=lot, member=world.bob_member, returned=30, expended=0, actor=world.alice).loss_case
    rifle = make_item(world.armory_a, world.alice)
    item_case = losses.open_case(item=rifle, kind="lost", circumstances="gone", place="range", occurred_at=before,
                                 actor=world.alice)  # fmt: skip
    for case in (lot_case, item_case):
        hours = (case.deadline - case.opened_at).total_seconds() / 3600
        assert hours == 72, case
