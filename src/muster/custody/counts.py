"""Counts: scan an armory's shelves against the ledger, resolve every discrepancy, sign by a second person.

The rules are those in force for the armory's unit (custody.policy: the unit's own or inherited, else the site's):
the counter is not whoever did the previous count, and a second person signs. Whatever the unit sets, a count is
not signed (nor closed) while a discrepancy is unresolved, and no new count starts while an older one has any; a
missing item is "found" only when it is scanned back onto the count; every resolution carries an explanation.
Unresolved discrepancies remind the armorers, then the commanders (remind_unresolved, run by the worker). Counts
come due on a schedule (reminders) and whenever an armory's key changes hands.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
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
OPEN = [Count.Status.DUE, Count.Status.IN_PROGRESS, Count.Status.SUBMITTED]
MIN_EXPLANATION = 10  # characters: "ok" or "x" explains nothing
DEFAULT_REMINDER_HOURS = 24


@dataclass(frozen=True)
class CountRules:
    """The count rules in force at one armory: its unit's (custody.policy)."""

    frequency: str
    counter_rotates: bool
    second_signature: bool

    @property
    def frequency_label(self) -> str:
        return CountPolicy.Frequency(self.frequency).label


def _rules(effective: unit_policy.EffectivePolicy) -> CountRules:
    return CountRules(effective.count_frequency, effective.counter_rotates, effective.second_signature)


def policy(armory: Armory) -> CountRules:
    """The count rules in force at `armory`: those of its unit."""
    return _rules(unit_policy.effective(armory.unit))


def policies(armories: list[Armory]) -> dict[int, CountRules]:
    """armory id → its count rules, for many armories with one query (the schedule, the dashboard)."""
    rules = unit_policy.effective_many({armory.unit_id: armory.unit for armory in armories}.values())
    return {armory.pk: _rules(rules[armory.unit_id]) for armory in armories}


def reminder_after() -> timedelta:
    """How long a discrepancy may stay unresolved before the armorers are reminded (the commanders: twice that)."""
    return timedelta(hours=getattr(settings, "MUSTER_DISCREPANCY_REMINDER_HOURS", DEFAULT_REMINDER_HOURS))


def _require(actor: Account, armory: Armory, roles: frozenset, action: str) -> None:
    if not actor.is_active or not scope.has_role(actor, armory.unit, roles):
        raise NotPermitted(f"{actor.username} may not {action} at {armory.code}.", code="not_counter")


def _unresolved(armory: Armory) -> int:
    return Discrepancy.objects.filter(count__armory=armory, resolution="").count()


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
    count = Count.objects.select_for_update().filter(armory=armory, status__in=OPEN).first()
    if count is not None and count.status != Count.Status.DUE:
        raise Refused(f"A count of {armory.code} is already under way.", code="count_in_progress")
    unresolved = _unresolved(armory)
    if unresolved:  # a count signed before resolution was enforced: settle it first
        raise Refused(
            f"{unresolved} discrepanc{'y' if unresolved == 1 else 'ies'} of an earlier count of {armory.code} "
            "still unresolved; resolve them before the next count.",
            code="discrepancies_unresolved",
        )
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
    return CountScan.objects.create(
        count=count, code=code, item_id=item_id, scanned_at=timezone.now(), scanned_by=actor
    )


def _accounted_since_start(count: Count, item_ids: set[int]) -> set[int]:
    """Expected items the ledger has since accounted for otherwise: issued or moved out of the armory during the
    count, or reported lost. They are not missing from the shelves; the books say where they are."""
    if not item_ids:
        return set()
    gone = set(
        Item.objects.filter(pk__in=item_ids)
        .exclude(holder_kind=HolderKind.ARMORY, holder_armory_id=count.armory_id)
        .values_list("pk", flat=True)
    )
    lost = set(LossCase.objects.filter(item_id__in=item_ids, closed_at=None).values_list("item_id", flat=True))
    return gone | lost


@retry_transient
@transaction.atomic
def submit(*, count: Count, actor: Account) -> list[Discrepancy]:
    """Close scanning and list every discrepancy. Without discrepancies the count closes at once where the unit
    needs no second signature; with any, it waits for their resolution (and the signature)."""
    count = Count.objects.select_for_update().select_related("armory__unit").get(pk=count.pk)
    if count.counter_id != actor.pk:
        raise NotPermitted("Only the counter submits the count.", code="not_the_counter")
    if count.status != Count.Status.IN_PROGRESS:
        raise Refused("The count is not open.", code="count_not_open")
    scans = list(count.scans.all())
    expected = set(count.expected)
    seen = Counter(scan.item_id for scan in scans if scan.item_id)
    unseen = expected - set(seen)
    found = []
    for item_id in sorted(unseen - _accounted_since_start(count, unseen)):
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
    count.status = Count.Status.SUBMITTED
    if not created and not policy(count.armory).second_signature:
        count.status, count.signed_at = Count.Status.CLOSED, count.submitted_at
    count.save()
    return created


@retry_transient
@transaction.atomic
def sign(*, count: Count, actor: Account) -> Count:
    """The second person's signature closes a submitted count whose discrepancies are all resolved."""
    count = Count.objects.select_for_update().select_related("armory__unit").get(pk=count.pk)
    if count.status != Count.Status.SUBMITTED:
        raise Refused("Only a submitted count can be signed.", code="count_not_submitted")
    if actor.pk == count.counter_id:
        raise Refused("A second person signs the count, not the counter.", code="same_signer")
    _require(actor, count.armory, SIGNERS, "sign counts")
    unresolved = count.discrepancies.filter(resolution="").count()
    if unresolved:
        raise Refused(
            f"{unresolved} discrepanc{'y is' if unresolved == 1 else 'ies are'} still unresolved; resolve each "
            "(found, or a loss case) before signing.",
            code="discrepancies_unresolved",
        )
    count.status, count.signed_by, count.signed_at = Count.Status.CLOSED, actor, timezone.now()
    count.save()
    return count


@retry_transient
@transaction.atomic(durable=True)
def resolve(
    *,
    discrepancy: Discrepancy,
    actor: Account,
    explanation: str = "",
    open_loss_case: bool = False,
    place: str = "",
    scanned_code: str = "",
) -> Discrepancy:
    """Resolve one discrepancy, with an explanation: found/explained, or (a missing item) a loss case.

    A missing item is found only by scanning it back onto the count (`scanned_code`, its serial number): the
    resolver has it in hand, whoever they are. Where the unit needs no second signature, the last resolution
    closes the count.
    """
    # One transaction, the count locked first: the loss case and the resolution are written together or not at all
    # (two people resolving the same discrepancy at once: the second is refused and opens no second case).
    Count.objects.select_for_update().filter(pk=discrepancy.count_id).exists()
    discrepancy = Discrepancy.objects.select_related("count__armory__unit", "item").get(pk=discrepancy.pk)
    count = discrepancy.count
    _require(actor, count.armory, SIGNERS, "resolve count discrepancies")
    if discrepancy.resolution:
        raise Refused("This discrepancy is already resolved.", code="already_resolved")
    explanation, scanned_code = (explanation or "").strip(), (scanned_code or "").strip()
    if len(explanation) < MIN_EXPLANATION:
        raise Invalid(
            f"Explain in at least {MIN_EXPLANATION} characters what was found or what happened.",
            code="explanation_missing",
        )
    missing = discrepancy.kind == Discrepancy.Kind.MISSING
    if open_loss_case and not missing:
        raise Invalid("Only a missing item becomes a loss case.", code="not_missing")
    if scanned_code and not missing:
        raise Invalid("Only a missing item is scanned back onto the count.", code="not_missing")
    if open_loss_case and scanned_code:
        raise Invalid(
            "An item scanned back is found, not lost: either scan it or open a loss case.", code="found_or_loss_case"
        )
    if missing and not open_loss_case and not scanned_code:
        raise Refused(
            f"{discrepancy.item} is found only when it is scanned back onto the count; scan it, or open a loss case.",
            code="found_needs_rescan",
        )
    case = None
    if open_loss_case:
        case = losses.open_case_within(
            item=discrepancy.item,
            kind=LossCase.Kind.UNACCOUNTED,
            circumstances=explanation,
            occurred_at=count.started_at,
            place=place or count.armory.name,
            actor=actor,
        )
    return _settle(discrepancy=discrepancy, actor=actor, explanation=explanation, case=case, scanned_code=scanned_code)


@retry_transient
@transaction.atomic
def _settle(
    *, discrepancy: Discrepancy, actor: Account, explanation: str, case: LossCase | None, scanned_code: str
) -> Discrepancy:
    count = Count.objects.select_for_update().select_related("armory__unit").get(pk=discrepancy.count_id)
    now, found_scan = timezone.now(), None
    if scanned_code:
        item = Item.objects.get(pk=discrepancy.item_id)
        if scanned_code != item.serial_number:
            raise Invalid(f"{scanned_code!r} is not {item}; scan the missing item itself.", code="scan_not_the_item")
        if item.holder_kind != HolderKind.ARMORY or item.holder_armory_id != count.armory_id:
            raise Refused(
                f"The books no longer place {item} in {count.armory.code}; it cannot be found here.",
                code="item_not_in_armory",
            )
        found_scan = CountScan.objects.create(
            count=count, code=scanned_code, item=item, scanned_at=now, scanned_by=actor, rescan=True
        )
    updated = Discrepancy.objects.filter(pk=discrepancy.pk, resolution="").update(
        resolution=Discrepancy.Resolution.LOSS_CASE if case else Discrepancy.Resolution.FOUND,
        explanation=explanation,
        loss_case=case,
        found_scan=found_scan,
        resolved_by=actor,
        resolved_at=now,
    )
    if not updated:
        raise Refused("This discrepancy is already resolved.", code="already_resolved")
    if (
        count.status == Count.Status.SUBMITTED
        and not count.discrepancies.filter(resolution="").exists()
        and not policy(count.armory).second_signature
    ):
        count.status, count.signed_at = Count.Status.CLOSED, now
        count.save(update_fields=["status", "signed_at"])
    discrepancy.refresh_from_db()
    return discrepancy


def _remind(discrepancy: Discrepancy, level: str, now: datetime) -> bool:
    """Send one reminder level of one discrepancy, unless it was sent (or the discrepancy resolved) meanwhile."""
    field, role = {
        "armorers": ("armorers_reminded_at", Role.ARMORER),
        "commanders": ("commanders_reminded_at", Role.COMMANDER),
    }[level]
    armory = discrepancy.count.armory
    with transaction.atomic():
        claimed = Discrepancy.objects.filter(pk=discrepancy.pk, resolution="", **{field: None}).update(**{field: now})
        if not claimed:
            return False
        what = str(discrepancy.item) if discrepancy.item_id else repr(discrepancy.code)
        hours = int((now - discrepancy.count.submitted_at).total_seconds() // 3600)
        notify(
            scope.holders_of_role_over(armory.unit, [role]),
            subject=f"Unresolved count discrepancy{' (escalated)' if level == 'commanders' else ''}: "
            f"{discrepancy.kind} {what} at {armory.code}",
            body=f"Found by the count of {timezone.localtime(discrepancy.count.started_at):%Y-%m-%d %H:%M}, "
            f"unresolved for {hours} h. Resolve it: found (scanned back), or a loss case.",
            url=reverse("count-page", args=[discrepancy.count_id]),
        )
    return True


def remind_unresolved(now: datetime | None = None) -> dict[str, int]:
    """Remind the armorers of every discrepancy unresolved for longer than reminder_after(), and the commanders
    once it is twice as old; each level once per discrepancy. Run by the worker."""
    now = now or timezone.now()
    after = reminder_after()
    sent = {"armorers": 0, "commanders": 0}
    stale = (
        Discrepancy.objects.filter(resolution="", count__submitted_at__lte=now - after)
        .select_related("count__armory__unit", "item__item_type")
        .order_by("pk")
    )
    for discrepancy in stale:
        levels = ["armorers"] if discrepancy.armorers_reminded_at is None else []
        if discrepancy.commanders_reminded_at is None and discrepancy.count.submitted_at <= now - 2 * after:
            levels.append("commanders")
        for level in levels:
            sent[level] += _remind(discrepancy, level, now)
    return sent


def require_count(armory: Armory, *, reason: str, due_at: datetime | None = None) -> Count | None:
    """Make a count due at `armory` (unless one is open) and remind its armorers. Call inside a transaction."""
    if Count.objects.filter(armory=armory, status__in=OPEN).exists():
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
    """Make counts due by the frequency in force for each armory's unit (default weekly) since its last signed
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
