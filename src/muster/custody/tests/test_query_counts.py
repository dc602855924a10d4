"""Query-count guards for the custody pages, PDFs and API routes not guarded by their feature's tests (the helper,
the rules and the meta-test are in core/tests/test_query_counts.py).

Rows are added through the services, as the ledger's triggers refuse anything else; only `due_at` of an issued item
is moved into the past directly (no trigger guards it), to make it overdue without waiting.
"""

import itertools
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_member, make_unit
from muster.core.tests.test_query_counts import Guard, context_rows, json_rows, params, run_guard
from muster.custody import counts, handover, losses, lot_losses, lots, policy, recalls, services
from muster.custody.models import Armory, Item, Recall
from muster.custody.testing import make_item, make_item_type, make_lot
from muster.custody.tests.test_receipts import pdf_text
from muster.training.testing import make_qualification

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)
PIN = "4071"


# --- growing the rows ------------------------------------------------------------------------------------------------


def _issue_new(world, item, member=None):
    services.issue(item=item, member=member or make_member(world.unit_a), actor=world.alice)


def _overdue_in_new_armories(ctx, n: int) -> None:
    """n armories of A, each with an item issued and overdue: rows of the home page's armories and overdue list."""
    world = ctx.world
    for _ in range(n):
        armory = Armory.objects.create(code=f"QC-{next(_numbers)}", name="Store", unit=world.unit_a)
        item = make_item(armory, world.alice)
        _issue_new(world, item)
        Item.objects.filter(pk=item.pk).update(due_at=timezone.now() - timedelta(hours=2))


def _issued_to_bob(ctx, n: int) -> None:
    for _ in range(n):
        item = make_item(ctx.world.armory_a, ctx.world.alice, serial=f"HR-{next(_numbers)}")
        _issue_new(ctx.world, item, ctx.world.bob_member)


def _armories(ctx, n: int) -> None:
    world = ctx.world
    for number in range(n):
        armory = Armory.objects.create(code=f"QC-{next(_numbers)}", name="Store", unit=world.unit_a)
        item = make_item(armory, world.alice)
        if number % 2:
            _issue_new(world, item)


def _item(ctx) -> None:
    ctx.item = make_item(ctx.world.armory_a, ctx.world.alice)


def _history(ctx, n: int) -> None:
    """n ledger events of one item: issues to new members and returns, in turn."""
    for _ in range(n):
        ctx.item.refresh_from_db()
        if ctx.item.holder_member_id:
            services.return_item(item=ctx.item, actor=ctx.world.alice)
        else:
            _issue_new(ctx.world, ctx.item)


def _overridden(ctx, n: int) -> None:
    """n issues that went ahead on dave's countersign (the members lack the rifle qualification)."""
    world = ctx.world
    item_type = make_item_type("AK-74M assault rifle")
    item_type.required_qualifications.set([make_qualification("rifle-ak")])
    for _ in range(n):
        services.issue(
            item=make_item(world.armory_a, world.alice, item_type=item_type), member=make_member(world.unit_a),
            actor=world.alice, override=services.Override(commander=world.dave, reason="Range day; booked Monday."),
        )  # fmt: skip


def _closed_cases(ctx, n: int) -> None:
    """n loss cases of one item, each recovered (the item panel lists the latest five)."""
    world = ctx.world
    for _ in range(n):
        ctx.item.refresh_from_db()
        case = losses.open_case(
            item=ctx.item, kind="lost", circumstances="Not found after the exercise.", place="Range",
            occurred_at=timezone.now() - timedelta(hours=1), actor=world.alice,
        )  # fmt: skip
        losses.recover(case=case, armory=world.armory_a, actor=world.alice, notes="Found in the vehicle.")


def _counted(ctx, n: int) -> None:
    """A submitted count with n more discrepancies than the last one: a third items missing from the shelf, a third
    items of another armory found on it, the rest codes nobody knows. A count's discrepancies are fixed when it is
    submitted, so each call counts a new store."""
    world = ctx.world
    ctx.total = total = getattr(ctx, "total", 0) + n
    missing, misplaced = total // 3, total // 3
    ctx.elsewhere = getattr(ctx, "elsewhere", [])
    ctx.elsewhere += [make_item(world.armory_a, world.alice) for _ in range(misplaced - len(ctx.elsewhere))]
    armory = Armory.objects.create(code=f"QC-{next(_numbers)}", name="Store", unit=world.unit_a)
    for _ in range(missing):
        make_item(armory, world.alice)
    ctx.count = counts.start(armory=armory, actor=world.alice)
    codes = [item.serial_number for item in ctx.elsewhere] + [f"ZZ-{k}" for k in range(total - missing - misplaced)]
    for code in codes:
        counts.scan(count=ctx.count, code=code, actor=world.alice)
    counts.submit(count=ctx.count, actor=world.alice)


def _bobs_history(ctx, n: int) -> None:
    """n custody events of bob's, of every kind his page lists: items issued to him, handed over by him to another
    member, taken back, and quantities of a lot issued to him."""
    world, bob = ctx.world, ctx.world.bob_member
    if not hasattr(ctx, "lot"):
        ctx.lot = make_lot(world.armory_a, world.alice, quantity=10_000)
        ctx.relief = make_member(world.unit_a, first_name="Relief")
        for member in (bob, ctx.relief):
            handover.set_pin(member=member, pin=PIN, actor=world.alice)
    for number in range(n):
        kind = number % 4
        if kind == 0:
            ctx.held = make_item(world.armory_a, world.alice)
            _issue_new(world, ctx.held, bob)
        elif kind == 1:
            services.transfer(
                item=ctx.held, to_member=ctx.relief, actor=world.alice,
                giver=handover.confirm(member=bob, pin=PIN, actor=world.alice, purpose="transfer"),
                receiver=handover.confirm(member=ctx.relief, pin=PIN, actor=world.alice, purpose="transfer"),
            )  # fmt: skip
        elif kind == 2:
            _issue_new(world, make_item(world.armory_a, world.alice), bob)
        else:
            lots.issue(lot=ctx.lot, member=bob, quantity=2, actor=world.alice)


def _custody_history(response) -> int:
    (section,) = [s for s in response.context["sections"] if s.template == "custody/_member_section.html"]
    return len(section.context["page_obj"])


def _ledger_mix(ctx, n: int) -> None:
    """n ledger events of items and lots, with handovers between members."""
    world = ctx.world
    if not hasattr(ctx, "lot"):
        ctx.lot = make_lot(world.armory_a, world.alice, quantity=10_000)
    for number in range(n):
        kind = number % 3
        if kind == 0:
            ctx.held = make_item(world.armory_a, world.alice)  # its registration is an event too
        elif kind == 1:
            _issue_new(world, ctx.held)
        else:
            lots.issue(lot=ctx.lot, member=make_member(world.unit_a), quantity=1, actor=world.alice)


def _lots_of_bob(ctx, n: int) -> None:
    for _ in range(n):
        lots.issue(lot=make_lot(ctx.world.armory_a, ctx.world.alice), member=ctx.world.bob_member, quantity=5,
                   actor=ctx.world.alice)  # fmt: skip


def _resolved_recalls(ctx, n: int) -> None:
    """n recalls, every other one resolved by the return of the item."""
    world = ctx.world
    for number in range(n):
        item = make_item(world.armory_a, world.alice)
        _issue_new(world, item)
        item.refresh_from_db()
        recalls.raise_recall(item=item, reason=Recall.Reason.VETTING_EXPIRED, detail="lapsed")
        if number % 2:
            services.return_item(item=item, actor=world.alice)


def _open_recalls(ctx, n: int) -> None:
    """n open recalls of ARM-A's items, each held by another member (the armory page lists them all)."""
    world = ctx.world
    for _ in range(n):
        item = make_item(world.armory_a, world.alice)
        _issue_new(world, item)
        item.refresh_from_db()
        recalls.raise_recall(item=item, reason=Recall.Reason.SUSPENDED, detail="suspended")


def _bob_pin(ctx) -> None:
    handover.set_pin(member=ctx.world.bob_member, pin=PIN, actor=ctx.world.alice)


def _pin_entries(ctx, n: int) -> None:
    for _ in range(n):
        handover.confirm(member=ctx.world.bob_member, pin=PIN, actor=ctx.world.alice, purpose="issue")


def _lot(ctx) -> None:
    ctx.lot = make_lot(ctx.world.armory_a, ctx.world.alice, quantity=10_000)


def _lot_holders(ctx, n: int) -> None:
    for _ in range(n):
        lots.issue(lot=ctx.lot, member=make_member(ctx.world.unit_a), quantity=3, actor=ctx.world.alice)


def _lot_cases(ctx, n: int) -> None:
    for _ in range(n):
        lot_losses.report_loss(
            lot=ctx.lot, quantity=1, kind="lost", circumstances="Short in the box.", place="Store",
            occurred_at=timezone.now() - timedelta(hours=1), actor=ctx.world.alice, armory=ctx.world.armory_a,
        )  # fmt: skip


def _item_type(ctx) -> None:
    ctx.item_type = make_item_type("Qualified rifle")


def _required(ctx, n: int) -> None:
    ctx.item_type.required_qualifications.add(*[make_qualification(f"qc-{next(_numbers)}") for _ in range(n)])


def _sub_units(ctx, n: int) -> None:
    """n units under A, every other one with a policy of its own (the overview says where each value comes from)."""
    world = ctx.world
    for number in range(n):
        unit = make_unit(f"QC{next(_numbers)}", parent=world.unit_a)
        if number % 2:
            policy.set_unit_policy(unit=unit, actor=world.dave, default_loan_hours=12 + number)


def _shelf(ctx, n: int) -> None:
    for number in range(n):
        item = make_item(ctx.world.armory_a, ctx.world.alice)
        if number % 3 == 0:
            _issue_new(ctx.world, item)


def _members_of_a(ctx, n: int) -> None:
    for _ in range(n):
        make_member(ctx.world.unit_a)


# --- counting what a response shows ----------------------------------------------------------------------------------


def _csv_rows(response) -> int:
    return len(response.content.decode().splitlines()) - 1  # the header


def _images(response) -> int:
    """QR codes on a label or badge sheet: one image per label."""
    return len(re.findall(rb"/Subtype /Image", response.content))


def _receipt_rows(response) -> int:
    return len(set(re.findall(r"HR-\d+", pdf_text(response.content))))


def _member_no(ctx) -> str:
    return ctx.world.bob_member.member_no


GUARDS = [
    # The home page: the armories and what is overdue (staff), what the member holds (everyone).
    Guard("home", lambda ctx: reverse("home"), _overdue_in_new_armories, context_rows("overdue"), cap=20,
          name="armories and overdue"),
    Guard("home", lambda ctx: reverse("home"), _issued_to_bob, context_rows("my_items"), who="bob",
          name="what I hold"),
    Guard("armory-page", lambda ctx: reverse("armory-page", args=["ARM-A"]), _open_recalls, context_rows("recalls"),
          name="recalls"),
    Guard("armory-index", lambda ctx: reverse("armory-index"), _armories, context_rows("armories")),
    Guard("item-page", lambda ctx: reverse("item-page", args=[ctx.item.pk]), _history, context_rows("page_obj"),
          setup=_item, cap=50),
    Guard("item-controls", lambda ctx: reverse("item-controls", args=[ctx.item.pk]), _closed_cases,
          context_rows("cases"), setup=_item, few=2, many=8, cap=5),
    Guard("count-page", lambda ctx: reverse("count-page", args=[ctx.count.pk]), _counted,
          context_rows("discrepancies"), name="discrepancies"),
    Guard("api:count-detail", lambda ctx: reverse("api:count-detail", args=[ctx.count.pk]), _counted,
          json_rows("discrepancies")),
    Guard("custody-overrides", lambda ctx: reverse("custody-overrides"), _overridden, context_rows("page_obj"),
          who="dave", cap=50),
    Guard("custody-overrides", lambda ctx: reverse("custody-overrides") + "?export=csv", _overridden, _csv_rows,
          who="dave", name="csv"),
    Guard("counter", lambda ctx: f"{reverse('counter')}?member={_member_no(ctx)}", _issued_to_bob,
          context_rows("holdings")),
    Guard("loss-index", lambda ctx: reverse("loss-index"), _lot_cases, context_rows("page_obj"), setup=_lot,
          cap=50, name="lot cases"),
    Guard("api:loss-case-list", lambda ctx: reverse("api:loss-case-list"), _lot_cases, json_rows(), setup=_lot,
          cap=50, name="lot cases"),
    Guard("unit-custody-policies", lambda ctx: reverse("unit-custody-policies"), _sub_units, context_rows("rows"),
          who="rita"),
    # Parts of pages that other rows do not reach: a member's own page and lists, events of lots and handovers.
    Guard("member-page", lambda ctx: reverse("member-page", args=[_member_no(ctx)]), _bobs_history, _custody_history,
          who="bob", cap=25, name="own custody history"),
    Guard("api:ledger-list", lambda ctx: reverse("api:ledger-list"), _ledger_mix, json_rows(), cap=50,
          name="lots and handovers"),
    Guard("api:item-list", lambda ctx: reverse("api:item-list"), _issued_to_bob, json_rows(), who="bob", cap=50,
          name="a member's own"),
    Guard("api:lot-list", lambda ctx: reverse("api:lot-list"), _lots_of_bob, json_rows(), who="bob", cap=50,
          name="a member's own"),
    Guard("lot-page", lambda ctx: reverse("lot-page", args=[ctx.lot.pk]), _lot_holders, context_rows("members"),
          setup=_lot, name="holders"),
    Guard("api:recall-list", lambda ctx: reverse("api:recall-list") + "?state=all", _resolved_recalls, json_rows(),
          cap=50, name="resolved too"),
    # PDFs: the rows are the labels, badges and receipt lines printed.
    Guard("armory-labels", lambda ctx: reverse("armory-labels", args=["ARM-A"]), _shelf, _images),
    Guard("unit-badges", lambda ctx: reverse("unit-badges", args=["A"]), _members_of_a, _images, who="dave"),
    Guard("member-hand-receipt", lambda ctx: reverse("member-hand-receipt", args=[_member_no(ctx)]), _issued_to_bob,
          _receipt_rows),
    Guard("api-member-hand-receipt", lambda ctx: reverse("api-member-hand-receipt", args=[_member_no(ctx)]),
          _issued_to_bob, _receipt_rows, who="dave"),
    # API details with a list inside.
    Guard("api:member-pin", lambda ctx: reverse("api:member-pin", args=[_member_no(ctx)]), _pin_entries,
          json_rows("recent_attempts"), setup=_bob_pin, few=4, many=12, cap=10),
    Guard("api:lot-detail", lambda ctx: reverse("api:lot-detail", args=[ctx.lot.pk]), _lot_holders,
          json_rows("balances"), setup=_lot),
    Guard("api:itemtype-detail", lambda ctx: reverse("api:itemtype-detail", args=[ctx.item_type.pk]), _required,
          json_rows("required_qualifications"), setup=_item_type),
]  # fmt: skip


@pytest.mark.parametrize("guard", params(GUARDS))
def test_the_query_count_does_not_grow_with_the_rows(world, guard):
    run_guard(guard, world)
