"""Lots on the web: the list, the lot page, and a form per movement — each changes the balances, the ledger and the
loss cases as custody.lots and custody.lot_losses say, a refusal shows its code and changes nothing, another unit's
lot answers 404."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_member
from muster.custody import handover, lot_losses, lots
from muster.custody.lot_balances import armory_holder, balance_of, member_holder
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.models import Armory, ItemType, LedgerEvent, LossCase
from muster.custody.testing import make_item_type, make_lot
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


@pytest.fixture
def issued(world, lot):
    lots.issue(lot=lot, member=world.bob_member, quantity=120, actor=world.alice)
    return lot


def as_user(client, account):
    client.force_login(account)
    return client


def post(client, name: str, pk: int, data: dict):
    return client.post(reverse(name, args=[pk]), data)


def lot_events(lot) -> int:
    return LedgerEvent.objects.filter(lot=lot).count()


# --- the list and the page -------------------------------------------------------------------------------------------


def test_the_list_shows_on_hand_per_armory_and_out_with_members(client, world, issued):
    other = make_lot(world.armory_b, world.carol, number="B-LOT-9")
    response = as_user(client, world.alice).get(reverse("lot-index"))
    assert response.status_code == 200
    row = next(lot for lot in response.context["page_obj"] if lot.pk == issued.pk)
    assert (row.on_hand, row.with_members, row.holders, row.overdue) == (880, 120, 1, 0)
    assert [(b.holder_armory.code, b.quantity) for b in row.stock] == [("ARM-A", 880)]
    assert other.pk not in [lot.pk for lot in response.context["page_obj"]]
    assert b"ARM-A 880" in response.content


@pytest.mark.parametrize(
    ("query", "listed"),
    [("recalled=yes", False), ("recalled=no", True), ("armory=ARM-A", True), ("armory=ARM-B", False), ("q=1987", True),
     ("q=nothing", False)],
)  # fmt: skip
def test_the_list_filters_by_armory_type_and_recall(client, world, issued, query, listed):
    response = as_user(client, world.rita).get(f"{reverse('lot-index')}?{query}")
    assert (issued.pk in [lot.pk for lot in response.context["page_obj"]]) == listed


def test_the_list_is_for_staff(client, world, issued):
    assert as_user(client, world.bob).get(reverse("lot-index")).status_code == 403


def test_the_lot_page_shows_holders_with_their_due_back_and_the_ledger(client, world, issued):
    late = make_member(world.unit_a, first_name="Lena")
    lots.issue(lot=issued, member=late, quantity=30, actor=world.alice, due_at=timezone.now() + timedelta(minutes=1))
    LotBalance.objects.filter(holder_member=late).update(due_at=timezone.now() - timedelta(hours=1))
    response = as_user(client, world.erin).get(reverse("lot-page", args=[issued.pk]))
    assert response.status_code == 200
    context = response.context
    assert [(b.holder_member, b.quantity, b.overdue) for b in context["members"]] == [
        (late, 30, True), (world.bob_member, 120, False),
    ]  # fmt: skip
    assert (context["on_hand"], context["with_members"], context["overdue"]) == (850, 150, 1)
    assert [e.kind for e in context["page_obj"]] == ["lot_issue", "lot_issue", "lot_receive"]
    receipt = reverse("event-receipt", args=[context["page_obj"][0].seq])
    assert receipt.encode() in response.content and client.get(receipt).status_code == 200
    assert context["actions"] == []  # an auditor reads; she moves nothing


def test_a_member_sees_only_their_own_part_of_a_lot_they_hold(client, world, issued):
    other = make_member(world.unit_a)
    lots.issue(lot=issued, member=other, quantity=5, actor=world.alice)
    response = as_user(client, world.bob).get(reverse("lot-page", args=[issued.pk]))
    assert response.status_code == 200
    assert [b.holder_member for b in response.context["members"]] == [world.bob_member]
    assert response.context["stock"] == [] and response.context["actions"] == []
    assert [e.to_member_id for e in response.context["page_obj"]] == [world.bob_member.pk]


def test_a_lot_the_member_does_not_hold_or_of_another_unit_answers_404(client, world, lot):
    assert as_user(client, world.bob).get(reverse("lot-page", args=[lot.pk])).status_code == 404
    assert as_user(client, world.carol).get(reverse("lot-page", args=[lot.pk])).status_code == 404
    assert as_user(client, world.carol).get(reverse("lot-issue", args=[lot.pk])).status_code == 404
    assert as_user(client, world.alice).get(reverse("lot-page", args=[99999])).status_code == 404


def test_the_lot_page_reads_in_a_fixed_number_of_queries(client, world, issued):
    as_user(client, world.alice)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("lot-page", args=[issued.pk])).status_code == 200
        return len(captured)

    before = queries()
    for _ in range(6):
        member = make_member(world.unit_a)
        lots.issue(lot=issued, member=member, quantity=3, actor=world.alice)
        lot_losses.report_loss(lot=issued, member=member, quantity=1, kind="lost", circumstances="Dropped",
                               place="Range", occurred_at=timezone.now(), actor=world.alice)  # fmt: skip
    assert queries() == before


def test_the_list_reads_in_a_fixed_number_of_queries(client, world, issued):
    as_user(client, world.alice)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("lot-index")).status_code == 200
        return len(captured)

    before = queries()
    second = Armory.objects.create(code="ARM-A2", name="Arms room A2", unit=world.unit_a)
    for n in range(4):
        extra = make_lot(world.armory_a, world.alice, number=f"X-{n}")
        member = make_member(world.unit_a)
        lots.issue(lot=extra, member=member, quantity=3, actor=world.alice)
        lots.return_quantity(lot=extra, member=member, quantity=1, armory=second, actor=world.alice)
    assert queries() == before


# --- movements -------------------------------------------------------------------------------------------------------


def test_it_receives_a_delivery_and_creates_the_lot(client, world):
    ammo = make_item_type("9 mm ball", category=ItemType.Category.AMMUNITION)
    response = as_user(client, world.alice).post(reverse("lot-receive"), {
        "item_type": ammo.pk, "lot_number": "P9-22", "armory": world.armory_a.pk, "quantity": 500,
        "delivery_ref": "DN-55",
    })  # fmt: skip
    lot = Lot.objects.get(lot_number="P9-22")
    assert response.status_code == 302 and response.url == reverse("lot-page", args=[lot.pk])
    assert in_store(lot, world.armory_a) == 500
    assert LedgerEvent.objects.get(lot=lot).data == {"delivery": "DN-55"}


def test_receiving_offers_only_by_lot_types_and_the_callers_stores(client, world):
    rifle = make_item_type()
    ammo = make_item_type("9 mm ball", category=ItemType.Category.AMMUNITION)
    as_user(client, world.alice)
    base = {"lot_number": "X1", "quantity": 5}
    assert (
        client.post(reverse("lot-receive"), {**base, "item_type": rifle.pk, "armory": world.armory_a.pk}).status_code
        == 400
    )
    assert (
        client.post(reverse("lot-receive"), {**base, "item_type": ammo.pk, "armory": world.armory_b.pk}).status_code
        == 400
    )
    assert not Lot.objects.exists()
    assert as_user(client, world.dave).get(reverse("lot-receive")).status_code == 403


def test_a_refused_delivery_shows_its_code_and_changes_nothing(client, world, lot):
    lots.recall(lot=lot, actor=world.dave, reason="Misfires reported")
    response = as_user(client, world.alice).post(reverse("lot-receive"), {
        "item_type": lot.item_type_id, "lot_number": lot.lot_number, "armory": world.armory_a.pk, "quantity": 5,
    })  # fmt: skip
    assert response.status_code == 409 and b"[lot_recalled]" in response.content
    assert in_store(lot, world.armory_a) == 1000


def test_it_issues_a_quantity_from_the_lot_page(client, world, lot):
    response = post(as_user(client, world.alice), "lot-issue", lot.pk,
                    {"member_no": world.bob_member.member_no, "quantity": 120})  # fmt: skip
    assert response.status_code == 302 and response.url == reverse("lot-page", args=[lot.pk])
    assert (in_store(lot, world.armory_a), held(lot, world.bob_member)) == (880, 120)
    page = client.get(response.url)
    assert b"Issued 120 to Bob Baker" in page.content


@pytest.mark.parametrize(
    ("quantity", "status", "code"), [(1001, 409, "insufficient_quantity"), (0, 400, "quantity_not_positive")]
)
def test_a_refused_issue_shows_its_code_and_changes_nothing(client, world, lot, quantity, status, code):
    response = post(as_user(client, world.alice), "lot-issue", lot.pk,
                    {"member_no": world.bob_member.member_no, "quantity": quantity})  # fmt: skip
    assert response.status_code == status and f"[{code}]".encode() in response.content
    assert (lot_events(lot), held(lot, world.bob_member)) == (1, 0)


def test_the_receiver_confirms_a_lot_issue_with_their_pin(client, world, lot, settings):
    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4071", actor=world.alice)
    as_user(client, world.alice)
    body = {"member_no": world.bob_member.member_no, "quantity": 10}
    response = post(client, "lot-issue", lot.pk, {**body, "pin": "9999"})
    assert response.status_code == 409
    assert "[pin_wrong]" in response.context["form"].errors["pin"][0]
    assert held(lot, world.bob_member) == 0
    assert post(client, "lot-issue", lot.pk, {**body, "pin": "4071"}).status_code == 302
    event = LedgerEvent.objects.filter(lot=lot).last()
    assert event.data["receiver_confirmed"] == {"member": world.bob_member.pk, "method": "pin"}


def test_it_takes_back_part_of_a_members_quantity(client, world, issued):
    as_user(client, world.alice)
    assert client.get(f"{reverse('lot-return', args=[issued.pk])}?member={world.bob_member.member_no}").context[
        "form"
    ].initial == {"member_no": world.bob_member.member_no}
    response = post(client, "lot-return", issued.pk, {"member_no": world.bob_member.member_no, "quantity": 100})
    assert response.status_code == 302
    assert (in_store(issued, world.armory_a), held(issued, world.bob_member)) == (980, 20)
    refused = post(client, "lot-return", issued.pk, {"member_no": world.bob_member.member_no, "quantity": 21})
    assert refused.status_code == 409 and b"[insufficient_quantity]" in refused.content
    assert held(issued, world.bob_member) == 20


def test_settling_returns_expends_and_links_the_loss_case_for_the_rest(client, world, issued):
    response = post(as_user(client, world.alice), "lot-settle", issued.pk, {
        "member_no": world.bob_member.member_no, "returned": 60, "expended": 55, "justification": "incident",
        "reference": "INC-2026-031",
    })  # fmt: skip
    assert response.status_code == 302
    case = LossCase.objects.get(lot=issued)
    assert (case.quantity, case.kind, case.last_member) == (5, "unaccounted", world.bob_member)
    assert held(issued, world.bob_member) == 0 and in_store(issued, world.armory_a) == 940
    assert [e.kind for e in LedgerEvent.objects.filter(lot=issued).order_by("seq")][-3:] == [
        "lot_return", "lot_expend", "lot_loss",
    ]  # fmt: skip
    page = client.get(response.url)
    link = f'href="{reverse("lot-page", args=[issued.pk])}#case-{case.pk}" data-testid="case-link"'
    assert link.encode() in page.content and f'id="case-{case.pk}"'.encode() in page.content


def test_a_settlement_that_does_not_add_up_shows_its_code_and_changes_nothing(client, world, issued):
    as_user(client, world.alice)
    base = {"member_no": world.bob_member.member_no, "returned": 100, "expended": 21}
    response = post(client, "lot-settle", issued.pk, {**base, "justification": "incident", "reference": "INC-1"})
    assert response.status_code == 409 and b"[insufficient_quantity]" in response.content
    response = post(client, "lot-settle", issued.pk, {**base, "expended": 20})
    assert response.status_code == 400 and b"[justification_missing]" in response.content
    assert (lot_events(issued), held(issued, world.bob_member), LossCase.objects.count()) == (2, 120, 0)


def test_it_expends_a_members_quantity_at_a_session_and_disposes_of_stock(client, world, issued):
    session = training.schedule_session(
        course=make_course("range-day", grants=[make_qualification("range-day")]), unit=world.unit_a,
        starts_at=timezone.now() + timedelta(days=1), place="Range 2", actor=world.dave,
    )  # fmt: skip
    as_user(client, world.alice)
    body = {"member_no": world.bob_member.member_no, "quantity": 90, "justification": "training_session",
            "reference": str(session.pk)}  # fmt: skip
    assert post(client, "lot-expend", issued.pk, body).status_code == 302
    assert held(issued, world.bob_member) == 30
    disposal = {"from_armory": world.armory_a.pk, "quantity": 10, "justification": "disposal", "reference": "DC-4"}
    assert post(client, "lot-expend", issued.pk, disposal).status_code == 302
    assert in_store(issued, world.armory_a) == 870
    refused = post(client, "lot-expend", issued.pk, {**body, "reference": "999999"})
    assert refused.status_code == 400 and b"[session_unknown]" in refused.content
    assert held(issued, world.bob_member) == 30


def test_a_duty_officer_reports_a_quantity_lost_and_the_member_is_frozen(client, world, issued):
    response = post(as_user(client, world.frank), "lot-loss", issued.pk, {
        "member_no": world.bob_member.member_no, "quantity": 20, "kind": "lost", "circumstances": "Pouch torn",
        "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "place": "Sector 4",
    })  # fmt: skip
    assert response.status_code == 302
    case = LossCase.objects.get(lot=issued)
    assert (case.quantity, case.opened_by, held(issued, world.bob_member)) == (20, world.frank, 100)
    assert as_user(client, world.frank).get(reverse("lot-issue", args=[issued.pk])).status_code == 403
    refused = post(as_user(client, world.alice), "lot-issue", issued.pk,
                   {"member_no": world.bob_member.member_no, "quantity": 1})  # fmt: skip
    assert refused.status_code == 409 and b"[member_frozen]" in refused.content


def test_a_commander_recalls_the_lot_and_its_holder_sees_the_banner(client, world, issued):
    assert (
        as_user(client, world.frank).post(reverse("lot-recall", args=[issued.pk]), {"reason": "x"}).status_code == 403
    )
    as_user(client, world.dave)
    refused = post(client, "lot-recall", issued.pk, {"reason": "bad"})
    assert refused.status_code == 400 and b"[recall_reason_missing]" in refused.content
    assert post(client, "lot-recall", issued.pk, {"reason": "Misfires reported by two units"}).status_code == 302
    issued.refresh_from_db()
    assert issued.is_recalled and issued.recalled_by == world.dave
    page = as_user(client, world.bob).get(reverse("lot-page", args=[issued.pk]))
    assert b'data-testid="recall-banner"' in page.content and b"Misfires reported by two units" in page.content
    names = [
        action["name"] for action in as_user(client, world.alice).get(page.request["PATH_INFO"]).context["actions"]
    ]
    assert "issue" not in names and "recall" not in names and "settle" in names


def test_a_lost_quantity_is_recovered_in_parts_until_the_case_closes(client, world, issued):
    case = lot_losses.report_loss(lot=issued, member=world.bob_member, quantity=30, kind="lost", actor=world.dave,
                                  circumstances="Left in the vehicle", place="Motor pool",
                                  occurred_at=timezone.now() - timedelta(hours=1))  # fmt: skip
    url = reverse("lot-recover", args=[case.pk])
    assert as_user(client, world.dave).get(url).status_code == 403
    assert as_user(client, world.carol).get(url).status_code == 404
    as_user(client, world.alice)
    assert client.get(url).status_code == 200
    body = {"quantity": 25, "armory": world.armory_a.pk, "notes": "Found under the seat."}
    assert client.post(url, body).status_code == 302
    refused = client.post(url, {**body, "quantity": 6})
    assert refused.status_code == 400 and b"[more_than_lost]" in refused.content
    assert client.post(url, {**body, "quantity": 5}).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.recovered_quantity) == ("recovered", 30)
    assert in_store(issued, world.armory_a) == 910
    closed = client.post(url, {**body, "quantity": 1})
    assert closed.status_code == 409 and b"[case_closed]" in closed.content


def test_only_the_lots_armorers_move_it(client, world, issued):
    for name in ("lot-issue", "lot-return", "lot-settle", "lot-expend"):
        assert as_user(client, world.dave).get(reverse(name, args=[issued.pk])).status_code == 403
        assert as_user(client, world.bob).post(reverse(name, args=[issued.pk]), {}).status_code == 403
    assert as_user(client, world.alice).get(reverse("lot-settle", args=[issued.pk])).status_code == 200
    assert lot_events(issued) == 2


# --- what the lot page says ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "code"), [("frozen", "member_frozen"), ("recalled", "lot_recalled"), ("too_many", "insufficient_quantity")]
)
def test_a_lot_issue_the_rules_refuse_checks_no_pin(client, world, lot, settings, case, code):
    from muster.custody.models import HandoverAttempt

    settings.MUSTER_REQUIRE_HANDOVER_PIN = True
    handover.set_pin(member=world.bob_member, pin="4071", actor=world.alice)
    if case == "frozen":
        lots.issue(
            lot=lot,
            member=world.bob_member,
            quantity=5,
            actor=world.alice,
            receiver=handover.confirm(member=world.bob_member, pin="4071", actor=world.alice, purpose="x"),
        )
        lot_losses.report_loss(
            lot=lot,
            member=world.bob_member,
            quantity=5,
            kind="lost",
            circumstances="Pouch torn",
            place="Range",
            occurred_at=timezone.now() - timedelta(hours=1),
            actor=world.alice,
        )
    elif case == "recalled":
        lots.recall(lot=lot, actor=world.dave, reason="Misfires reported")
    HandoverAttempt.objects.all().delete()
    events = lot_events(lot)
    response = post(as_user(client, world.alice), "lot-issue", lot.pk,
                    {"member_no": world.bob_member.member_no, "quantity": 2000 if case == "too_many" else 10,
                     "pin": "4071"})  # fmt: skip
    assert response.status_code == 409 and f"[{code}]".encode() in response.content
    assert lot_events(lot) == events and held(lot, world.bob_member) == 0
    assert not HandoverAttempt.objects.exists()  # the PIN was never tried


def test_the_ledger_spans_the_page_and_names_the_session_an_expenditure_was_for(client, world, issued):
    session = training.schedule_session(
        course=make_course("range-day", grants=[make_qualification("range-day")]), unit=world.unit_a,
        starts_at=timezone.now() + timedelta(days=1), place="Range 2", actor=world.dave,
    )  # fmt: skip
    lots.expend(lot=issued, member=world.bob_member, quantity=50, actor=world.alice,
                expenditure=lots.Expenditure("training_session", str(session.pk)))  # fmt: skip
    lots.expend(lot=issued, armory=world.armory_a, quantity=10, actor=world.alice,
                expenditure=lots.Expenditure("disposal", "DC-4"))  # fmt: skip
    response = as_user(client, world.alice).get(reverse("lot-page", args=[issued.pk]))
    html = response.content.decode()
    # The ledger is a full-width card after the two columns (holders | movement forms), not squeezed into the first.
    assert html.index('data-testid="lot-actions"') < html.index('data-testid="lot-ledger"')
    # From inside the totals row to the ledger card's own opening tag: every column is closed before the ledger.
    columns = html.split('data-testid="lot-totals"')[1].split('data-testid="lot-ledger"')[0]
    assert columns.count("<div") == columns.count("</div>")
    ledger = html.split('data-testid="lot-ledger"')[1]
    assert ">By<" in ledger and ">Reason<" in ledger
    session_url = reverse("training-session", args=[session.pk])
    assert f'for <a href="{session_url}">Training session #{session.pk}</a>' in ledger
    assert "for Disposal (armory stock) DC-4" in ledger
    assert "training_session" not in ledger


def test_a_settlement_shortfall_is_labelled_as_such(client, world, issued):
    as_user(client, world.alice)
    response = post(client, "lot-settle", issued.pk, {"member_no": world.bob_member.member_no, "returned": 100,
                                                      "expended": 0})  # fmt: skip
    case = LossCase.objects.get(lot=issued)
    assert (case.kind, case.quantity) == ("unaccounted", 20)
    page = client.get(response.url).content.decode()
    assert "settled with a shortfall of 20" in page
    cases = page.split('data-testid="lot-cases"')[1].split("</ul>")[0]
    assert "Settlement shortfall" in cases and "count discrepancy" not in cases
    ledger = page.split('data-testid="lot-events"')[1]
    assert "Settlement shortfall: 20 of" in ledger and "count discrepancy" not in ledger
    for url in (reverse("loss-page", args=[case.pk]), reverse("loss-index"), reverse("unit-dashboard", args=["A"])):
        shown = client.get(url).content.decode()
        assert "Settlement shortfall" in shown and "count discrepancy" not in shown, url


def test_the_lot_loss_form_reports_what_happened_not_a_count_discrepancy(client, world, issued):
    form = as_user(client, world.alice).get(reverse("lot-loss", args=[issued.pk])).context["form"]
    assert [value for value, _ in form.fields["kind"].choices] == ["lost", "stolen", "damaged"]
    refused = post(client, "lot-loss", issued.pk, {
        "member_no": world.bob_member.member_no, "quantity": 1, "kind": "unaccounted", "circumstances": "Short",
        "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "place": "Store",
    })  # fmt: skip
    assert refused.status_code == 400 and refused.context["form"].errors["kind"]
    assert not LossCase.objects.exists()
