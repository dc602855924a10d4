"""Overdue items and lot quantities escalate: on the dashboard at once, then a notification to the armorers, then —
after the overdue escalation hours in force for the home unit (its policy, else MUSTER_OVERDUE_ESCALATION_HOURS) —
to the commanders. Each notice goes out once per due-back time (OverdueNotice for an item, LotOverdueNotice for a
member's balance of a lot). Run by the worker every 10 minutes."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from muster.core.notify import notify
from muster.custody import policy as unit_policy
from muster.custody.lot_models import LotBalance
from muster.custody.models import HolderKind, Item, LotOverdueNotice, OverdueNotice
from muster.members import scope
from muster.members.models import Member, Role, Unit

LEVELS = (OverdueNotice.Level.ARMORER, OverdueNotice.Level.COMMANDER)


def _role(level: str) -> str:
    return Role.ARMORER if level == OverdueNotice.Level.ARMORER else Role.COMMANDER


def _reach(member: Member, level: str) -> str:
    """How to reach the holder. Only the commander's notice carries the phone: armorers do not read members'
    contact data (members.contact), and the commander is the one who chases a late holder."""
    if level == OverdueNotice.Level.COMMANDER:
        return f"Contact the holder: {member.phone or 'no phone on record'}."
    return "The holder's commander is told if it is not back soon."


def _subject(level: str, what: str, member: Member) -> str:
    return f"Overdue{' (escalated)' if level == OverdueNotice.Level.COMMANDER else ''}: {what} held by {member}"


def _body(due_at: datetime, now: datetime, member: Member, level: str) -> str:
    hours = int((now - due_at).total_seconds() // 3600)
    return f"Due back {timezone.localtime(due_at):%Y-%m-%d %H:%M}, now {hours} h late. " + _reach(member, level)


def _send(item: Item, level: str, now: datetime) -> bool:
    try:
        with transaction.atomic():
            OverdueNotice.objects.create(item=item, due_at=item.due_at, level=level, sent_at=now)
            notify(
                scope.holders_of_role_over(item.home_armory.unit, [_role(level)]),
                subject=_subject(level, str(item), item.holder_member),
                body=_body(item.due_at, now, item.holder_member, level),
                url=reverse("item-page", args=[item.pk]),
            )
    except IntegrityError:  # another worker sent it first
        return False
    return True


def _send_lot(balance: LotBalance, level: str, now: datetime) -> bool:
    lot = balance.lot
    try:
        with transaction.atomic():
            LotOverdueNotice.objects.create(balance=balance, due_at=balance.due_at, level=level, sent_at=now)
            notify(
                scope.holders_of_role_over(lot.home_armory.unit, [_role(level)]),
                subject=_subject(level, f"{balance.quantity:,} × {lot}", balance.holder_member),
                body=_body(balance.due_at, now, balance.holder_member, level)
                + " Return it, or settle it on the lot page (expended with a justification, or a loss case).",
                url=reverse("lot-page", args=[lot.pk]),
            )
    except IntegrityError:
        return False
    return True


def _levels(due_at: datetime, unit: Unit, rules: dict, now: datetime) -> list[str]:
    """The armorers at once; the commanders once the unit's escalation delay has passed too."""
    escalation = timedelta(hours=rules[unit.pk].overdue_escalation_hours)
    return list(LEVELS) if due_at < now - escalation else [OverdueNotice.Level.ARMORER]


def overdue_lot_balances(now: datetime):
    """Members' quantities of lots past their due-back time, oldest first."""
    return (
        LotBalance.objects.filter(holder_kind=HolderKind.MEMBER, quantity__gt=0, due_at__lt=now)
        .select_related("holder_member", "lot__home_armory__unit", "lot__item_type")
        .order_by("due_at", "pk")
    )


def scan(now: datetime | None = None) -> dict[str, int]:
    """Send every overdue notice that is due and not yet sent, for items and for members' lot quantities; return how
    many of each level went out (both kinds together)."""
    now = now or timezone.now()
    overdue = list(
        Item.objects.filter(holder_kind=HolderKind.MEMBER, due_at__lt=now)
        .select_related("holder_member", "home_armory__unit", "item_type")
        .order_by("due_at")
    )
    balances = list(overdue_lot_balances(now))
    units = {item.home_armory.unit_id: item.home_armory.unit for item in overdue}
    units.update({balance.lot.home_armory.unit_id: balance.lot.home_armory.unit for balance in balances})
    rules = unit_policy.effective_many(units.values())
    sent = dict.fromkeys(LEVELS, 0)
    already = set(OverdueNotice.objects.filter(item__in=overdue).values_list("item_id", "due_at", "level"))
    for item in overdue:
        for level in _levels(item.due_at, item.home_armory.unit, rules, now):
            if (item.pk, item.due_at, level) not in already and _send(item, level, now):
                sent[level] += 1
    already = set(LotOverdueNotice.objects.filter(balance__in=balances).values_list("balance_id", "due_at", "level"))
    for balance in balances:
        for level in _levels(balance.due_at, balance.lot.home_armory.unit, rules, now):
            if (balance.pk, balance.due_at, level) not in already and _send_lot(balance, level, now):
                sent[level] += 1
    return {str(level): count for level, count in sent.items()}
