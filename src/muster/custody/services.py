"""Custody state changes. Nothing else writes an item's holder or the ledger.

Each function: keyword-only arguments, an acting account, one durable transaction that locks the item, checks the
rules, appends the ledger event and updates the item. Refusals raise `muster.core.errors` exceptions with stable
codes, before anything is written.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from muster.core import changelog
from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.custody import handover, ledger, recalls
from muster.custody import policy as unit_policy
from muster.custody.models import Armory, HolderKind, Item, ItemType, LedgerEvent, LossCase
from muster.members import scope
from muster.members.models import Account, Member, Role, Unit
from muster.training import queries as training_queries

ARMORY_MANAGERS = frozenset({Role.COMMANDER, Role.ARMORER})


@retry_transient
@transaction.atomic
def create_armory(*, code: str, name: str, unit: Unit, actor: Account, address: str = "") -> Armory:
    """A new storage location of `unit`; its commander or armorer may create it."""
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")
    if not scope.has_role(actor, unit, ARMORY_MANAGERS):
        raise NotPermitted(
            f"{actor.username} is not a commander or armorer of {unit.code}; cannot create its armories.",
            code="not_unit_staff",
        )
    if Armory.objects.filter(code=code).exists():
        raise Refused(f"An armory with code {code!r} already exists.", code="armory_code_taken")
    armory = Armory.objects.create(code=code, name=name, unit=unit, address=address)
    changelog.record(actor=actor, obj=armory, action=changelog.CREATE)
    return armory


@retry_transient
@transaction.atomic
def create_item_type(*, name: str, category: str, actor: Account, model: str = "", calibre: str = "") -> ItemType:
    """A new kind of item; an armorer (of any unit: types are shared by every unit) may create it."""
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")
    if not scope.is_global(actor) and not scope.unit_paths(actor, {Role.ARMORER}):
        raise NotPermitted(f"{actor.username} is not an armorer; cannot create item types.", code="not_armorer")
    if category not in ItemType.Category.values:
        raise Invalid(f"Unknown category {category!r}.", code="unknown_category")
    if ItemType.objects.filter(name=name).exists():
        raise Refused(f"An item type named {name!r} already exists.", code="item_type_name_taken")
    item_type = ItemType.objects.create(name=name, category=category, model=model, calibre=calibre)
    changelog.record(actor=actor, obj=item_type, action=changelog.CREATE)
    return item_type


def _require_armorer(actor: Account, armory: Armory, action: str) -> None:
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")
    if not scope.has_role(actor, armory.unit, {Role.ARMORER}):
        raise NotPermitted(
            f"{actor.username} is not an armorer of {armory.unit.code}, which owns {armory.code}; cannot {action}.",
            code="not_armorer",
        )


def _lock(item: Item) -> Item:
    # Lock the bare row: on PostgreSQL a row re-read after waiting for a lock is re-checked, but columns joined
    # from other tables are not, so a join here could pair the new holder id with the old holder's row.
    locked = Item.objects.select_for_update().get(pk=item.pk)
    locked.item_type = ItemType.objects.get(pk=locked.item_type_id)
    if locked.holder_armory_id is not None:
        locked.holder_armory = Armory.objects.select_related("unit").get(pk=locked.holder_armory_id)
    return locked


def _count_if_key(item: Item) -> None:
    """An armory's key or seal changing hands makes a count of that armory due."""
    if item.opens_armory_id:
        from muster.custody import counts  # counts builds on these services

        counts.on_handover(item)


def _refuse_if_lost(item: Item) -> None:
    if LossCase.objects.filter(item_id=item.pk, closed_at=None).exists():
        raise Refused(f"{item} is reported lost; close its loss case by recovering it.", code="item_lost")


def default_due_at(item_type: ItemType, now: datetime | None = None, *, unit: Unit | None = None) -> datetime:
    """The item type's loan period, else the one in force for `unit` (the armory's), else the site's."""
    hours = item_type.default_loan_hours or unit_policy.effective(unit).default_loan_hours
    return (now or timezone.now()) + timedelta(hours=hours)


@retry_transient
@transaction.atomic(durable=True)
def register_item(
    *,
    item_type: ItemType,
    serial_number: str,
    home_armory: Armory,
    actor: Account,
    condition: str = Item.Condition.SERVICEABLE,
    manufacturer: str = "",
    year_of_manufacture: int | None = None,
    markings: str = "",
    notes: str = "",
    reason: str = "",
    opens_armory: Armory | None = None,
) -> Item:
    """Bring an item onto the books, held by its home armory. Its first ledger event is `register`.

    A key or seal names the armory it opens (`opens_armory`): handing it on later makes a count of that armory due.
    """
    _require_armorer(actor, home_armory, "register items")
    if opens_armory is not None:
        if item_type.category not in (ItemType.Category.KEY, ItemType.Category.SEAL):
            raise Invalid(f"Only keys and seals open an armory; {item_type} is not one.", code="not_a_key")
        opens_armory = Armory.objects.select_related("unit").get(pk=opens_armory.pk)
        _require_armorer(actor, opens_armory, "register its keys and seals")
    return _register(
        item_type=item_type,
        serial_number=serial_number,
        home_armory=home_armory,
        actor=actor,
        condition=condition,
        manufacturer=manufacturer,
        year_of_manufacture=year_of_manufacture,
        markings=markings,
        notes=notes,
        reason=reason,
        opens_armory=opens_armory,
    )


def _register(*, item_type, serial_number, home_armory, actor, reason="", **fields) -> Item:
    """The body of register_item, for callers that already hold a transaction (bulk import)."""
    serial_number = serial_number.strip()
    if not serial_number:
        raise Invalid("The serial number is empty.", code="serial_empty")
    if item_type.is_by_lot:
        raise Invalid(f"{item_type} is accounted by lot, not by serial number; receive a lot.", code="by_lot")
    if Item.objects.filter(item_type=item_type, serial_number=serial_number).exists():
        raise Refused(f"{item_type.name} #{serial_number} is already registered.", code="serial_taken")
    item = Item.objects.create(
        item_type=item_type,
        serial_number=serial_number,
        home_armory=home_armory,
        holder_kind=HolderKind.ARMORY,
        holder_armory=home_armory,
        **fields,
    )
    ledger.append(
        kind=LedgerEvent.Kind.REGISTER,
        item=item,
        to_kind=HolderKind.ARMORY,
        to_armory_id=home_armory.pk,
        actor_id=actor.pk,
        reason=reason or "registered",
    )
    return item


# Gate refusals a commander may override with a countersign and a written reason. Item-state refusals
# (already issued, unserviceable) and suspended/departed members can never be overridden.
OVERRIDABLE = frozenset({"member_vetting_expired", "member_not_qualified", "member_applicant"})


@dataclass(frozen=True)
class Override:
    """A commander's countersign on an issue the gate refuses. The face authenticates the commander."""

    commander: Account
    reason: str


def gate(*, item: Item, member: Member, due_at: datetime, now: datetime) -> list[Refused]:
    """Every rule an issue must pass; returns each one broken (empty when the issue may go ahead)."""
    if item.holder_kind != HolderKind.ARMORY:
        return [Refused(f"{item} is already issued to {item.holder_member}.", code="item_not_in_armory")]
    if item.condition != Item.Condition.SERVICEABLE:
        return [Refused(f"{item} is {item.get_condition_display().lower()}.", code="item_unserviceable")]
    if item.holder_armory is not None and item.holder_armory.kind == Armory.Kind.WORKSHOP:
        return [Refused(f"{item} is in maintenance at {item.holder_armory}.", code="item_in_maintenance")]
    # One query for both freezes: the item's own open case, and any open case that names the member.
    open_cases = LossCase.objects.filter(Q(item_id=item.pk) | Q(last_member_id=member.pk), closed_at=None)
    frozen = set(open_cases.values_list("item_id", "last_member_id"))
    if any(item_id == item.pk for item_id, _ in frozen):
        return [Refused(f"{item} is reported lost; recover it first.", code="item_lost")]
    if any(member_id == member.pk for _, member_id in frozen):
        return [Refused(f"{member} is frozen by an open loss case until it is closed.", code="member_frozen")]
    failures = []
    if member.status == Member.Status.APPLICANT:
        failures.append(Refused(f"{member} is an applicant, not yet active.", code="member_applicant"))
    elif member.status != Member.Status.ACTIVE:
        failures.append(
            Refused(f"{member} is {member.get_status_display().lower()}, not active.", code="member_not_active")
        )
    if not member.vetting_is_valid(timezone.localdate(now)):
        failures.append(
            Refused(
                f"{member}'s vetting expired on {member.vetting_valid_until}."
                if member.vetting_valid_until
                else f"{member} has never been vetted.",
                code="member_vetting_expired",
            )
        )
    required = list(item.item_type.required_qualifications.all())
    if required:
        missing = training_queries.missing_qualifications(member, required, timezone.localdate(due_at))
        if missing:
            names = ", ".join(str(qualification) for qualification in missing)
            failures.append(
                Refused(
                    f"{member} lacks {names} valid until the due-back date {timezone.localdate(due_at)}.",
                    code="member_not_qualified",
                )
            )
    return failures


def _check_override(override: Override, *, actor: Account, item: Item, failures: list[Refused]) -> dict:
    not_overridable = [failure for failure in failures if failure.code not in OVERRIDABLE]
    if not_overridable:
        raise not_overridable[0]
    if override.commander.pk == actor.pk:
        raise NotPermitted("The countersigning commander must be someone other than the armorer.", code="self_override")
    if not override.commander.is_active or not scope.has_role(
        override.commander, item.holder_armory.unit, {Role.COMMANDER}
    ):
        raise NotPermitted(
            f"{override.commander.username} is not a commander of {item.holder_armory.unit.code}.",
            code="override_not_commander",
        )
    reason = override.reason.strip()
    if len(reason) < 10:
        raise Invalid("An override needs a written reason (at least 10 characters).", code="override_reason_missing")
    return {
        "override": {
            "commander": override.commander.pk,
            "codes": sorted(failure.code for failure in failures),
            "reason": reason,
        }
    }


def refuse_self_issue(*, actor: Account, member: Member) -> None:
    """Never overridable: one person on both sides of a handover (the PIN would confirm; nobody else saw it).
    `issue` always calls it; a face may call it first, before asking for the member's PIN."""
    if actor.member_id is not None and actor.member_id == member.pk:
        message = "An armorer cannot issue to themselves; another armorer must hand it over."
        raise NotPermitted(message, code="self_issue")


def _check_issue(item: Item, member: Member, actor: Account, due_at: datetime | None, override: Override | None):
    """Every rule of an issue, in order; returns (the member with its unit, the due-back time, the event's data)."""
    if item.holder_kind == HolderKind.ARMORY:
        _require_armorer(actor, item.holder_armory, "issue from it")
    else:
        _require_armorer(actor, item.home_armory, "issue its items")
    refuse_self_issue(actor=actor, member=member)
    member = Member.objects.select_related("unit").get(pk=member.pk)
    if not scope.has_role(actor, member.unit, {Role.ARMORER}):
        raise NotPermitted(f"{member} is not in a unit {actor.username} serves as armorer.", code="member_out_of_scope")
    now = timezone.now()
    # The loan period of the issuing armory's unit (an item in no armory is refused by the gate below).
    due_at = due_at or default_due_at(item.item_type, now, unit=item.holder_armory.unit if item.holder_armory else None)
    if due_at <= now:
        raise Invalid("The due-back time must be in the future.", code="due_in_past")
    failures = gate(item=item, member=member, due_at=due_at, now=now)
    if failures:
        if override is None:
            raise failures[0]
        return member, due_at, _check_override(override, actor=actor, item=item, failures=failures)
    return member, due_at, {}


def precheck_issue(
    *, item: Item, member: Member, actor: Account, due_at: datetime | None = None, override: Override | None = None
) -> None:
    """Raise what `issue` would refuse, writing nothing: every face calls it before the member types a PIN (each
    PIN entry is logged and counts towards the lockout). `issue` checks it all again under the item's lock."""
    loaded = Item.objects.select_related("item_type", "holder_armory__unit", "home_armory__unit").get(pk=item.pk)
    _check_issue(loaded, member, actor, due_at, override)


@retry_transient
@transaction.atomic(durable=True)
def issue(
    *,
    item: Item,
    member: Member,
    actor: Account,
    due_at: datetime | None = None,
    reason: str = "",
    override: Override | None = None,
    receiver: handover.Confirmation | None = None,
) -> LedgerEvent:
    """Hand an item from its armory to a member, if the gate allows it or a commander overrides it.

    The member confirms at the handover (`receiver`, from handover.confirm) unless the site does not require it
    (MUSTER_REQUIRE_HANDOVER_PIN); a given confirmation is always checked and recorded.
    """
    item = _lock(item)
    member, due_at, data = _check_issue(item, member, actor, due_at, override)
    if receiver is not None or settings.MUSTER_REQUIRE_HANDOVER_PIN:
        data["receiver_confirmed"] = handover.check(receiver, member, "receiver")
    _count_if_key(item)
    try:
        with transaction.atomic():
            return ledger.append(
                kind=LedgerEvent.Kind.ISSUE,
                item=item,
                to_kind=HolderKind.MEMBER,
                to_member_id=member.pk,
                actor_id=actor.pk,
                reason=reason,
                due_at=due_at,
                data=data,
            )
    except IntegrityError as exc:  # the database's own guard; reachable only if the row lock was bypassed
        raise Refused(f"{item} changed hands at the same moment; try again.", code="concurrent_change") from exc


@retry_transient
@transaction.atomic(durable=True)
def return_item(
    *,
    item: Item,
    actor: Account,
    armory: Armory | None = None,
    reason: str = "",
) -> LedgerEvent:
    """Take an issued item back from its holder into an armory (its home armory unless one is given)."""
    item = _lock(item)
    armory = Armory.objects.select_related("unit").get(pk=(armory or item.home_armory).pk)
    _require_armorer(actor, armory, "take items into it")
    if armory.kind == Armory.Kind.WORKSHOP:
        raise Invalid(
            f"{armory} is a workshop; return items to a store and send them for maintenance.", code="not_a_store"
        )
    if item.holder_kind != HolderKind.MEMBER:
        raise Refused(f"{item} is not issued; it is in {item.holder_armory}.", code="item_not_issued")
    _refuse_if_lost(item)
    try:
        with transaction.atomic():
            event = ledger.append(
                kind=LedgerEvent.Kind.RETURN,
                item=item,
                to_kind=HolderKind.ARMORY,
                to_armory_id=armory.pk,
                actor_id=actor.pk,
                reason=reason,
            )
    except IntegrityError as exc:
        raise Refused(f"{item} changed hands at the same moment; try again.", code="concurrent_change") from exc
    recalls.resolve_on_return(item=item, event=event)
    return event


# Who besides the giver may record a member-to-member transfer (both members still confirm with their PINs).
TRANSFER_RECORDERS = frozenset({Role.ARMORER, Role.DUTY_OFFICER})


def _check_transfer(item: Item, to_member: Member, actor: Account, due_at: datetime | None):
    """Every rule of a transfer but the two confirmations; returns (giver, receiver, due-back)."""
    if item.holder_kind != HolderKind.MEMBER:
        raise Refused(f"{item} is not issued; issue it from {item.holder_armory} instead.", code="item_not_issued")
    _refuse_if_lost(item)
    giver_member = Member.objects.select_related("unit").get(pk=item.holder_member_id)
    to_member = Member.objects.select_related("unit").get(pk=to_member.pk)
    home = Armory.objects.select_related("unit").get(pk=item.home_armory_id)
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")
    if actor.member_id != giver_member.pk and not scope.has_role(actor, home.unit, TRANSFER_RECORDERS):
        raise NotPermitted(
            f"{actor.username} may not record transfers of {home.unit.code}'s items.", code="not_transfer_recorder"
        )
    if to_member.pk == giver_member.pk:
        raise Invalid(f"{to_member} already holds {item}.", code="transfer_to_holder")
    if not to_member.unit.path.startswith(home.unit.path):
        raise NotPermitted(f"{to_member} is not in {home.unit.code}, which owns {item}.", code="member_out_of_scope")
    now = timezone.now()
    due_at = due_at or item.due_at or default_due_at(item.item_type, now, unit=home.unit)
    if due_at <= now:
        raise Invalid("The due-back time must be in the future.", code="due_in_past")
    as_if_in_armory = Item(
        pk=item.pk, item_type=item.item_type, condition=item.condition, holder_kind=HolderKind.ARMORY
    )
    failures = gate(item=as_if_in_armory, member=to_member, due_at=due_at, now=now)
    if failures:
        raise failures[0]
    return giver_member, to_member, due_at


def precheck_transfer(*, item: Item, to_member: Member, actor: Account, due_at: datetime | None = None) -> None:
    """Raise whatever `transfer` would refuse, before anyone types a PIN for a handover that cannot happen."""
    loaded = Item.objects.select_related("item_type", "holder_armory__unit").get(pk=item.pk)
    _check_transfer(loaded, to_member, actor, due_at)


@retry_transient
@transaction.atomic(durable=True)
def transfer(
    *,
    item: Item,
    to_member: Member,
    actor: Account,
    giver: handover.Confirmation,
    receiver: handover.Confirmation,
    due_at: datetime | None = None,
    reason: str = "",
) -> LedgerEvent:
    """Hand an issued item from its holder straight to another member (relief at a post), both confirming.

    The receiver must pass the same gate as for an issue (a commander override is not possible here: take the
    item back to the armory instead). Recorded by the giver's own account, or by an armorer or duty officer.
    """
    item = _lock(item)
    giver_member, to_member, due_at = _check_transfer(item, to_member, actor, due_at)
    data = {
        "giver_confirmed": handover.check(giver, giver_member, "giver"),
        "receiver_confirmed": handover.check(receiver, to_member, "receiver"),
    }
    _count_if_key(item)
    try:
        with transaction.atomic():
            event = ledger.append(
                kind=LedgerEvent.Kind.TRANSFER,
                item=item,
                to_kind=HolderKind.MEMBER,
                to_member_id=to_member.pk,
                actor_id=actor.pk,
                reason=reason,
                due_at=due_at,
                data=data,
            )
    except IntegrityError as exc:
        raise Refused(f"{item} changed hands at the same moment; try again.", code="concurrent_change") from exc
    recalls.resolve_on_return(item=item, event=event)  # a recall follows the holder, not the item
    return event
