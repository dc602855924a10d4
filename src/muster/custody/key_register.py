"""The key and seal register: arms-room keys and seals are controlled items with their own register.

A register entry is an item of the key or seal category, or any other item that opens an armory
(Item.opens_armory). Handing one that opens an armory to a new holder (an issue or a transfer) makes a count of
that armory due (counts.on_handover); the register shows which count that was.

Reads only, in a fixed number of queries: the entries with their annotations, then the recent handovers of one page.
"""

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber

from muster.custody.count_models import Count
from muster.custody.models import Item, ItemType, LedgerEvent
from muster.members import scope
from muster.members.models import Account, Unit

# What counts.on_handover reacts to: the key reaches a new holder.
HANDOVER_KINDS = [LedgerEvent.Kind.ISSUE, LedgerEvent.Kind.TRANSFER]
# What the register lists as a key's handovers: to a holder and back.
HISTORY_KINDS = [*HANDOVER_KINDS, LedgerEvent.Kind.RETURN]
RECENT_HANDOVERS = 3


def is_key() -> Q:
    return Q(item_type__category__in=[ItemType.Category.KEY, ItemType.Category.SEAL]) | Q(opens_armory__isnull=False)


def handover_reason(item: Item) -> str:
    """The reason counts.on_handover gives the count it makes due (keep the two in step)."""
    return f"key {item.serial_number} changed hands"


def staff_items(account: Account, unit: Unit | None = None) -> QuerySet[Item]:
    """Items homed in the units where the account holds a staff role, narrowed to `unit`'s subtree if given."""
    items = Item.objects.filter(scope.units_q(account, scope.STAFF_ROLES, field="home_armory__unit__path"))
    return items.filter(home_armory__unit__path__startswith=unit.path) if unit is not None else items


def register(items: QuerySet[Item]) -> QuerySet[Item]:
    """The keys and seals among `items`, each annotated with

    - holder_since: the time of its last ledger event that moved it (any but a loss report, which moves nothing);
    - last_handover_at: its last issue or transfer;
    - previous_handover_at: the issue or transfer before that;
    - count_id, count_status, count_reason, count_since: the count of the armory it opens that covers that
      handover — the one the handover made due, or the one already open then (a new count is made due only when
      none is open). That is the latest count of that armory due (or, started on demand, begun) by the handover
      and not signed before it.
    """
    moved = LedgerEvent.objects.filter(item=OuterRef("pk")).exclude(kind=LedgerEvent.Kind.LOSS).order_by("-seq")
    handed = LedgerEvent.objects.filter(item=OuterRef("pk"), kind__in=HANDOVER_KINDS).order_by("-seq")
    keys = items.filter(is_key()).annotate(
        holder_since=Subquery(moved.values("recorded_at")[:1]),
        last_handover_at=Subquery(handed.values("recorded_at")[:1]),
        previous_handover_at=Subquery(handed.values("recorded_at")[1:2]),
    )
    covering = (
        Count.objects.filter(armory=OuterRef("opens_armory"))
        .annotate(since=Coalesce("due_at", "started_at"))
        .filter(since__lte=OuterRef("last_handover_at"))
        .filter(Q(signed_at__isnull=True) | Q(signed_at__gte=OuterRef("last_handover_at")))
        .order_by("-since", "-pk")
    )
    return keys.annotate(
        count_id=Subquery(covering.values("pk")[:1]),
        count_status=Subquery(covering.values("status")[:1]),
        count_reason=Subquery(covering.values("reason")[:1]),
        count_since=Subquery(covering.values("since")[:1]),
    ).select_related("item_type", "home_armory", "opens_armory", "holder_member", "holder_armory")


def ordered(keys: QuerySet[Item]) -> QuerySet[Item]:
    return keys.order_by(F("opens_armory__code").asc(nulls_last=True), "item_type__name", "serial_number")


def describe(keys: list[Item]) -> list[Item]:
    """Attach each key's recent handovers (newest first, one query for all) and its count's display."""
    recent = (
        LedgerEvent.objects.filter(item_id__in=[key.pk for key in keys], kind__in=HISTORY_KINDS)
        .annotate(rank=Window(RowNumber(), partition_by=[F("item_id")], order_by=F("seq").desc()))
        .filter(rank__lte=RECENT_HANDOVERS)
        .select_related("from_member", "to_member", "from_armory", "to_armory", "actor")
        .order_by("item_id", "-seq")
    )
    by_item: dict[int, list[LedgerEvent]] = {}
    for event in recent:
        by_item.setdefault(event.item_id, []).append(event)
    for key in keys:
        key.recent_handovers = by_item.get(key.pk, [])
        key.count_status_label = Count.Status(key.count_status).label if key.count_status else ""
        key.count_triggered = made_due_by_last_handover(key)
    return keys


def made_due_by_last_handover(key: Item) -> bool:
    """Whether the covering count was made due by the key's last handover rather than already open then: made due
    for this key's handover (its reason), and after the handover before it."""
    if not key.count_id or key.count_reason != handover_reason(key):
        return False
    return key.previous_handover_at is None or key.count_since > key.previous_handover_at
