"""Losses of lot quantities: report a quantity lost or stolen, recover some or all of it.

A report takes the quantity off the books with a `lot_loss` ledger event and opens a loss case (a settlement's
shortfall opens one the same way, custody.lots.settle); a recovery brings quantity back into a store with a
`lot_recover` event and closes the case when everything lost is back. Same shape as custody.lots: keyword-only
arguments, an acting account, one durable transaction that locks the lot first. Items' loss cases are
custody.losses'.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.notify import notify
from muster.custody import ledger
from muster.custody import policy as unit_policy
from muster.custody.ledger import NOBODY
from muster.custody.lot_balances import (
    _active,
    _draw,
    _lock,
    _move,
    _quantity,
    _require_armorer,
    _store,
    armory_holder,
    member_holder,
)
from muster.custody.lot_models import Lot
from muster.custody.models import Armory, HolderKind, LedgerEvent, LossCase
from muster.members import scope
from muster.members.models import Account, Member, Role


def _open_case(*, lot, source, quantity, kind, circumstances, occurred_at, place, actor, police_report_no="", label=""):
    """`label` names the case in the ledger's reason when the kind's own label would mislead (a settlement's
    shortfall is "unaccounted", but not a count's discrepancy)."""
    label = label or LossCase.Kind(kind).label
    now = timezone.now()
    _draw(lot, quantity, source, "report lost")
    _move(lot, quantity, source, NOBODY)
    event = ledger.append_lot(
        kind=LedgerEvent.Kind.LOT_LOSS,
        lot=lot,
        quantity=quantity,
        source=source,
        target=NOBODY,
        actor_id=actor.pk,
        reason=f"{label}: {circumstances}"[:500],
        data={"loss": {"kind": kind, "place": place[:200]}},
    )
    case = LossCase.objects.create(
        lot=lot,
        quantity=quantity,
        kind=kind,
        last_member_id=source[2] if source[0] == HolderKind.MEMBER else None,
        last_armory_id=source[1] if source[0] == HolderKind.ARMORY else None,
        circumstances=circumstances,
        occurred_at=occurred_at,
        place=place,
        police_report_no=police_report_no,
        authorities_notified_at=now if police_report_no else None,
        opened_at=now,
        opened_by=actor,
        opened_event=event,
        # The same clock as an item's case: the policy of the lot's home unit (or the nearest unit above that sets it).
        deadline=now + timedelta(hours=unit_policy.effective(lot.home_armory.unit).loss_report_hours),
    )
    notify(
        scope.holders_of_role_over(lot.home_armory.unit, [Role.ARMORER, Role.COMMANDER]),
        subject=f"Loss case: {quantity} × {lot} {label.lower()}",
        body=f"{circumstances}\nPlace: {place}. Report to the authorities by "
        f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}.",
        url=reverse("loss-page", args=[case.pk]),
    )
    return case


@retry_transient
@transaction.atomic(durable=True)
def report_loss(
    *,
    lot: Lot,
    quantity: int,
    kind: str,
    circumstances: str,
    occurred_at: datetime,
    place: str,
    actor: Account,
    member: Member | None = None,
    armory: Armory | None = None,
    police_report_no: str = "",
) -> LossCase:
    """Report a quantity of a lot lost or stolen from a member or an armory: a `lot_loss` event and a loss case
    that freezes the member's further issues until it closes."""
    from muster.custody.losses import REPORTERS

    lot = _lock(lot)
    if (member is None) == (armory is None):
        raise Invalid("Say who held the lost quantity: a member or an armory.", code="holder_missing")
    _active(actor)
    if not scope.has_role(actor, lot.home_armory.unit, REPORTERS):
        raise NotPermitted(
            f"{actor.username} may not open loss cases for {lot.home_armory.unit.code}.", code="not_loss_reporter"
        )
    if kind not in LossCase.Kind.values:
        raise Invalid(f"Unknown kind {kind!r}; use one of {', '.join(LossCase.Kind.values)}.", code="unknown_kind")
    if not circumstances.strip() or not place.strip():
        raise Invalid("Describe the circumstances and where it happened.", code="circumstances_missing")
    if occurred_at > timezone.now():
        raise Invalid("The loss cannot have happened in the future.", code="occurred_in_future")
    source = member_holder(Member.objects.get(pk=member.pk)) if member else armory_holder(_store(armory))
    return _open_case(
        lot=lot,
        source=source,
        quantity=_quantity(quantity),
        kind=kind,
        circumstances=circumstances.strip(),
        occurred_at=occurred_at,
        place=place.strip(),
        actor=actor,
        police_report_no=police_report_no.strip(),
    )


@retry_transient
def recover(*, case: LossCase, quantity: int, armory: Armory, actor: Account, notes: str) -> LedgerEvent:
    """Some or all of a lost lot quantity is back: a `lot_recover` event brings it into a store; the case closes
    when everything lost has come back (what is never found stays open, and escalated, on the books)."""
    with transaction.atomic(durable=True):
        case = LossCase.objects.select_for_update().get(pk=case.pk)
        if case.lot_id is None:
            raise Invalid("This case is about an item; recover the item.", code="not_a_lot_case")
        if not case.is_open:
            raise Refused("The case is already closed.", code="case_closed")
        lot = _lock(case.lot)
        armory = _store(armory)
        _require_armorer(actor, armory, "take recovered lots into it")
        quantity = _quantity(quantity)
        outstanding = case.quantity - case.recovered_quantity
        if quantity > outstanding:
            raise Invalid(f"Only {outstanding} of this case is still missing.", code="more_than_lost")
        if not notes.strip():
            raise Invalid("Say how and where it was recovered.", code="notes_missing")
        _move(lot, quantity, NOBODY, armory_holder(armory))
        event = ledger.append_lot(
            kind=LedgerEvent.Kind.LOT_RECOVER,
            lot=lot,
            quantity=quantity,
            source=NOBODY,
            target=armory_holder(armory),
            actor_id=actor.pk,
            reason=notes.strip()[:500],
            data={"loss_case": case.pk},
        )
        case.recovered_quantity += quantity
        fields = ["recovered_quantity"]
        if case.recovered_quantity == case.quantity:
            case.status = LossCase.Status.RECOVERED
            case.closed_at, case.closed_by, case.closed_event = event.recorded_at, actor, event
            case.recovery_notes = notes.strip()
            fields += ["status", "closed_at", "closed_by", "closed_event", "recovery_notes"]
        case.save(update_fields=fields)
        return event
