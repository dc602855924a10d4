"""Item counts per home armory and holder, read from the trigger-kept tally (custody.tally_models), and the daily
nets of items out that the dashboard's chart sums."""

from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, QuerySet, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from muster.custody import triggers
from muster.custody.models import HolderKind, Item, LedgerEvent
from muster.custody.tally_models import ArmoryDayNet, ArmoryTally, DayNetCounted


def rebuild() -> None:
    """Recount the tally from the items table: after a bulk load that ran with the triggers off."""
    triggers.rebuild_tally(connection)


def counted() -> dict[tuple[int, str, int], int]:
    """(home armory, holder kind, holder armory or 0) → items, counted from the items table."""
    rows = (
        Item.objects.values_list("home_armory_id", "holder_kind", "holder_armory_id").annotate(n=Count("pk")).order_by()
    )
    return {(home, kind, holder or 0): n for home, kind, holder, n in rows}


def drift() -> str:
    """Where the tally disagrees with the items table, as one sentence; "" when it agrees."""
    kept = {
        (home, kind, holder): n
        for home, kind, holder, n in ArmoryTally.objects.filter(items__gt=0).values_list(
            "home_armory_id", "holder_kind", "holder_armory_id", "items"
        )
    }
    actual = counted()
    for key in sorted(set(kept) | set(actual)):
        if kept.get(key, 0) != actual.get(key, 0):
            home, kind, holder = key
            who = f"armory {holder}" if kind == HolderKind.ARMORY else "members"
            return (
                f"the armory tally says {kept.get(key, 0)} items of armory {home} are held by {who}, "
                f"the items table {actual.get(key, 0)}"
            )
    return ""


# --- the chart's daily nets -------------------------------------------------------------------------------------------

# A day counts as over (and is kept) this long after its midnight: a transaction that stamped an event just before
# midnight has committed by then.
SETTLE = timedelta(minutes=5)


def _members_gain() -> Case:
    """+1 for an event that moves an item from an armory to a member, −1 for one from a member to an armory; a
    transfer (member → member), a loss (the holder stays) or maintenance (armory → armory) changes nothing."""
    return Case(
        When(from_kind=HolderKind.ARMORY, to_kind=HolderKind.MEMBER, then=Value(1)),
        When(from_kind=HolderKind.MEMBER, to_kind=HolderKind.ARMORY, then=Value(-1)),
        default=Value(0),
        output_field=IntegerField(),
    )


def _moves(start: datetime, end: datetime):
    """Item events between start and end that move an item between an armory and a member."""
    return (
        LedgerEvent.objects.filter(recorded_at__gte=start, recorded_at__lt=end, item__isnull=False)
        .exclude(from_kind=None)
        .exclude(from_kind=F("to_kind"))
    )


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def count_days(first: date, last: date) -> None:
    """Count and keep the nets of every armory for the days first..last (past days only), in one grouped query."""
    zone = timezone.get_current_timezone_name()
    rows = (
        _moves(_midnight(first), _midnight(last + timedelta(days=1)))
        .annotate(day=TruncDate("recorded_at", tzinfo=timezone.get_current_timezone()))
        .values("item__home_armory_id", "day")
        .annotate(net=Sum(_members_gain()))
        .order_by()
    )
    nets = [ArmoryDayNet(home_armory_id=row["item__home_armory_id"], day=row["day"], net=row["net"])
            for row in rows if row["net"]]  # fmt: skip
    days = [DayNetCounted(day=first + timedelta(days=n), zone=zone) for n in range((last - first).days + 1)]
    with transaction.atomic():  # another request may count the same days at the same time: first one wins
        ArmoryDayNet.objects.bulk_create(nets, ignore_conflicts=True, batch_size=2000)
        DayNetCounted.objects.bulk_create(days, ignore_conflicts=True)


def day_nets(armories: QuerySet, first: date, now: datetime) -> dict[date, int]:
    """{day: net} for these home armories from `first` to today: past days from the kept counts (counted on first
    use, or by the worker each night), today from the ledger's events since midnight (an index range)."""
    today = timezone.localdate(now)
    last_over = today - timedelta(days=1) if now >= _midnight(today) + SETTLE else today - timedelta(days=2)
    zone = timezone.get_current_timezone_name()
    if first <= last_over:
        counted = set(
            DayNetCounted.objects.filter(zone=zone, day__range=(first, last_over)).values_list("day", flat=True)
        )
        missing = [first + timedelta(days=n) for n in range((last_over - first).days + 1)]
        missing = [day for day in missing if day not in counted]
        if missing:
            count_days(missing[0], missing[-1])
    nets = dict(
        ArmoryDayNet.objects.filter(home_armory__in=armories, day__range=(first, last_over))
        .values("day")
        .annotate(total=Sum("net"))
        .order_by()
        .values_list("day", "total")
    )
    live = (
        _moves(_midnight(last_over + timedelta(days=1)), now + timedelta(seconds=1))
        .filter(item__home_armory__in=armories)
        .annotate(day=TruncDate("recorded_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(net=Sum(_members_gain()))
        .order_by()
        .values_list("day", "net")
    )
    for day, net in live:
        nets[day] = nets.get(day, 0) + net
    return nets
