"""Scoped reads for every face: what an account may see, and lookups by the numbers people type or scan.

An object outside the account's units is reported as not found, exactly like one that does not exist.
"""

from django.db.models import Q, QuerySet

from muster.core.errors import Invalid, NotFound
from muster.custody.models import Armory, Item, LedgerEvent
from muster.members import scope
from muster.members.models import Account, Member


def visible_armories(account: Account) -> QuerySet[Armory]:
    return Armory.objects.filter(scope.units_q(account, scope.STAFF_ROLES, field="unit__path"))


def visible_items(account: Account) -> QuerySet[Item]:
    """Staff see items whose home armory is in their units; a member sees what they hold."""
    query = scope.units_q(account, scope.STAFF_ROLES, field="home_armory__unit__path")
    if not scope.is_global(account) and account.member_id:
        query |= Q(holder_member_id=account.member_id)
    return Item.objects.filter(query)


def visible_events(account: Account) -> QuerySet[LedgerEvent]:
    """Staff see the events of items homed in their units; a member sees the events they were party to."""
    query = scope.units_q(account, scope.STAFF_ROLES, field="item__home_armory__unit__path")
    if not scope.is_global(account) and account.member_id:
        query |= Q(from_member_id=account.member_id) | Q(to_member_id=account.member_id)
    return LedgerEvent.objects.filter(query)


def find_item(account: Account, serial_number: str, *, item_type_id: int | None = None) -> Item:
    """The one visible item with this serial number (and type, where serials repeat across types)."""
    serial_number = (serial_number or "").strip()
    if not serial_number:
        raise Invalid("Give the item's serial number.", code="serial_missing")
    items = visible_items(account).filter(serial_number=serial_number).select_related("item_type")
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
