"""The dashboard's numbers for a unit (with everything below it) or for one armory.

Every read-out here takes a fixed number of queries whatever the amount of data: the item states are one grouped
aggregate, each list is one limited query plus one count, the chart is one grouped query over the ledger. The web
page and the API (api_dashboard) show the same `Dashboard`.

Items belong to the unit of their home armory; an item sent to another unit's workshop, or issued to a member of
another unit, still counts where it is homed.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from muster.core.errors import NotFound
from muster.custody import counts, tallies
from muster.custody.count_models import Count as ArmoryCount
from muster.custody.lot_models import LotBalance
from muster.custody.models import Armory, ArmoryTally, HolderKind, Item, LossCase, Recall
from muster.members import scope
from muster.members.models import Account, Unit

LIST_LIMIT = 20
CHART_DAYS = (30, 90)
OPEN_COUNT = [ArmoryCount.Status.DUE, ArmoryCount.Status.IN_PROGRESS, ArmoryCount.Status.SUBMITTED]
STATE_NAMES = ("in_armory", "issued", "in_maintenance", "overdue", "lost")


@dataclass
class States:
    """Items by state. The five states exclude each other and add up to `total`: an item with an open loss case is
    `lost` whoever holds it; otherwise a workshop holds it (`in_maintenance`), a store (`in_armory`), or a member —
    `overdue` once its due-back time has passed, else `issued`. `held_by_members` (lost or not) is the chart's
    "items out" now."""

    total: int = 0
    in_armory: int = 0
    issued: int = 0
    in_maintenance: int = 0
    overdue: int = 0
    lost: int = 0
    held_by_members: int = 0

    def add(self, other: "States") -> None:
        for name in ("total", "held_by_members", *STATE_NAMES):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def rows(self) -> list[tuple[str, str, int]]:
        """(key, label, number) per state, in the order the pages show them."""
        labels = {"in_armory": "in armory", "issued": "issued", "in_maintenance": "in maintenance",
                  "overdue": "overdue", "lost": "lost"}  # fmt: skip
        return [(name, labels[name], getattr(self, name)) for name in STATE_NAMES]


@dataclass
class DayPoint:
    day: date
    out: int


@dataclass
class Dashboard:
    now: datetime
    days: int
    states: States
    overdue: list[Item]
    overdue_total: int
    recalls: list[Recall]
    recalls_total: int
    loss_cases: list[LossCase]
    loss_cases_total: int
    series: list[DayPoint]
    by_armory: dict[int, States] = field(default_factory=dict)
    armories: list[Armory] = field(default_factory=list)
    unit: Unit | None = None
    # Members' quantities of lots homed here, past their due-back time (lots are counted by quantity, not in states).
    overdue_lots: list[LotBalance] = field(default_factory=list)
    overdue_lots_total: int = 0


def find_unit(account: Account, code: str) -> Unit:
    """A unit the account holds a staff role on, or on a unit above it; any other is not found."""
    unit = scope.units(account, scope.STAFF_ROLES).filter(code=(code or "").strip()).first()
    if unit is None:
        raise NotFound(f"No unit {code!r} in your units.", code="unit_not_found")
    return unit


def chart_days(value) -> int:
    """The chart's span from a query parameter: 90 on request, else 30."""
    return 90 if str(value) == "90" else CHART_DAYS[0]


def open_loss_case() -> Exists:
    return Exists(LossCase.objects.filter(item=OuterRef("pk"), closed_at=None))


def state_counts(armories: QuerySet[Armory], now: datetime) -> dict[int, States]:
    """States per home armory in three small queries, however many items there are: who holds how many from the
    trigger-kept tally (custody.tally_models), the open loss cases, and the overdue items (an index range)."""
    homes = armories.values("pk")
    workshops = Armory.objects.filter(kind=Armory.Kind.WORKSHOP)
    in_workshop = Exists(workshops.filter(pk=OuterRef("holder_armory_id")))
    by_armory: dict[int, States] = {}

    def states(armory_id: int) -> States:
        return by_armory.setdefault(armory_id, States())

    held = ArmoryTally.objects.filter(home_armory__in=homes, items__gt=0).annotate(workshop=in_workshop)
    for armory_id, kind, workshop, n in held.values_list("home_armory_id", "holder_kind", "workshop", "items"):
        row = states(armory_id)
        row.total += n
        if kind == HolderKind.MEMBER:
            row.held_by_members += n
            row.issued += n  # less the lost and the overdue below
        elif workshop:
            row.in_maintenance += n
        else:
            row.in_armory += n
    lost = (
        LossCase.objects.filter(closed_at=None, item__home_armory__in=homes)
        .annotate(
            workshop=Exists(Armory.objects.filter(pk=OuterRef("item__holder_armory_id"), kind=Armory.Kind.WORKSHOP))
        )
        .values_list("item__home_armory_id", "item__holder_kind", "workshop")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for armory_id, kind, workshop, n in lost:
        row = states(armory_id)
        row.lost += n
        if kind == HolderKind.MEMBER:
            row.issued -= n
        elif workshop:
            row.in_maintenance -= n
        else:
            row.in_armory -= n
    late = (
        Item.objects.filter(home_armory__in=homes, holder_kind=HolderKind.MEMBER, due_at__lt=now)
        .exclude(open_loss_case())
        .values_list("home_armory_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for armory_id, n in late:
        row = states(armory_id)
        row.overdue += n
        row.issued -= n
    return by_armory


def overdue_items(items: QuerySet[Item], now: datetime) -> QuerySet[Item]:
    """Issued items past their due-back time and not reported lost (those are in the loss cases), oldest first."""
    return (
        items.filter(holder_kind=HolderKind.MEMBER, due_at__lt=now)
        .exclude(open_loss_case())
        .select_related("item_type", "home_armory", "holder_member")
        .order_by("due_at", "pk")
    )


def overdue_lot_balances(armories: QuerySet[Armory], now: datetime) -> QuerySet[LotBalance]:
    """Members' quantities of lots homed in these armories, past their due-back time, oldest first."""
    return (
        LotBalance.objects.filter(
            holder_kind=HolderKind.MEMBER, quantity__gt=0, due_at__lt=now, lot__home_armory__in=armories.values("pk")
        )
        .select_related("lot__item_type", "lot__home_armory", "holder_member")
        .order_by("due_at", "pk")
    )


def open_recalls(items: QuerySet[Item]) -> QuerySet[Recall]:
    return (
        Recall.objects.filter(resolved_at=None, item__in=items.values("pk"))
        .select_related("item__item_type", "item__home_armory__unit", "member__unit")
        .order_by("raised_at", "pk")
    )


def open_loss_cases(armories: QuerySet[Armory]) -> QuerySet[LossCase]:
    """Open and escalated cases of items and of lot quantities homed in these armories, nearest deadline first (a
    passed deadline comes first of all)."""
    homes = armories.values("pk")
    return (
        LossCase.objects.filter(closed_at=None)
        .filter(Q(item__home_armory__in=homes) | Q(lot__home_armory__in=homes))
        .select_related(
            "item__item_type", "item__home_armory", "lot__item_type", "lot__home_armory", "last_member", "last_armory"
        )
        .order_by("deadline", "pk")
    )


def items_out_series(armories: QuerySet[Armory], *, days: int, now: datetime, out_now: int) -> list[DayPoint]:
    """How many items of these armories members held at the end of each of the last `days` days (today: now).

    Only events that move an item between an armory and a member change that number (tallies.day_nets sums them
    per day: +1 armory → member, −1 member → armory). Starting from the number held now, each earlier day's figure
    is the next day's minus that next day's net change.
    """
    today = timezone.localdate(now)
    net = tallies.day_nets(armories, today - timedelta(days=days - 1), now)
    points = []
    out = out_now
    for offset in range(days):
        day = today - timedelta(days=offset)
        points.append(DayPoint(day=day, out=out))
        out -= net.get(day, 0)
    points.reverse()
    return points


def with_counts(armories: QuerySet[Armory], now: datetime) -> list[Armory]:
    """Armories with their last signed count, the open count (id, status) and when the next is due, in one query."""
    signed = ArmoryCount.objects.filter(armory=OuterRef("pk"), status=ArmoryCount.Status.CLOSED).order_by("-signed_at")
    open_count = ArmoryCount.objects.filter(armory=OuterRef("pk"), status__in=OPEN_COUNT)
    rows = list(
        armories.select_related("unit").annotate(
            last_count_at=Subquery(signed.values("signed_at")[:1]),
            last_count_id=Subquery(signed.values("pk")[:1]),
            open_count_id=Subquery(open_count.values("pk")[:1]),
            open_count_status=Subquery(open_count.values("status")[:1]),
        )
    )
    rules = counts.policies(rows)  # the armory's own, else its unit's (two queries whatever the number)
    for armory in rows:
        armory.count_frequency = rules[armory.pk].frequency
        armory.next_count_due = (
            armory.last_count_at + counts.PERIOD[armory.count_frequency] if armory.last_count_at else None
        )
        armory.open_count_label = ArmoryCount.Status(armory.open_count_status).label if armory.open_count_id else ""
        armory.count_due = armory.open_count_status == ArmoryCount.Status.DUE or (
            armory.open_count_id is None and (armory.next_count_due is None or armory.next_count_due <= now)
        )
    return rows


def build(armories: QuerySet[Armory], *, days: int, now: datetime | None = None) -> Dashboard:
    """The panels for what is homed in these armories: states, the overdue list (items, and members' lot quantities),
    open recalls, open loss cases, the chart."""
    now = now or timezone.now()
    items = Item.objects.filter(home_armory__in=armories.values("pk"))
    by_armory = state_counts(armories, now)
    states = States()
    for armory_states in by_armory.values():
        states.add(armory_states)
    recalls, cases = open_recalls(items), open_loss_cases(armories)
    late_lots = overdue_lot_balances(armories, now)
    return Dashboard(
        now=now,
        days=days,
        states=states,
        overdue=list(overdue_items(items, now)[:LIST_LIMIT]),
        overdue_total=states.overdue,
        recalls=list(recalls[:LIST_LIMIT]),
        recalls_total=recalls.count(),
        loss_cases=list(cases[:LIST_LIMIT]),
        loss_cases_total=cases.count(),
        series=items_out_series(armories, days=days, now=now, out_now=states.held_by_members),
        by_armory=by_armory,
        overdue_lots=list(late_lots[:LIST_LIMIT]),
        overdue_lots_total=late_lots.count(),
    )


def unit_dashboard(unit: Unit, *, days: int = 30, now: datetime | None = None) -> Dashboard:
    """A unit's dashboard: build() over the items homed in its subtree, and each armory of the subtree with its
    states and counts."""
    armories = Armory.objects.filter(unit__path__startswith=unit.path)
    board = build(armories, days=days, now=now)
    board.unit = unit
    board.armories = with_counts(armories.order_by("code"), board.now)
    for armory in board.armories:
        armory.states = board.by_armory.get(armory.pk, States())
    return board


def armory_dashboard(armory: Armory, *, days: int = 30, now: datetime | None = None) -> Dashboard:
    return build(Armory.objects.filter(pk=armory.pk), days=days, now=now)


def seconds_to_deadline(case: LossCase, now: datetime) -> int | None:
    """Seconds until the case's reporting deadline (negative: overdue by that much); None once reported or closed."""
    if case.closed_at or case.authorities_notified_at:
        return None
    return int((case.deadline - now).total_seconds())
