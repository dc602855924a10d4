"""Recalls: issued items whose holder may no longer hold them.

Raised immediately when the roster says so (members.hooks.member_lapsed, sent inside the changing transaction)
and by `scan`, the periodic job that finds lapses by time (vetting or a required qualification expired).
Resolved by the item's return.
"""

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from muster.core.notify import notify
from muster.custody.models import HolderKind, Item, LedgerEvent, Recall
from muster.members import scope
from muster.members.models import Member, Role
from muster.training.models import MemberQualification, Qualification


def _recipients(item: Item) -> list[int]:
    """The armorers and commanders of the item's home unit and every unit above it."""
    return scope.holders_of_role_over(item.home_armory.unit, [Role.ARMORER, Role.COMMANDER])


def raise_recall(*, item: Item, reason: str, detail: str) -> Recall | None:
    """Open a recall for an issued item unless one is open already. Call inside the causing transaction."""
    if item.holder_kind != HolderKind.MEMBER or Recall.objects.filter(item=item, resolved_at=None).exists():
        return None
    recall = Recall.objects.create(
        item=item, member_id=item.holder_member_id, reason=reason, detail=detail, raised_at=timezone.now()
    )
    notify(
        _recipients(item),
        subject=f"Recall: {item} from {item.holder_member}",
        body=f"{recall.get_reason_display()}: {detail}. Take the item back.",
        url=reverse("item-page", args=[item.pk]),
    )
    return recall


def flag_member_items(*, member: Member, reason: str, detail: str) -> list[Recall]:
    items = Item.objects.filter(holder_kind=HolderKind.MEMBER, holder_member=member).select_related(
        "item_type", "home_armory__unit", "holder_member"
    )
    return [recall for item in items if (recall := raise_recall(item=item, reason=reason, detail=detail))]


def resolve_on_return(*, item: Item, event: LedgerEvent) -> None:
    Recall.objects.filter(item=item, resolved_at=None).update(resolved_at=event.recorded_at, resolved_by_event=event)


def scan(now=None) -> list[Recall]:
    """Find issued items whose holder lapsed by time or status, and open recalls for them (idempotent)."""
    today = timezone.localdate(now or timezone.now())
    issued = Item.objects.filter(holder_kind=HolderKind.MEMBER).exclude(
        Exists(Recall.objects.filter(item=OuterRef("pk"), resolved_at=None))
    )
    found: list[tuple[Item, str, str]] = []
    lapsed_members = issued.filter(
        ~Q(holder_member__status=Member.Status.ACTIVE)
        | Q(holder_member__vetting_valid_until__lt=today)
        | Q(holder_member__vetting_valid_until=None)
    ).select_related("holder_member", "home_armory__unit", "item_type")
    for item in lapsed_members:
        member = item.holder_member
        if member.status != Member.Status.ACTIVE:
            reason = {
                Member.Status.SUSPENDED: Recall.Reason.SUSPENDED,
                Member.Status.DEPARTED: Recall.Reason.DEPARTED,
            }.get(member.status, Recall.Reason.NOT_ACTIVE)
            found.append((item, reason, f"{member} is {member.get_status_display().lower()}"))
        else:
            found.append(
                (item, Recall.Reason.VETTING_EXPIRED, f"{member}'s vetting expired {member.vetting_valid_until}")
            )
    seen = {item.pk for item, _, _ in found}
    for qualification in Qualification.objects.filter(item_types__items__in=issued).distinct():
        valid = MemberQualification.objects.filter(
            member=OuterRef("holder_member"), qualification=qualification, expires_on__gte=today
        )
        lapsed = (
            issued.filter(item_type__required_qualifications=qualification)
            .exclude(pk__in=seen)
            .exclude(Exists(valid))
            .select_related("holder_member", "home_armory__unit", "item_type")
        )
        for item in lapsed:
            seen.add(item.pk)
            found.append(
                (item, Recall.Reason.QUALIFICATION_EXPIRED, f"{item.holder_member} lacks a valid {qualification}")
            )
    return [
        recall for item, reason, detail in found if (recall := raise_recall(item=item, reason=reason, detail=detail))
    ]


def on_member_lapsed(sender, *, member: Member, reason_code: str, detail: str, **kwargs) -> None:
    reason = {
        "member_suspended": Recall.Reason.SUSPENDED,
        "member_departed": Recall.Reason.DEPARTED,
        "vetting_expired": Recall.Reason.VETTING_EXPIRED,
    }.get(reason_code, Recall.Reason.NOT_ACTIVE)
    flag_member_items(member=member, reason=reason, detail=detail)


def refuse_departure_while_holding(member: Member) -> None:
    from muster.core.errors import Refused

    held = Item.objects.filter(holder_kind=HolderKind.MEMBER, holder_member=member).select_related("item_type")
    count = held.count()
    from muster.custody.lot_models import LotBalance

    lot_balances = LotBalance.objects.filter(holder_member=member, quantity__gt=0).select_related("lot__item_type")
    if lot_balances.exists():
        names = ", ".join(f"{balance.quantity} × {balance.lot}" for balance in lot_balances[:3])
        raise Refused(
            f"{member} still holds {names}; settle it (return, expended, or lost) first.", code="member_holds_items"
        )
    if count:
        names = ", ".join(str(item) for item in held[:3])
        raise Refused(
            f"{member} still holds {count} item(s) ({names}{', …' if count > 3 else ''}); take them back first.",
            code="member_holds_items",
        )
