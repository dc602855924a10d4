"""`muster lot receive|issue|return|settle|status`: ammunition and consumables by lot, on the same rules as the web
and the API (custody.lots). A lot is named by its number (--item-type ID where numbers repeat across types).

Exit codes as every command: 2 invalid, 3 refused by a rule, 4 not permitted, 5 not found; a refusal changes nothing.
"""

import os

from django.conf import settings
from django.utils import timezone

from muster.core.cli import MusterCommand
from muster.core.errors import Invalid
from muster.custody import lots, queries, queries_lots
from muster.custody.api_handover import confirm_pin
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.management.commands.issue import ask_pin, parse_due
from muster.custody.models import HolderKind, LedgerEvent
from muster.members import scope

JUSTIFICATIONS = sorted(lots.Justification.ALL)


def parse_quantity(value: str, name: str = "quantity") -> int:
    """A whole number as typed; its range is the service's to check (quantity_not_positive, quantity_too_large)."""
    try:
        return int(value.strip())
    except ValueError:
        raise Invalid(f"The {name} {value!r} is not a whole number.", code="quantity_invalid") from None


def describe(event: LedgerEvent) -> str:
    lot = event.lot
    line = f"#{event.seq} {event.kind} {event.hash[:12]}  {lot.item_type.name} lot {lot.lot_number}: {event.quantity}"
    if event.to_member_id:
        member = event.to_member
        due = timezone.localtime(event.due_at).strftime("%Y-%m-%d %H:%M %Z") if event.due_at else "-"
        return f"{line} → {member.full_name} ({member.member_no}), due back {due}"
    if event.from_member_id and event.to_armory_id:
        return f"{line} {event.from_member.full_name} ({event.from_member.member_no}) → {event.to_armory.code}"
    if event.to_armory_id:
        return f"{line} → {event.to_armory.code}"
    return f"{line} off the books ({event.kind.removeprefix('lot_')})"


def loaded(event: LedgerEvent | None) -> LedgerEvent | None:
    if event is None:
        return None
    return LedgerEvent.objects.select_related(
        "lot__item_type", "from_member", "to_member", "from_armory", "to_armory"
    ).get(pk=event.pk)


class Command(MusterCommand):
    help = "Lots of ammunition and consumables: receive a delivery, issue, take back, settle, show the balances."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        receive = actions.add_parser("receive", help="a delivery into a store (creates the lot on its first)")
        receive.add_argument("lot_number", metavar="LOT_NUMBER")
        receive.add_argument("quantity", metavar="QUANTITY")
        receive.add_argument("--type", required=True, metavar="ID_OR_NAME", help="the ammunition or consumable type")
        receive.add_argument("--armory", required=True, metavar="CODE", help="the store taking it in")
        receive.add_argument("--delivery", default="", metavar="REF", help="the delivery note's reference")
        issue = actions.add_parser("issue", help="hand a quantity to a member")
        issue.add_argument("--due", metavar="ISO_DATETIME", help="due-back time (default: the type's loan period)")
        issue.add_argument("--pin", metavar="PIN", help="the member's handover PIN (default: typed at a prompt)")
        returned = actions.add_parser("return", help="take a quantity back from a member")
        settle = actions.add_parser("settle", help="close out what a member holds; the rest opens a loss case")
        settle.add_argument("--returned", default="0", metavar="N", help="how much comes back")
        settle.add_argument("--expended", default="0", metavar="N", help="how much was used")
        settle.add_argument("--justification", choices=JUSTIFICATIONS, help="what the expended quantity was used for")
        settle.add_argument("--reference", default="", metavar="REF", help="training session id or incident report")
        settle.add_argument("--place", default="", help="for the loss case, if anything is missing")
        for moving in (issue, returned, settle):
            moving.add_argument("lot_number", metavar="LOT_NUMBER")
            moving.add_argument("member_no", metavar="MEMBER_NO")
            moving.add_argument("--armory", metavar="CODE", help="the store (default: the lot's home store)")
            moving.add_argument("--item-type", type=int, metavar="ID", help="the item type, where lot numbers repeat")
        for moving in (issue, returned):
            moving.add_argument("quantity", metavar="QUANTITY")
            moving.add_argument("--reason", default="", help="recorded on the ledger event")
        status = actions.add_parser("status", help="a lot's balances, or every visible lot's totals")
        status.add_argument("lot_number", metavar="LOT_NUMBER", nargs="?")
        status.add_argument("--item-type", type=int, metavar="ID", help="the item type, where lot numbers repeat")
        for action in actions.choices.values():
            self.add_actor_argument(action)

    def handle(self, *args, **options) -> None:
        if options["action"] == "status":
            return self.status(options)
        actor = self.actor(options)
        if options["action"] == "receive":
            return self.receive(actor, options)
        lot = self.run(
            lambda: queries_lots.find_lot_by_number(actor, options["lot_number"], item_type_id=options["item_type"])
        )
        armory = self.run(lambda: queries.find_armory(actor, options["armory"])) if options["armory"] else None
        getattr(self, f"do_{options['action']}")(actor, lot, armory, options)

    def receive(self, actor, options) -> None:
        quantity = self.run(lambda: parse_quantity(options["quantity"]))
        item_type = self.run(lambda: queries_lots.find_lot_type(options["type"]))
        armory = self.run(lambda: queries.find_armory(actor, options["armory"]))
        event = self.run(
            lambda: lots.receive(
                item_type=item_type,
                lot_number=options["lot_number"],
                armory=armory,
                quantity=quantity,
                actor=actor,
                delivery_ref=options["delivery"],
            )
        )
        self.stdout.write(describe(loaded(event)))

    def do_issue(self, actor, lot, armory, options) -> None:
        quantity = self.run(lambda: parse_quantity(options["quantity"]))
        due = self.run(lambda: parse_due(options["due"])) if options["due"] else None
        member = self.run(lambda: queries.find_member(actor, options["member_no"]))
        # The rules before the PIN: a refused issue must not cost the member a PIN attempt.
        self.run(
            lambda: lots.precheck_issue(
                lot=lot, member=member, quantity=quantity, actor=actor, armory=armory, due_at=due
            )
        )
        pin = options["pin"]
        if settings.MUSTER_REQUIRE_HANDOVER_PIN:
            pin = ask_pin(member, pin, role="Receiver")
        receiver = self.run(lambda: confirm_pin(member, pin, actor=actor, purpose="lot_issue"))
        event = self.run(
            lambda: lots.issue(
                lot=lot,
                member=member,
                quantity=quantity,
                actor=actor,
                armory=armory,
                due_at=due,
                reason=options["reason"],
                receiver=receiver,
            )
        )
        self.stdout.write(describe(loaded(event)))

    def do_return(self, actor, lot, armory, options) -> None:
        quantity = self.run(lambda: parse_quantity(options["quantity"]))
        member = self.run(lambda: queries_lots.find_holder(actor, lot, options["member_no"]))
        event = self.run(
            lambda: lots.return_quantity(
                lot=lot, member=member, quantity=quantity, actor=actor, armory=armory, reason=options["reason"]
            )
        )
        self.stdout.write(describe(loaded(event)))

    def do_settle(self, actor, lot, armory, options) -> None:
        returned = self.run(lambda: parse_quantity(options["returned"], "returned quantity"))
        expended = self.run(lambda: parse_quantity(options["expended"], "expended quantity"))
        member = self.run(lambda: queries_lots.find_holder(actor, lot, options["member_no"]))
        kind = options["justification"]
        expenditure = lots.Expenditure(kind, options["reference"]) if kind else None
        result = self.run(
            lambda: lots.settle(
                lot=lot,
                member=member,
                returned=returned,
                expended=expended,
                actor=actor,
                expenditure=expenditure,
                armory=armory,
                place=options["place"],
            )
        )
        for event in (result.returned, result.expended):
            if event is not None:
                self.stdout.write(describe(loaded(event)))
        case = result.loss_case
        if case is None:
            self.stdout.write(f"{member.full_name} ({member.member_no}) settled: nothing unaccounted for")
        else:
            self.stdout.write(
                f"loss case {case.pk} opened: {case.quantity} of {lot} unaccounted for; "
                f"report by {timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
            )

    def status(self, options) -> None:
        """With an acting account, what it may see; without one, every lot (an operator tool on the server)."""
        named = options.get("acting_username") or os.environ.get("MUSTER_USER")
        actor = self.actor(options) if named else None
        if options["lot_number"]:
            number, type_id = options["lot_number"], options["item_type"]
            lot = self.run(lambda: queries_lots.find_lot_by_number(actor, number, item_type_id=type_id))
            return self.lot_status(actor, lot)
        visible = queries_lots.visible_lots(actor) if actor else Lot.objects.all()
        rows = list(visible.select_related("item_type", "home_armory").prefetch_related("balances"))
        limited = actor is not None and not scope.is_global(actor)
        for lot in rows:
            flag = "  RECALLED" if lot.is_recalled else ""
            head = f"{lot.pk:>5}  {lot.lot_number:<20}  {lot.item_type.name:<24}  {lot.home_armory.code:<8}"
            if limited and not queries_lots.is_lot_staff(actor, lot):
                # A member sees the lots they hold, and only their own quantity (as on the web and in the API).
                mine = sum(b.quantity for b in lot.balances.all() if b.holder_member_id == actor.member_id)
                self.stdout.write(f"{head}  you hold {mine:>8}{flag}")
                continue
            on_hand = sum(b.quantity for b in lot.balances.all() if b.holder_kind == HolderKind.ARMORY)
            out = sum(b.quantity for b in lot.balances.all() if b.holder_kind == HolderKind.MEMBER)
            self.stdout.write(f"{head}  on hand {on_hand:>8}  out {out:>8}{flag}")
        self.stdout.write(f"{len(rows)} lot(s)")

    def lot_status(self, actor, lot: Lot) -> None:
        balances = LotBalance.objects.filter(lot=lot, quantity__gt=0).select_related("holder_armory", "holder_member")
        if actor is not None and not queries_lots.is_lot_staff(actor, lot):
            balances = balances.filter(holder_member_id=actor.member_id)
        now = timezone.now()
        self.stdout.write(
            f"{lot} (id {lot.pk}), home {lot.home_armory.code}"
            + (f", RECALLED: {lot.recall_reason}" if lot.is_recalled else "")
        )
        for balance in balances.order_by("holder_kind", "holder_armory__code", "holder_member__member_no"):
            if balance.holder_kind == HolderKind.ARMORY:
                self.stdout.write(f"  {balance.holder_armory.code:<24}  {balance.quantity:>8}")
                continue
            member, due = balance.holder_member, balance.due_at
            late = "  OVERDUE" if due and due < now else ""
            when = timezone.localtime(due).strftime("%Y-%m-%d %H:%M") if due else "-"
            self.stdout.write(
                f"  {member.member_no:<10} {member.full_name:<13}  {balance.quantity:>8}  due {when}{late}"
            )
