"""Loss cases: the services that open, report, escalate and close them (kept apart from services.py for size).

Same shape as every custody service: keyword-only arguments, an acting account, one transaction that locks the
item, writes the ledger event and the case together; notifications after commit.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from muster.core import changelog
from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.notify import notify
from muster.custody import ledger
from muster.custody import policy as unit_policy
from muster.custody.models import Armory, HolderKind, Item, LedgerEvent, LossCase
from muster.custody.services import _lock
from muster.members import scope
from muster.members.models import Account, Role

REPORTERS = frozenset({Role.ARMORER, Role.COMMANDER, Role.DUTY_OFFICER})


def _chain_of_command(item: Item) -> list[int]:
    return scope.holders_of_role_over(item.home_armory.unit, [Role.ARMORER, Role.COMMANDER])


def _require_active(actor: Account) -> None:
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")


def home_of(case: LossCase) -> Armory:
    """The home armory of what the case is about: its item, or the lot a quantity of was lost."""
    return (case.item or case.lot).home_armory


@retry_transient
def open_case(
    *,
    item: Item,
    kind: str,
    circumstances: str,
    occurred_at: datetime,
    place: str,
    actor: Account,
    police_report_no: str = "",
) -> LossCase:
    """Report an item lost, stolen, damaged or unaccounted for. Freezes its last custodian's further issues."""
    with transaction.atomic(durable=True):
        return open_case_within(
            item=item,
            kind=kind,
            circumstances=circumstances,
            occurred_at=occurred_at,
            place=place,
            actor=actor,
            police_report_no=police_report_no,
        )


def open_case_within(
    *,
    item: Item,
    kind: str,
    circumstances: str,
    occurred_at: datetime,
    place: str,
    actor: Account,
    police_report_no: str = "",
) -> LossCase:
    """open_case's work inside the caller's transaction: a count's resolution opens the case and settles the
    discrepancy in one, so that a resolution refused at the end leaves no case behind."""
    _require_active(actor)
    item = _lock(item)
    item.home_armory = Armory.objects.select_related("unit").get(pk=item.home_armory_id)
    if not scope.has_role(actor, item.home_armory.unit, REPORTERS):
        raise NotPermitted(
            f"{actor.username} may not open loss cases for {item.home_armory.unit.code}.", code="not_loss_reporter"
        )
    if kind not in LossCase.Kind.values:
        raise Invalid(f"Unknown kind {kind!r}; use one of {', '.join(LossCase.Kind.values)}.", code="unknown_kind")
    if not circumstances.strip() or not place.strip():
        raise Invalid("Describe the circumstances and where it happened.", code="circumstances_missing")
    now = timezone.now()
    if occurred_at > now:
        raise Invalid("The loss cannot have happened in the future.", code="occurred_in_future")
    if LossCase.objects.filter(item=item, closed_at=None).exists():
        raise Refused(f"{item} already has an open loss case.", code="item_already_lost")
    event = ledger.append(
        kind=LedgerEvent.Kind.LOSS,
        item=item,
        to_kind=item.holder_kind,
        to_armory_id=item.holder_armory_id,
        to_member_id=item.holder_member_id,
        actor_id=actor.pk,
        reason=f"{LossCase.Kind(kind).label}: {circumstances.strip()}"[:500],
        data={"loss": {"kind": kind, "place": place.strip()[:200]}},
    )
    case = LossCase.objects.create(
        item=item,
        kind=kind,
        last_member_id=item.holder_member_id if item.holder_kind == HolderKind.MEMBER else None,
        last_armory_id=item.holder_armory_id if item.holder_kind == HolderKind.ARMORY else None,
        circumstances=circumstances.strip(),
        occurred_at=occurred_at,
        place=place.strip(),
        police_report_no=police_report_no.strip(),
        authorities_notified_at=now if police_report_no.strip() else None,
        opened_at=now,
        opened_by=actor,
        opened_event=event,
        deadline=now + timedelta(hours=unit_policy.effective(item.home_armory.unit).loss_report_hours),
    )
    notify(
        _chain_of_command(item),
        subject=f"Loss case: {item} {LossCase.Kind(kind).label.lower()}",
        body=f"{circumstances.strip()}\nPlace: {place.strip()}. Report to the authorities by "
        f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}.",
        url=reverse("item-page", args=[item.pk]),
    )
    return case


@retry_transient
@transaction.atomic
def record_report_to_authorities(*, case: LossCase, police_report_no: str, actor: Account) -> LossCase:
    """The case was reported to the police (or another authority): its number stops the escalation clock. Not a
    custody event, so it goes to the append-only change log rather than the ledger."""
    _require_active(actor)
    # Lock the case row only: its item is nullable (a lot's case has none), and PostgreSQL refuses FOR UPDATE on
    # the nullable side of an outer join.
    case = (
        LossCase.objects.select_for_update(of=("self",))
        .select_related("item__home_armory__unit", "lot__home_armory__unit")
        .get(pk=case.pk)
    )
    if not scope.has_role(actor, home_of(case).unit, REPORTERS):
        raise NotPermitted(
            "Only the unit's armorers, commanders and duty officers handle loss cases.", code="not_loss_reporter"
        )
    if not case.is_open:
        raise Refused("The case is closed.", code="case_closed")
    if not police_report_no.strip():
        raise Invalid("Give the police (or authority) report number.", code="report_no_missing")
    before = changelog.snapshot(case, ["police_report_no", "authorities_notified_at"])
    case.police_report_no = police_report_no.strip()
    case.authorities_notified_at = timezone.now()
    case.save(update_fields=["police_report_no", "authorities_notified_at"])
    changelog.record(actor=actor, obj=case, action=changelog.UPDATE, before=before, unit=home_of(case).unit)
    return case


@retry_transient
def recover(*, case: LossCase, armory: Armory, actor: Account, notes: str, condition: str | None = None) -> LedgerEvent:
    """The item is back: a `recover` event brings it into `armory` and the case closes."""
    _require_active(actor)
    with transaction.atomic(durable=True):
        case = LossCase.objects.select_for_update().get(pk=case.pk)
        if case.item_id is None:
            raise Invalid("This case is about a lot quantity; recover it on the lot.", code="not_an_item_case")
        if not case.is_open:
            raise Refused("The case is already closed.", code="case_closed")
        item = _lock(case.item)
        armory = Armory.objects.select_related("unit").get(pk=armory.pk)
        if not scope.has_role(actor, armory.unit, {Role.ARMORER}):
            raise NotPermitted(f"{actor.username} is not an armorer of {armory.unit.code}.", code="not_armorer")
        if not notes.strip():
            raise Invalid("Say how and where the item was recovered.", code="notes_missing")
        if condition is not None and condition not in Item.Condition.values:
            raise Invalid(f"Unknown condition {condition!r}.", code="unknown_condition")
        event = ledger.append(
            kind=LedgerEvent.Kind.RECOVER,
            item=item,
            to_kind=HolderKind.ARMORY,
            to_armory_id=armory.pk,
            actor_id=actor.pk,
            reason=notes.strip()[:500],
            data={"loss_case": case.pk},
        )
        if condition is not None and condition != item.condition:
            Item.objects.filter(pk=item.pk).update(condition=condition)
        case.status = LossCase.Status.RECOVERED
        case.closed_at, case.closed_by, case.closed_event = event.recorded_at, actor, event
        case.recovery_notes = notes.strip()
        case.save(update_fields=["status", "closed_at", "closed_by", "closed_event", "recovery_notes"])
        return event


def escalate_overdue(now: datetime | None = None) -> list[LossCase]:
    """Cases not reported to the authorities by their deadline are escalated to the chain of command."""
    now = now or timezone.now()
    escalated = []
    overdue = LossCase.objects.filter(status=LossCase.Status.OPEN, authorities_notified_at=None, deadline__lt=now)
    related = ("item__home_armory__unit", "item__item_type", "lot__home_armory__unit", "lot__item_type")
    for case in overdue.select_related(*related):
        with transaction.atomic():
            if LossCase.objects.filter(pk=case.pk, status=LossCase.Status.OPEN).update(
                status=LossCase.Status.ESCALATED, escalated_at=now
            ):
                # The worker escalates (no actor): the change log keeps when, as it keeps the report number.
                changelog.record(
                    actor=None,
                    obj=case,
                    action=changelog.UPDATE,
                    before={},
                    unit=home_of(case).unit,
                    extra={
                        "status": [LossCase.Status.OPEN, LossCase.Status.ESCALATED],
                        "escalated_at": [None, now.isoformat()],
                    },
                )
                notify(
                    scope.holders_of_role_over(home_of(case).unit, [Role.ARMORER, Role.COMMANDER]),
                    subject=f"ESCALATED loss case: {case.subject}",
                    body=f"Not reported to the authorities by {timezone.localtime(case.deadline):%Y-%m-%d %H:%M}.",
                    url=reverse("loss-page", args=[case.pk]),
                )
                escalated.append(case)
    return escalated
