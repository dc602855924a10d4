"""Scoped reads of lots for every face (web, API, CLI), as custody.queries does for items.

Staff see the lots homed in their units' armories; a plain member sees only the lots they hold some of. A lot or a
lot's loss case outside the caller's units answers 404, exactly like one that does not exist.
"""

from django.db.models import Q, QuerySet

from muster.core.errors import Invalid, NotFound
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.models import LOT_CATEGORIES, Armory, HolderKind, ItemType, LossCase
from muster.custody.queries import as_id
from muster.members import scope
from muster.members.models import Account, Member, Role


def held_by_member(member_id: int) -> QuerySet[LotBalance]:
    return LotBalance.objects.filter(holder_kind=HolderKind.MEMBER, holder_member_id=member_id, quantity__gt=0)


def visible_lots(account: Account) -> QuerySet[Lot]:
    query = scope.units_q(account, scope.STAFF_ROLES, field="home_armory__unit__path")
    if not scope.is_global(account) and account.member_id:
        query |= Q(pk__in=held_by_member(account.member_id).values("lot_id"))
    return Lot.objects.filter(query)


def is_lot_staff(account: Account, lot: Lot) -> bool:
    """Whether the account sees the whole lot (every holder) rather than only what its own member holds."""
    return scope.has_role(account, lot.home_armory.unit, scope.STAFF_ROLES)


def find_lot(account: Account, pk) -> Lot:
    lots = visible_lots(account).filter(pk=as_id(pk))
    lot = lots.select_related("item_type", "home_armory__unit", "recalled_by").first()
    if lot is None:
        raise NotFound(f"No lot {pk} in your units.", code="lot_not_found")
    return lot


def find_lot_by_number(account: Account | None, lot_number: str, *, item_type_id: int | None = None) -> Lot:
    """The one visible lot with this number (and type, where numbers repeat across types): for the CLI, where no
    account (None) means an operator on the server, who may read every lot."""
    lot_number = (lot_number or "").strip()
    if not lot_number:
        raise Invalid("Give the lot number.", code="lot_number_empty")
    lots = (
        (visible_lots(account) if account else Lot.objects.all())
        .filter(lot_number=lot_number)
        .select_related("item_type", "home_armory__unit")
    )
    if item_type_id is not None:
        lots = lots.filter(item_type_id=item_type_id)
    found = list(lots[:2])
    if not found:
        raise NotFound(f"No lot numbered {lot_number!r} in your units.", code="lot_not_found")
    if len(found) > 1:
        raise Invalid(f"Lot number {lot_number!r} exists for more than one item type; say which type.",
                      code="lot_number_ambiguous")  # fmt: skip
    return found[0]


def lot_types() -> QuerySet[ItemType]:
    """The item types counted by lot (ammunition, consumables): the only ones a delivery may name."""
    return ItemType.objects.filter(category__in=sorted(LOT_CATEGORIES))


def armorer_stores(account: Account) -> QuerySet[Armory]:
    """The stores an account may take lots into or hand them out of: those of the units where it is an armorer."""
    return Armory.objects.filter(kind=Armory.Kind.STORE).filter(
        scope.units_q(account, {Role.ARMORER}, field="unit__path")
    )


def stocking_armories(lot: Lot) -> QuerySet[Armory]:
    """The armories that hold some of the lot now (what a disposal or a loss from stock may name)."""
    held = LotBalance.objects.filter(lot=lot, holder_kind=HolderKind.ARMORY, quantity__gt=0)
    return Armory.objects.filter(pk__in=held.values("holder_armory_id"))


def find_lot_type(value) -> ItemType:
    """A by-lot item type by id or exact name."""
    text = str(value or "").strip()
    types = lot_types()
    found = types.filter(pk=int(text)).first() if text.isdigit() else types.filter(name=text).first()
    if found is None:
        raise NotFound(f"No ammunition or consumable item type {text!r}.", code="item_type_not_found")
    return found


def find_item_type(pk) -> ItemType:
    """Any item type by id: whether it is counted by lot is the service's to say (not_by_lot)."""
    item_type = ItemType.objects.filter(pk=as_id(pk)).first()
    if item_type is None:
        raise NotFound(f"No item type {pk}.", code="item_type_not_found")
    return item_type


def find_holder(account: Account, lot: Lot, member_no: str) -> Member:
    """The member a lot movement is about: one the account may see, or one who holds some of this lot (who may have
    moved to a unit outside the account's since the issue; the service decides whether the account may act)."""
    member_no = (member_no or "").strip()
    if not member_no:
        raise Invalid("Give the member number.", code="member_no_missing")
    holding = LotBalance.objects.filter(lot=lot, holder_kind=HolderKind.MEMBER, quantity__gt=0)
    query = Q(pk__in=scope.visible_members(account).values("pk"))
    if is_lot_staff(account, lot):
        query |= Q(pk__in=holding.values("holder_member_id"))
    member = Member.objects.filter(query, member_no=member_no).select_related("unit").first()
    if member is None:
        raise NotFound(f"No member with number {member_no!r} in your units.", code="member_not_found")
    return member


def visible_lot_cases(account: Account) -> QuerySet[LossCase]:
    """Staff see the loss cases of lots homed in their units."""
    return LossCase.objects.filter(lot__isnull=False).filter(
        scope.units_q(account, scope.STAFF_ROLES, field="lot__home_armory__unit__path")
    )


def find_lot_case(account: Account, pk) -> LossCase:
    case = (
        visible_lot_cases(account)
        .filter(pk=as_id(pk))
        .select_related("lot__item_type", "lot__home_armory__unit", "last_member", "last_armory", "opened_by")
        .first()
    )
    if case is None:
        raise NotFound(f"No loss case {pk} of a lot in your units.", code="loss_case_not_found")
    return case
