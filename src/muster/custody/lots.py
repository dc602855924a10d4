"""Ammunition and consumables by lot: receive, issue, return, expend, settle, recall.

Same shape as custody.services: keyword-only arguments, an acting account, one durable transaction. Every movement
locks the lot row first, so all movements of one lot are serialized; it checks the balances it draws from, moves
them, and appends a `lot_*` ledger event carrying the quantity. The `lot_balance_never_negative` check constraint
refuses a negative balance even if a check here were skipped; `muster ledger verify` replays the lot events and
compares them with the balance table.

What a member drew and does not bring back must be accounted for: as expended with a justification (a training
session, an incident report, or for stock in an armory a disposal record), or it opens a loss case (`settle`).

Losses and recoveries of lot quantities are custody.lot_losses'; the balance steps both share, custody.lot_balances.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.notify import notify
from muster.custody import handover, ledger
from muster.custody.ledger import NOBODY, Holder
from muster.custody.lot_balances import (
    _active,
    _draw,
    _lock,
    _move,
    _quantity,
    _require_armorer,
    _store,
    armory_holder,
    balance_of,
    member_holder,
)
from muster.custody.lot_losses import _open_case
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.models import Armory, HolderKind, Item, ItemType, LedgerEvent, LossCase
from muster.members import scope
from muster.members.models import Account, Member, Role

LOT_MANAGERS = frozenset({Role.ARMORER, Role.COMMANDER})


class Justification:
    TRAINING_SESSION = "training_session"
    INCIDENT = "incident"
    DISPOSAL = "disposal"  # stock in an armory destroyed or handed back to the supplier (a recalled lot, say)
    CHOICES = (
        (TRAINING_SESSION, "Training session"),
        (INCIDENT, "Incident report"),
        (DISPOSAL, "Disposal (armory stock)"),
    )
    ALL = frozenset(choice for choice, _ in CHOICES)


@dataclass(frozen=True)
class Expenditure:
    """How an expended quantity is justified: a training session's id, or an incident or disposal reference."""

    kind: str
    reference: str


@retry_transient
@transaction.atomic(durable=True)
def receive(
    *,
    item_type: ItemType,
    lot_number: str,
    armory: Armory,
    quantity: int,
    actor: Account,
    delivery_ref: str = "",
    reason: str = "",
) -> LedgerEvent:
    """A delivery of `quantity` of a lot into a store; the lot is created on its first delivery (home: `armory`)."""
    armory = _store(armory)
    _require_armorer(actor, armory, "receive deliveries into it")
    quantity = _quantity(quantity)
    lot_number = lot_number.strip()
    if not lot_number:
        raise Invalid("The lot number is empty.", code="lot_number_empty")
    if not item_type.is_by_lot:
        raise Invalid(
            f"{item_type} is tracked by serial number, not by lot; register its items instead.", code="not_by_lot"
        )
    lot, _ = Lot.objects.get_or_create(item_type=item_type, lot_number=lot_number, defaults={"home_armory": armory})
    lot = _lock(lot)
    if lot.is_recalled:
        raise Refused(f"{lot} is recalled; it cannot be taken into stock.", code="lot_recalled")
    data = {"delivery": delivery_ref.strip()[:100]} if delivery_ref.strip() else {}
    _move(lot, quantity, NOBODY, armory_holder(armory))
    return ledger.append_lot(
        kind=LedgerEvent.Kind.LOT_RECEIVE,
        lot=lot,
        quantity=quantity,
        source=NOBODY,
        target=armory_holder(armory),
        actor_id=actor.pk,
        reason=reason or "delivery received",
        data=data,
    )


@retry_transient
@transaction.atomic(durable=True)
def _check_issue(lot: Lot, member: Member, quantity: int, actor: Account, armory: Armory | None, due_at):
    """What `issue` refuses before it moves anything; returns the store, quantity, member and due-back time."""
    from muster.custody import services  # the gate and the due-back default live with the item services

    armory = _store(armory or lot.home_armory)
    _require_armorer(actor, armory, "issue from it")
    quantity = _quantity(quantity)
    member = Member.objects.select_related("unit").get(pk=member.pk)
    if not scope.has_role(actor, member.unit, {Role.ARMORER}):
        raise NotPermitted(f"{member} is not in a unit {actor.username} serves as armorer.", code="member_out_of_scope")
    services.refuse_self_issue(actor=actor, member=member)
    if lot.is_recalled:
        raise Refused(f"{lot} is recalled: {lot.recall_reason}", code="lot_recalled")
    now = timezone.now()
    due_at = due_at or services.default_due_at(lot.item_type, now, unit=armory.unit)
    if due_at <= now:
        raise Invalid("The due-back time must be in the future.", code="due_in_past")
    # The member passes the same gate as for an item of this type (status, vetting, qualifications, freeze).
    # pk=0: no item has it, so the gate's item checks (lost, in maintenance) find nothing.
    as_item = Item(pk=0, item_type=lot.item_type, condition=Item.Condition.SERVICEABLE, holder_kind=HolderKind.ARMORY)
    failures = services.gate(item=as_item, member=member, due_at=due_at, now=now)
    if failures:
        raise failures[0]
    return armory, quantity, member, due_at


def precheck_issue(
    *,
    lot: Lot,
    member: Member,
    quantity: int,
    actor: Account,
    armory: Armory | None = None,
    due_at: datetime | None = None,
) -> None:
    """Raise what `issue` would refuse, writing nothing: every face calls it before the member types a PIN (each
    PIN entry is logged and counts towards the lockout). `issue` checks it all again under the lot's lock."""
    lot = Lot.objects.select_related("item_type", "home_armory__unit").get(pk=lot.pk)
    armory, quantity, _, _ = _check_issue(lot, member, quantity, actor, armory, due_at)
    held = balance_of(lot, armory_holder(armory))
    if quantity > held:
        raise Refused(f"Cannot issue {quantity} of {lot}: only {held} held there.", code="insufficient_quantity")


def issue(
    *,
    lot: Lot,
    member: Member,
    quantity: int,
    actor: Account,
    armory: Armory | None = None,
    due_at: datetime | None = None,
    reason: str = "",
    receiver: handover.Confirmation | None = None,
) -> LedgerEvent:
    """Hand `quantity` of a lot from a store (its home store unless given) to a member who passes the gate."""
    lot = _lock(lot)
    armory, quantity, member, due_at = _check_issue(lot, member, quantity, actor, armory, due_at)
    _draw(lot, quantity, armory_holder(armory), "issue")
    data = {}
    if receiver is not None or settings.MUSTER_REQUIRE_HANDOVER_PIN:
        data["receiver_confirmed"] = handover.check(receiver, member, "receiver")
    _move(lot, quantity, armory_holder(armory), member_holder(member), due_at=due_at)
    return ledger.append_lot(
        kind=LedgerEvent.Kind.LOT_ISSUE,
        lot=lot,
        quantity=quantity,
        source=armory_holder(armory),
        target=member_holder(member),
        actor_id=actor.pk,
        reason=reason,
        due_at=due_at,
        data=data,
    )


def _member_in_lot_unit(lot: Lot, member: Member, actor: Account) -> Member:
    member = Member.objects.select_related("unit").get(pk=member.pk)
    if not balance_of(lot, member_holder(member)) and not scope.has_role(actor, member.unit, {Role.ARMORER}):
        raise NotPermitted(f"{member} is not in a unit {actor.username} serves as armorer.", code="member_out_of_scope")
    return member


def _return(lot, member, quantity, armory, actor, reason) -> LedgerEvent:
    _draw(lot, quantity, member_holder(member), "take back")
    _move(lot, quantity, member_holder(member), armory_holder(armory))
    return ledger.append_lot(
        kind=LedgerEvent.Kind.LOT_RETURN,
        lot=lot,
        quantity=quantity,
        source=member_holder(member),
        target=armory_holder(armory),
        actor_id=actor.pk,
        reason=reason,
    )


def _check_expenditure(lot: Lot, source: Holder, expenditure: Expenditure) -> dict:
    from muster.training.models import TrainingSession

    kind, reference = expenditure.kind, str(expenditure.reference).strip()
    if kind not in Justification.ALL:
        raise Invalid(
            f"Unknown justification {kind!r}; use one of {', '.join(sorted(Justification.ALL))}.",
            code="justification_unknown",
        )
    if not reference:
        raise Invalid(
            "An expenditure needs a reference (session, incident or disposal record).", code="reference_missing"
        )
    if kind == Justification.TRAINING_SESSION:
        session = (
            TrainingSession.objects.select_related("unit").filter(pk=int(reference)).first()
            if reference.isdigit()
            else None
        )
        if session is None:
            raise Invalid(f"There is no training session {reference}.", code="session_unknown")
        if not session.unit.path.startswith(lot.home_armory.unit.path) and not lot.home_armory.unit.path.startswith(
            session.unit.path
        ):
            raise Invalid(
                f"Training session {reference} is not one of {lot.home_armory.unit.code}'s.", code="session_unknown"
            )
        reference = str(session.pk)
    if kind == Justification.DISPOSAL and source[0] != HolderKind.ARMORY:
        raise Invalid("Only stock in an armory is disposed of; a member's quantity is expended or returned.",
                      code="disposal_from_member")  # fmt: skip
    if kind != Justification.DISPOSAL and source[0] == HolderKind.ARMORY:
        raise Invalid("Stock in an armory is expended only by disposal; issue it to the members who use it.",
                      code="expended_from_armory")  # fmt: skip
    return {"expended": {"justification": kind, "reference": reference[:100]}}


def _expend(lot, source, quantity, expenditure, actor, reason) -> LedgerEvent:
    data = _check_expenditure(lot, source, expenditure)
    _draw(lot, quantity, source, "account as expended")
    _move(lot, quantity, source, NOBODY)
    return ledger.append_lot(
        kind=LedgerEvent.Kind.LOT_EXPEND,
        lot=lot,
        quantity=quantity,
        source=source,
        target=NOBODY,
        actor_id=actor.pk,
        reason=reason,
        data=data,
    )


@retry_transient
@transaction.atomic(durable=True)
def return_quantity(
    *, lot: Lot, member: Member, quantity: int, actor: Account, armory: Armory | None = None, reason: str = ""
) -> LedgerEvent:
    """Take `quantity` of a lot back from a member into a store (the lot's home store unless given)."""
    lot = _lock(lot)
    armory = _store(armory or lot.home_armory)
    _require_armorer(actor, armory, "take lots into it")
    member = _member_in_lot_unit(lot, member, actor)
    return _return(lot, member, _quantity(quantity), armory, actor, reason)


@retry_transient
@transaction.atomic(durable=True)
def expend(
    *,
    lot: Lot,
    quantity: int,
    expenditure: Expenditure,
    actor: Account,
    member: Member | None = None,
    armory: Armory | None = None,
    reason: str = "",
) -> LedgerEvent:
    """Account `quantity` held by a member as expended (training session or incident), or dispose of armory stock."""
    lot = _lock(lot)
    if (member is None) == (armory is None):
        raise Invalid("Say whose quantity was expended: a member's or an armory's.", code="holder_missing")
    _require_armorer(actor, lot.home_armory, "account for its lots")
    source = member_holder(_member_in_lot_unit(lot, member, actor)) if member else armory_holder(_store(armory))
    return _expend(lot, source, _quantity(quantity), expenditure, actor, reason)


@dataclass(frozen=True)
class Settlement:
    returned: LedgerEvent | None
    expended: LedgerEvent | None
    loss_case: LossCase | None


@retry_transient
@transaction.atomic(durable=True)
def settle(
    *,
    lot: Lot,
    member: Member,
    returned: int,
    expended: int,
    actor: Account,
    expenditure: Expenditure | None = None,
    armory: Armory | None = None,
    place: str = "",
) -> Settlement:
    """Close out what a member holds of a lot at the counter: what comes back is returned, what was used is
    expended with its justification, and whatever remains is unaccounted for and opens a loss case at once."""
    lot = _lock(lot)
    armory = _store(armory or lot.home_armory)
    _require_armorer(actor, armory, "settle lots into it")
    member = _member_in_lot_unit(lot, member, actor)
    held = balance_of(lot, member_holder(member))
    for name, value in (("returned", returned), ("expended", expended)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise Invalid(f"The {name} quantity must be a whole number, 0 or more.", code="quantity_invalid")
    if held == 0:
        raise Refused(f"{member} holds none of {lot}.", code="nothing_held")
    if returned + expended > held:
        raise Refused(
            f"{member} holds {held} of {lot}; {returned} returned and {expended} expended is more than that.",
            code="insufficient_quantity",
        )
    if expended and expenditure is None:
        raise Invalid("Say what the expended quantity was used for.", code="justification_missing")
    return_event = _return(lot, member, returned, armory, actor, "settled") if returned else None
    expend_event = _expend(lot, member_holder(member), expended, expenditure, actor, "settled") if expended else None
    missing = held - returned - expended
    case = None
    if missing:
        case = _open_case(
            lot=lot,
            source=member_holder(member),
            quantity=missing,
            kind=LossCase.Kind.UNACCOUNTED,
            circumstances=f"{missing} of {lot} neither returned nor accounted as expended when {member} settled.",
            occurred_at=timezone.now(),
            place=place or armory.name,
            actor=actor,
            label="Settlement shortfall",
        )
    return Settlement(return_event, expend_event, case)


@retry_transient
@transaction.atomic(durable=True)
def recall(*, lot: Lot, actor: Account, reason: str) -> Lot:
    """Recall a lot (defective, unsafe): no further issues or deliveries; every member holding some is told to
    bring it back, and the armorers and commanders are told where it is."""
    lot = _lock(lot)
    _active(actor)
    if not scope.has_role(actor, lot.home_armory.unit, LOT_MANAGERS):
        raise NotPermitted(
            f"{actor.username} is not an armorer or commander of {lot.home_armory.unit.code}.", code="not_lot_manager"
        )
    if lot.is_recalled:
        raise Refused(f"{lot} was already recalled on {lot.recalled_at:%Y-%m-%d}.", code="lot_already_recalled")
    reason = reason.strip()
    if len(reason) < 5:
        raise Invalid("Say why the lot is recalled (at least 5 characters).", code="recall_reason_missing")
    lot.recalled_at, lot.recalled_by, lot.recall_reason = timezone.now(), actor, reason[:300]
    # Saved with update(): the version trigger only watches `version`, and these columns are not custody.
    Lot.objects.filter(pk=lot.pk).update(
        recalled_at=lot.recalled_at, recalled_by=actor, recall_reason=lot.recall_reason
    )
    holders = list(
        LotBalance.objects.filter(lot=lot, holder_kind=HolderKind.MEMBER, quantity__gt=0).values_list(
            "holder_member_id", flat=True
        )
    )
    accounts = list(Account.objects.filter(member_id__in=holders, is_active=True).values_list("pk", flat=True))
    url = reverse("lot-page", args=[lot.pk])
    notify(accounts, subject=f"RECALL: bring back {lot}", body=reason, url=url)
    notify(
        scope.holders_of_role_over(lot.home_armory.unit, [Role.ARMORER, Role.COMMANDER]),
        subject=f"Lot recalled: {lot}",
        body=f"{reason}\n{len(holders)} member(s) hold some of it.",
        url=url,
    )
    return lot
