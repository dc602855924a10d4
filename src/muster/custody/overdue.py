"""Overdue items escalate: on the dashboard at once, then a notification to the armorers, then — after the
overdue escalation hours in force for the item's unit (its policy, else MUSTER_OVERDUE_ESCALATION_HOURS) — to the
commanders. Run by the worker every 10 minutes."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from muster.core.notify import notify
from muster.custody import policy as unit_policy
from muster.custody.models import HolderKind, Item, OverdueNotice
from muster.members import scope
from muster.members.models import Role


def _recipients(item: Item, role: str) -> list[int]:
    return scope.holders_of_role_over(item.home_armory.unit, [role])


def _reach(item: Item, level: str) -> str:
    """How to reach the holder. Only the commander's notice carries the phone: armorers do not read members'
    contact data (members.contact), and the commander is the one who chases a late holder."""
    if level == OverdueNotice.Level.COMMANDER:
        return f"Contact the holder: {item.holder_member.phone or 'no phone on record'}."
    return "The holder's commander is told if it is not back soon."


def _send(item: Item, level: str, now: datetime) -> bool:
    try:
        with transaction.atomic():
            OverdueNotice.objects.create(item=item, due_at=item.due_at, level=level, sent_at=now)
            late = now - item.due_at
            hours = int(late.total_seconds() // 3600)
            notify(
                _recipients(item, Role.ARMORER if level == OverdueNotice.Level.ARMORER else Role.COMMANDER),
                subject=f"Overdue{' (escalated)' if level == OverdueNotice.Level.COMMANDER else ''}: {item} "
                f"held by {item.holder_member}",
                body=f"Due back {timezone.localtime(item.due_at):%Y-%m-%d %H:%M}, now {hours} h late. "
                + _reach(item, level),
                url=reverse("item-page", args=[item.pk]),
            )
    except IntegrityError:  # another worker sent it first
        return False
    return True


def scan(now: datetime | None = None) -> dict[str, int]:
    """Send every overdue notice that is due and not yet sent; return how many of each level went out."""
    now = now or timezone.now()
    overdue = (
        Item.objects.filter(holder_kind=HolderKind.MEMBER, due_at__lt=now)
        .select_related("holder_member", "home_armory__unit", "item_type")
        .order_by("due_at")
    )
    sent = {OverdueNotice.Level.ARMORER: 0, OverdueNotice.Level.COMMANDER: 0}
    overdue = list(overdue)
    rules = unit_policy.effective_many({item.home_armory.unit_id: item.home_armory.unit for item in overdue}.values())
    already = set(OverdueNotice.objects.filter(item__in=overdue).values_list("item_id", "due_at", "level"))
    for item in overdue:
        levels = [OverdueNotice.Level.ARMORER]
        escalation = timedelta(hours=rules[item.home_armory.unit_id].overdue_escalation_hours)
        if item.due_at < now - escalation:
            levels.append(OverdueNotice.Level.COMMANDER)
        for level in levels:
            if (item.pk, item.due_at, level) not in already and _send(item, level, now):
                sent[level] += 1
    return {str(level): count for level, count in sent.items()}
