"""Maintenance: items go to a workshop (an Armory of kind workshop) and come back inspected; inspection intervals
per item type give the due-for-inspection queue. Same service shape as custody.services."""

from datetime import date, timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from muster.core.db import retry_transient
from muster.core.errors import Invalid, Refused
from muster.custody import ledger
from muster.custody.models import Armory, HolderKind, Item, LedgerEvent
from muster.custody.services import _lock, _refuse_if_lost, _require_armorer
from muster.members.models import Account


@retry_transient
def send(*, item: Item, workshop: Armory, actor: Account, reason: str) -> LedgerEvent:
    with transaction.atomic(durable=True):
        item = _lock(item)
        workshop = Armory.objects.select_related("unit").get(pk=workshop.pk)
        if item.holder_kind != HolderKind.ARMORY:
            raise Refused(f"{item} is issued to {item.holder_member}; take it back first.", code="item_not_in_armory")
        if item.holder_armory.kind == Armory.Kind.WORKSHOP:
            raise Refused(f"{item} is already in {item.holder_armory}.", code="item_in_maintenance")
        if workshop.kind != Armory.Kind.WORKSHOP:
            raise Invalid(f"{workshop} is not a workshop.", code="not_a_workshop")
        _require_armorer(actor, item.holder_armory, "send its items for maintenance")
        _refuse_if_lost(item)
        if not reason.strip():
            raise Invalid("Say what needs doing.", code="reason_missing")
        return ledger.append(
            kind=LedgerEvent.Kind.MAINTENANCE_OUT,
            item=item,
            to_kind=HolderKind.ARMORY,
            to_armory_id=workshop.pk,
            actor_id=actor.pk,
            reason=reason.strip(),
        )


@retry_transient
def receive(
    *, item: Item, actor: Account, condition: str, notes: str, armory: Armory | None = None, inspected: bool = True
) -> LedgerEvent:
    """Back from the workshop into a store (the item's home unless given), with its condition after the work."""
    with transaction.atomic(durable=True):
        item = _lock(item)
        if item.holder_kind != HolderKind.ARMORY or item.holder_armory.kind != Armory.Kind.WORKSHOP:
            raise Refused(f"{item} is not in maintenance.", code="item_not_in_maintenance")
        armory = Armory.objects.select_related("unit").get(pk=(armory or item.home_armory).pk)
        if armory.kind != Armory.Kind.STORE:
            raise Invalid(f"{armory} is a workshop; bring the item back to a store.", code="not_a_store")
        _require_armorer(actor, armory, "take items into it")
        if condition not in Item.Condition.values:
            raise Invalid(f"Unknown condition {condition!r}.", code="unknown_condition")
        event = ledger.append(
            kind=LedgerEvent.Kind.MAINTENANCE_IN,
            item=item,
            to_kind=HolderKind.ARMORY,
            to_armory_id=armory.pk,
            actor_id=actor.pk,
            reason=notes.strip(),
            data={"condition": condition, "inspected": inspected},
        )
        changes = {"condition": condition}
        if inspected:
            changes["last_inspected_on"] = timezone.localdate()
        Item.objects.filter(pk=item.pk).update(**changes)
        return event


def due_for_inspection(items: QuerySet[Item], today: date | None = None) -> QuerySet[Item]:
    """Items of a type with an inspection interval, never inspected or inspected longer ago than it."""
    today = today or timezone.localdate()
    scheduled = items.filter(item_type__inspection_interval_days__isnull=False)
    # Compare in Python-free SQL: last inspection + interval days < today, written as a per-type bound.
    overdue = Q(last_inspected_on__isnull=True)
    for days in scheduled.values_list("item_type__inspection_interval_days", flat=True).distinct():
        overdue |= Q(item_type__inspection_interval_days=days, last_inspected_on__lt=today - timedelta(days=days))
    return scheduled.filter(overdue).order_by(F("last_inspected_on").asc(nulls_first=True), "pk")
