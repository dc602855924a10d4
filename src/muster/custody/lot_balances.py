"""The balances of lots and the steps every lot service shares (custody.lots, custody.lot_losses).

Check the acting account and the quantity, lock the lot, check that a holder has enough, and move a quantity from
one holder to another. The caller holds the lot's lock and writes the `lot_*` ledger event beside the move.
"""

from datetime import datetime

from django.db.models import F

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.custody.ledger import NOBODY, Holder
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.models import Armory, HolderKind, ItemType
from muster.members import scope
from muster.members.models import Account, Member, Role

MAX_QUANTITY = 10_000_000


def _active(actor: Account) -> None:
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")


def _require_armorer(actor: Account, armory: Armory, action: str) -> None:
    _active(actor)
    if not scope.has_role(actor, armory.unit, {Role.ARMORER}):
        raise NotPermitted(
            f"{actor.username} is not an armorer of {armory.unit.code}, which owns {armory.code}; cannot {action}.",
            code="not_armorer",
        )


def _quantity(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"The quantity must be a whole number, not {value!r}.", code="quantity_invalid")
    if value <= 0:
        raise Invalid("The quantity must be at least 1.", code="quantity_not_positive")
    if value > MAX_QUANTITY:
        raise Invalid(f"The quantity may be at most {MAX_QUANTITY:,}.", code="quantity_too_large")
    return value


def _lock(lot: Lot) -> Lot:
    locked = Lot.objects.select_for_update().get(pk=lot.pk)
    locked.item_type = ItemType.objects.get(pk=locked.item_type_id)
    locked.home_armory = Armory.objects.select_related("unit").get(pk=locked.home_armory_id)
    return locked


def _store(armory: Armory) -> Armory:
    armory = Armory.objects.select_related("unit").get(pk=armory.pk)
    if armory.kind == Armory.Kind.WORKSHOP:
        raise Invalid(f"{armory} is a workshop; lots are kept in stores.", code="not_a_store")
    return armory


def armory_holder(armory: Armory) -> Holder:
    return (HolderKind.ARMORY, armory.pk, None)


def member_holder(member: Member) -> Holder:
    return (HolderKind.MEMBER, None, member.pk)


def balance_of(lot: Lot, holder: Holder) -> int:
    kind, armory_id, member_id = holder
    return (
        LotBalance.objects.filter(lot=lot, holder_kind=kind, holder_armory_id=armory_id, holder_member_id=member_id)
        .values_list("quantity", flat=True)
        .first()
        or 0
    )


def _move(lot: Lot, quantity: int, source: Holder, target: Holder, due_at: datetime | None = None) -> None:
    """Move balances; the caller holds the lot lock and checked that `source` holds enough."""
    if source != NOBODY:
        kind, armory_id, member_id = source
        LotBalance.objects.filter(
            lot=lot, holder_kind=kind, holder_armory_id=armory_id, holder_member_id=member_id
        ).update(quantity=F("quantity") - quantity)
    if target != NOBODY:
        kind, armory_id, member_id = target
        balance, _ = LotBalance.objects.get_or_create(
            lot=lot, holder_kind=kind, holder_armory_id=armory_id, holder_member_id=member_id
        )
        balance.quantity = F("quantity") + quantity
        fields = ["quantity"]
        if kind == HolderKind.MEMBER:
            balance.due_at = max(filter(None, [balance.due_at, due_at]), default=None)
            fields.append("due_at")
        balance.save(update_fields=fields)
    if source != NOBODY and source[0] == HolderKind.MEMBER:
        # A member who holds none of the lot any more owes nothing back.
        LotBalance.objects.filter(lot=lot, holder_member_id=source[2], quantity=0).update(due_at=None)


def _draw(lot: Lot, quantity: int, source: Holder, what: str) -> None:
    held = balance_of(lot, source)
    if quantity > held:
        raise Refused(f"Cannot {what} {quantity} of {lot}: only {held} held there.", code="insufficient_quantity")
