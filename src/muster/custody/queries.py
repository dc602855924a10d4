"""Scoped reads for every face: what an account may see, and lookups by the numbers people type or scan.

An object outside the account's units is reported as not found, exactly like one that does not exist.
"""

from django.db.models import Q, QuerySet

from muster.core.errors import Invalid, NotFound
from muster.custody.models import Armory, Count, Item, LedgerEvent, LossCase, Recall
from muster.members import scope
from muster.members.models import Account, Member, Role


def visible_armories(account: Account) -> QuerySet[Armory]:
    return Armory.objects.filter(scope.units_q(account, scope.STAFF_ROLES, field="unit__path"))


def visible_items(account: Account) -> QuerySet[Item]:
    """Staff see items whose home armory is in their units; a member sees what they hold."""
    query = scope.units_q(account, scope.STAFF_ROLES, field="home_armory__unit__path")
    if not scope.is_global(account) and account.member_id:
        query |= Q(holder_member_id=account.member_id)
    return Item.objects.filter(query)


def visible_events(account: Account) -> QuerySet[LedgerEvent]:
    """Staff see the events of items and lots homed in their units; a member sees the events they were party to."""
    query = scope.units_q(account, scope.STAFF_ROLES, field="item__home_armory__unit__path") | scope.units_q(
        account, scope.STAFF_ROLES, field="lot__home_armory__unit__path"
    )
    if not scope.is_global(account) and account.member_id:
        query |= Q(from_member_id=account.member_id) | Q(to_member_id=account.member_id)
    return LedgerEvent.objects.filter(query)


def find_item(account: Account, serial_number: str, *, item_type_id: int | None = None) -> Item:
    """The one visible item with this serial number (and type, where serials repeat across types)."""
    serial_number = (serial_number or "").strip()
    if not serial_number:
        raise Invalid("Give the item's serial number.", code="serial_missing")
    items = visible_items(account).filter(serial_number=serial_number).select_related("item_type", "holder_armory")
    if item_type_id is not None:
        items = items.filter(item_type_id=item_type_id)
    found = list(items[:2])
    if not found:
        raise NotFound(f"No item with serial number {serial_number!r} in your units.", code="item_not_found")
    if len(found) > 1:
        raise Invalid(
            f"Serial number {serial_number!r} belongs to more than one item type; say which type.",
            code="serial_ambiguous",
        )
    return found[0]


def find_member(account: Account, member_no: str) -> Member:
    member_no = (member_no or "").strip()
    if not member_no:
        raise Invalid("Give the member number.", code="member_no_missing")
    member = scope.visible_members(account).filter(member_no=member_no).select_related("unit").first()
    if member is None:
        raise NotFound(f"No member with number {member_no!r} in your units.", code="member_not_found")
    return member


def find_armory(account: Account, code: str) -> Armory:
    armory = visible_armories(account).filter(code=(code or "").strip()).select_related("unit").first()
    if armory is None:
        raise NotFound(f"No armory with code {code!r} in your units.", code="armory_not_found")
    return armory


def find_recipient(account: Account, item: Item, member_no: str) -> Member:
    """The member an item is handed to: one the account may see, or — when the account's own member holds the
    item — any member of the item's home unit (the relief at a post, whom a plain member cannot look up)."""
    member_no = (member_no or "").strip()
    query = Q(pk__in=scope.visible_members(account).values("pk"))
    if account.member_id and account.member_id == item.holder_member_id:
        home_path = Armory.objects.filter(pk=item.home_armory_id).values_list("unit__path", flat=True).get()
        query |= Q(unit__path__startswith=home_path)
    member = Member.objects.filter(query, member_no=member_no).select_related("unit").first()
    if member is None:
        raise NotFound(f"No member with number {member_no!r} in your units.", code="member_not_found")
    return member


def visible_recalls(account: Account) -> QuerySet[Recall]:
    """Staff see recalls of items homed in their units; a member sees the recalls addressed to them."""
    query = scope.units_q(account, scope.STAFF_ROLES, field="item__home_armory__unit__path")
    if not scope.is_global(account) and account.member_id:
        query |= Q(member_id=account.member_id)
    return Recall.objects.filter(query)


OVERRIDE_READERS = frozenset({Role.COMMANDER, Role.AUDITOR})


def visible_override_events(account: Account) -> QuerySet[LedgerEvent]:
    """Issues made on a commander's countersign, in the units where the account commands or audits."""
    in_units = scope.units_q(account, OVERRIDE_READERS, field="item__home_armory__unit__path")
    return visible_events(account).filter(in_units, data__has_key="override")


def visible_loss_cases(account: Account) -> QuerySet[LossCase]:
    """Staff see the loss cases of items and lots homed in their units."""
    return LossCase.objects.filter(
        scope.units_q(account, scope.STAFF_ROLES, field="item__home_armory__unit__path")
        | scope.units_q(account, scope.STAFF_ROLES, field="lot__home_armory__unit__path")
    )


def visible_counts(account: Account) -> QuerySet[Count]:
    """Staff see the counts of their units' armories."""
    return Count.objects.filter(scope.units_q(account, scope.STAFF_ROLES, field="armory__unit__path"))


def as_id(value) -> int | None:
    """A URL or command-line id as an int, or None (which then finds nothing: 404, not 500)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def find_loss_case(account: Account, pk) -> LossCase:
    case = (
        visible_loss_cases(account)
        .filter(pk=as_id(pk))
        .select_related("item__home_armory__unit", "lot__home_armory__unit", "lot__item_type")
        .first()
    )
    if case is None:
        raise NotFound(f"No loss case {pk} in your units.", code="loss_case_not_found")
    return case


def find_count(account: Account, pk) -> Count:
    count = visible_counts(account).filter(pk=as_id(pk)).select_related("armory__unit").first()
    if count is None:
        raise NotFound(f"No count {pk} in your units.", code="count_not_found")
    return count
