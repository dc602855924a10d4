"""Counts: scan an armory's shelves against the ledger, sign by a second person, resolve every discrepancy.

Rules per armory (CountPolicy), else those in force for its unit (custody.policy: the unit's own or inherited,
else the defaults): the counter is not whoever did the previous count, and a second person signs. Counts come due
on a schedule (reminders) and whenever an armory's key changes hands.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.notify import notify
from muster.custody import losses
from muster.custody import policy as unit_policy
from muster.custody.count_models import Count, CountPolicy, CountScan, Discrepancy
from muster.custody.models import Armory, HolderKind, Item, LossCase
from muster.members import scope
from muster.members.models import Account, Role

COUNTERS = frozenset({Role.ARMORER, Role.DUTY_OFFICER})
SIGNERS = frozenset({Role.ARMORER, Role.COMMANDER, Role.DUTY_OFFICER})
PERIOD = {
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=30),
    "quarterly": timedelta(days=91),
}


def _from_unit(armory: Armory, rules: unit_policy.EffectivePolicy) -> CountPolicy:
    """The unit's count rules in the shape of an armory's own (unsaved: nothing is written)."""
    return CountPolicy(
        armory=armory,
        frequency=rules.count_frequency,
        counter_rotates=rules.counter_rotates,
        second_signature=rules.second_signature,
    )


def policy(armory: Armory) -> CountPolicy:
    """The armory's own count rules where it has them, else those in force for its unit."""
    own = CountPolicy.objects.filter(armory=armory).first()
    return own or _from_unit(armory, unit_policy.effective(armory.unit))


def policies(armories: list[Armory]) -> dict[int, CountPolicy]:
    """armory id → its count rules, for many armories with two queries (the schedule)."""
    own = {row.armory_id: row for row in CountPolicy.objects.filter(armory__in=armories)}
    rules = unit_policy.effective_many({armory.unit_id: armory.unit for armory in armories}.values())
    return {armory.pk: own.get(armory.pk) or _from_unit(armory, rules[armory.unit_id]) for armory in armories}


def _require(actor: Account, armory: Armory, roles: frozenset, action: str) -> None:
    if not actor.is_active or not scope.has_role(actor, armory.unit, roles):
        raise NotPermitted(f"{actor.username} may not {action} at {armory.code}.", code="not_counter")


@retry_transient
@transaction.atomic
def start(*, armory: Armory, actor: Account, reason: str = "on demand") -> Count:
    """Begin counting: fix what the ledger says should be on the shelves now."""
    armory = Armory.objects.select_related("unit").get(pk=armory.pk)
    _require(actor, armory, COUNTERS, "count")
    rules = policy(armory)
    previous = Count.objects.filter(armory=armory, status=Count.Status.CLOSED).order_by("-signed_at").first()
    if rules.counter_rotates and previous is not None and previous.counter_id == actor.pk:
        raise Refused(
            f"{actor.username} did the previous count of {armory.code}; someone else counts now.", code="same_counter"
        )
    count = (
        Count.objects.select_for_update().filter(armory=armory, status__in=["due", "in_progress", "submitted"]).first()
    )
    if count is not None and count.status != Count.Status.DUE:
        raise Refused(f"A count of {armory.code} is already under way.", code="count_in_progress")
    lost = LossCase.objects.filter(closed_at=None, item__isnull=False).values("item_id")  # lot cases have no item
    expected = list(
        Item.objects.filter(holder_kind=HolderKind.ARMORY, holder_armory=armory)
        .exclude(pk__in=lost)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    count = count or Count(armory=armory, reason=reason)
    count.status, count.counter, count.started_at, count.expected = (
        Count.Status.IN_PROGRESS,
        actor,
        timezone.now(),
        expected,
    )
    count.save()
    return count


@retry_transient
@transaction.atomic
def scan(*, count: Count, code: str, actor: Account) -> CountScan:
    count = Count.objects.select_for_update().get(pk=count.pk)
    if count.status != Count.Status.IN_PROGRESS:
        raise Refused("The count is not open for scanning.", code="count_not_open")
    if count.counter_id != actor.pk:
        raise NotPermitted("Only the counter scans.", code="not_the_counter")
    code = (code or "").strip()
    if not code:
        raise Invalid("Nothing was scanned.", code="scan_empty")
    matches = list(Item.objects.filter(serial_number=code).values_list("pk", flat=True)[:2])
    item_id = matches[0] if len(matches) == 1 else None
    return CountScan.objects.create(count=count, code=code, item_id=item_id, scanned_at=timezone.now())


@retry_transient
@transaction.atomic
def submit(*, count: Count, actor: Account) -> list[Discrepancy]:
    """Close scanning and list every discrepancy; sign at once where the armory needs no second signature."""
    count = Count.objects.select_for_update().select_related("armory__unit").get(pk=count.pk)
    if count.counter_id != actor.pk:
        raise NotPermitted("Only the counter submits the count.", code="not_the_counter")
    if count.status != Count.Status.IN_PROGRESS:
        raise Refused("The count is not open.", code="count_not_open")
    scans = list(count.scans.all())
    expected = set(count.expected)
    seen = Counter(scan.item_id for scan in scans if scan.item_id)
    found = []
    for item_id in sorted(expected - set(seen)):
        found.append(Discrepancy(count=count, kind=Discrepancy.Kind.MISSING, item_id=item_id))
    others = {item.pk: item for item in Item.objects.filter(pk__in=set(seen) - expected)}
    for _, item in sorted(others.items()):
        kind = Discrepancy.Kind.UNEXPECTED if item.holder_kind == HolderKind.MEMBER else Discrepancy.Kind.MISPLACED
        found.append(Discrepancy(count=count, kind=kind, item=item))
    for item_id, times in sorted(seen.items()):
        if times > 1:
            found.append(Discrepancy(count=count, kind=Discrepancy.Kind.DUPLICATE, item_id=item_id))
    for code in sorted({scan.code for scan in scans if scan.item_id is None}):
        found.append(Discrepancy(count=count, kind=Discrepancy.Kind.UNKNOWN, code=code))
    created = Discrepancy.objects.bulk_create(found)
    count.submitted_at = timezone.now()
    count.status = Count.Status.SUBMITTED if policy(count.armory).second_signature else Count.Status.CLOSED
    if count.status == Count.Status.CLOSED:
        count.signed_at = count.submitted_at
    count.save()
    return created


@retry_transient
@transaction.atomic
def sign(*, count: Count, actor: Account) -> Count:
    count = Count.objects.select_for_update().select_related("armory__unit").get(pk=count.pk)
    if count.status != Count.Status.SUBMITTED:
        raise Refused("Only a submitted count can be signed.", code="count_not_submitted")
    if actor.pk == count.counter_id:
        raise Refused("A second person signs the count, not the counter.", code="same_signer")
    _require(actor, count.armory, SIGNERS, "sign counts")
    count.status, count.signed_by, count.signed_at = Count.Status.CLOSED, actor, timezone.now()
    count.save()
    return count


def resolve(
    *, discrepancy: Discrepancy, actor: Account, explanation: str = "", open_loss_case: bool = False, place: str = ""
) -> Discrepancy:
    """Every discrepancy ends as found/explained, or (missing items) as a loss case."""
    discrepancy = Discrepancy.objects.select_related("count__armory__unit", "item").get(pk=discrepancy.pk)
    _require(actor, discrepancy.count.armory, SIGNERS, "resolve count discrepancies")
    if discrepancy.resolution:
        raise Refused("This discrepancy is already resolved.", code="already_resolved")
    if not explanation.strip():
        raise Invalid("Explain what was found or what happened.", code="explanation_missing")
    case = None
    if open_loss_case:
        if discrepancy.kind != Discrepancy.Kind.MISSING:
            raise Invalid("Only a missing item becomes a loss case.", code="not_missing")
        case = losses.open_case(
            item=discrepancy.item,
            kind=LossCase.Kind.UNACCOUNTED,
            circumstances=explanation,
            occurred_at=discrepancy.count.started_at,
            place=place or discrepancy.count.armory.name,
            actor=actor,
        )
    with transaction.atomic():
        updated = Discrepancy.objects.filter(pk=discrepancy.pk, resolution="").update(
            resolution=Discrepancy.Resolution.LOSS_CASE if case else Discrepancy.Resolution.FOUND,
            explanation=explanation.strip(),
            loss_case=case,
            resolved_by=actor,
            resolved_at=timezone.now(),
        )
        if not updated:
            raise Refused("This discrepancy is already resolved.", code="already_resolved")
    discrepancy.refresh_from_db()
    return discrepancy


def require_count(armory: Armory, *, reason: str, due_at: datetime | None = None) -> Count | None:
    """Make a count due at `armory` (unless one is open) and remind its armorers. Call inside a transaction."""
    if Count.objects.filter(armory=armory, status__in=["due", "in_progress", "submitted"]).exists():
        return None
    count = Count.objects.create(armory=armory, status=Count.Status.DUE, reason=reason, due_at=due_at or timezone.now())
    notify(
        scope.holders_of_role_over(armory.unit, [Role.ARMORER]),
        subject=f"Count due: {armory.name}",
        body=f"Reason: {reason}.",
        url=reverse("armory-page", args=[armory.code]),
    )
    return count


def schedule(now: datetime | None = None) -> list[Count]:
    """Make counts due by each armory's frequency (its own, else its unit's; default weekly) since its last signed
    count."""
    now = now or timezone.now()
    created = []
    armories = list(Armory.objects.select_related("unit"))
    rules = policies(armories)
    for armory in armories:
        last = Count.objects.filter(armory=armory, status=Count.Status.CLOSED).order_by("-signed_at").first()
        frequency = rules[armory.pk].frequency
        if last is None or last.signed_at + PERIOD[frequency] <= now:
            with transaction.atomic():
                count = require_count(armory, reason=f"scheduled {frequency} count", due_at=now)
            if count:
                created.append(count)
    return created


def on_handover(item: Item) -> None:
    """A key or seal of an armory changed hands: count that armory. Called by the custody services."""
    if item.opens_armory_id:
        require_count(
            Armory.objects.select_related("unit").get(pk=item.opens_armory_id),
            reason=f"key {item.serial_number} changed hands",
        )
