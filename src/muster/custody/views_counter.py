"""The counter: the armorer's page for issues and returns at speed, with a scanner (issue #4).

One input takes every scan: a keyboard-wedge scanner types the code and Enter, or counter.js puts in what the camera
decoded and submits it the same way. What a scan holds is what custody/labels.py prints in the QR codes: a member's
number (badge) or an item's serial number (label), plain text.

- A badge puts its member "at the counter": who they are, what they hold, whether the issue gate refuses them.
- An item that a member holds is returned at once, whoever is at the counter: a return is one scan.
- An item in the armory, with a member at the counter, waits for the member's PIN; their PIN + Enter issues it and
  the member stays at the counter for the next item. Scanned before any badge, the item waits for the badge.

The state lives in hidden fields of the forms, not in the session: the member at the counter (their number) and the
item waiting (its id). Every request looks both up again through the scoped queries, so an edited field reaches
nothing the armorer could not scan anyway, two counter tabs never disturb each other, and a reload is a clean counter.
"""

import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from muster.core.errors import DomainError, Invalid, NotFound, NotPermitted, Refused
from muster.core.views import ArmorerRequiredMixin, is_htmx, nav_flags
from muster.custody import handover, queries, services
from muster.custody.models import HolderKind, Item, ItemType, LedgerEvent
from muster.custody.views_reports import held_by
from muster.members import scope
from muster.members.models import Account, Member, Role

ARMORER = frozenset({Role.ARMORER})
MAX_CHOICES = 10  # an ambiguous scan offers at most this many candidates
PIN_RETRY = frozenset({"pin_wrong", "receiver_confirmation_required"})  # the member types again; others start over


@dataclass
class Counter:
    """What the counter shows after a request."""

    member: Member | None = None
    waiting: Item | None = None  # scanned, in the armory, waiting for the member's PIN (or for a badge)
    asking_pin: bool = False
    event: LedgerEvent | None = None  # what the last scan or PIN recorded
    errors: list[DomainError] = field(default_factory=list)
    notice: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)  # (pick, label) when a code names several things
    code: str = ""
    refused_item: Item | None = None  # the gate refused this item to the member at the counter
    overridable: bool = False  # ... and only for reasons a commander may override on the issue form
    status: int = 200


# --- scoped lookups: the units where the account is an armorer ----------------------------------------------------


def counter_items(account: Account):
    in_armorer_units = scope.units_q(account, ARMORER, field="home_armory__unit__path")
    return (
        queries.visible_items(account)
        .filter(in_armorer_units)
        .select_related("item_type", "home_armory", "holder_member", "holder_armory")
    )


def find_counter_member(account: Account, member_no: str) -> Member:
    """queries.find_member, narrowed to the units the account serves as armorer (the only members it may issue to)."""
    member = queries.find_member(account, member_no)
    if not scope.has_role(account, member.unit, ARMORER):
        raise NotFound(f"No member with number {member_no.strip()!r} in your units.", code="member_not_found")
    return member


def find_waiting_item(account: Account, item_id) -> Item:
    item = counter_items(account).filter(pk=queries.as_id(item_id)).first()
    if item is None:
        raise NotFound("The item waiting at the counter is not in your units; scan it again.", code="item_not_found")
    return item


def member_refusals(member: Member) -> list[Refused]:
    """What the issue gate says about the member alone. The stand-in item passes every item rule (in an armory,
    serviceable, of a type that needs no qualification), so only the member's own rules can fail here; the item's
    rules and the qualifications its type needs are checked when an item is scanned."""
    now = timezone.now()
    stand_in = Item(
        pk=0, item_type=ItemType(pk=0, name="any item"), condition=Item.Condition.SERVICEABLE,
        holder_kind=HolderKind.ARMORY,
    )  # fmt: skip
    return services.gate(item=stand_in, member=member, due_at=now + timedelta(hours=1), now=now)


def load_event(account: Account, event: LedgerEvent) -> LedgerEvent:
    return (
        queries.visible_events(account)
        .select_related("item__item_type", "to_member", "from_member", "to_armory")
        .get(pk=event.pk)
    )


# --- what a scan and a PIN do -------------------------------------------------------------------------------------


def restore(account: Account, counter: Counter, *, member_no: str, item_id: str) -> None:
    """Who is at the counter and what waits, from the hidden fields."""
    if member_no.strip():
        counter.member = find_counter_member(account, member_no)
    if item_id.strip():
        counter.waiting = find_waiting_item(account, item_id)


def candidates(account: Account, code: str) -> list[tuple[str, Member | Item]]:
    """Everything in the account's armorer units that the code names: a member by number, items by serial."""
    found: list[tuple[str, Member | Item]] = []
    with contextlib.suppress(NotFound):
        found.append(("member", find_counter_member(account, code)))
    found += [(f"item:{item.pk}", item) for item in counter_items(account).filter(serial_number=code)[:MAX_CHOICES]]
    return found


def scan(account: Account, counter: Counter, code: str, *, pick: str = "") -> None:
    code = code.strip()
    counter.code = code
    if not code:
        raise Invalid("Scan a badge or an item, or type its number and press Enter.", code="scan_empty")
    found = candidates(account, code)
    if pick:
        found = [(key, thing) for key, thing in found if key == pick]
    if not found:
        raise NotFound(
            f"Nothing in the units you serve as armorer has the number {code!r}: no member's badge, no item's serial.",
            code="scan_not_found",
        )
    if len(found) > 1:
        # Badges and labels carry the bare number; when it names several things the armorer says which.
        counter.choices = [(key, choice_label(thing)) for key, thing in found]
        counter.notice = f"{code!r} names more than one thing here: choose which you scanned."
        return
    key, thing = found[0]
    if key == "member":
        badge_scanned(account, counter, thing)
    else:
        item_scanned(account, counter, thing)


def choice_label(thing: Member | Item) -> str:
    if isinstance(thing, Member):
        return f"Member {thing.full_name} ({thing.member_no})"
    return f"Item {thing.item_type.name} #{thing.serial_number}"


def badge_scanned(account: Account, counter: Counter, member: Member) -> None:
    counter.member = member
    if counter.waiting is not None:
        ready_to_issue(account, counter)


def item_scanned(account: Account, counter: Counter, item: Item) -> None:
    counter.waiting = None
    if item.holder_kind == HolderKind.MEMBER:
        event = services.return_item(item=item, actor=account)
        counter.event = load_event(account, event)
        return
    counter.waiting = item
    if counter.member is None:
        counter.notice = f"{item} is in {item.holder_armory}. Scan the member's badge to issue it."
        return
    ready_to_issue(account, counter)


def ready_to_issue(account: Account, counter: Counter) -> None:
    """Ask for the PIN only when the gate would let the issue through: nobody types a PIN for a refusal."""
    now = timezone.now()
    item, member = counter.waiting, counter.member
    try:
        services.refuse_self_issue(actor=account, member=member)
    except NotPermitted as refusal:
        counter.waiting, counter.errors, counter.status = None, [refusal], refusal.http_status
        return
    due_at = services.default_due_at(item.item_type, now, unit=item.holder_armory.unit)
    failures = services.gate(item=item, member=member, due_at=due_at, now=now)
    if failures:
        counter.waiting = None
        counter.errors = failures
        counter.status = failures[0].http_status
        counter.overridable = all(failure.code in services.OVERRIDABLE for failure in failures)
        counter.refused_item = item
        return
    counter.asking_pin = True


def issue_with_pin(account: Account, counter: Counter, pin: str) -> None:
    member, item = counter.member, counter.waiting
    if member is None or item is None:
        raise Invalid("Nothing waits for a PIN: scan the badge and the item again.", code="counter_nothing_waiting")
    # The rules again first (the member or the item may have changed since the scan): no PIN for a refused issue.
    services.precheck_issue(item=item, member=member, actor=account)
    # As on the issue form: without the site rule an empty PIN means "not confirmed"; a PIN typed is always checked
    # (in its own transaction, so a wrong one counts towards the lockout although nothing is issued).
    receiver = handover.confirm(member=member, pin=pin, actor=account, purpose="issue") if pin else None
    event = services.issue(item=item, member=member, actor=account, receiver=receiver)
    counter.waiting = None
    counter.event = load_event(account, event)


# --- the views ----------------------------------------------------------------------------------------------------


class CounterView(ArmorerRequiredMixin, View):
    """GET: the counter page (?member=<number> puts that member at the counter)."""

    def get(self, request):
        counter = Counter()
        self.attempt(counter, restore, member_no=request.GET.get("member", ""), item_id="")
        return self.show(counter)

    def attempt(self, counter: Counter, step, *args, **kwargs) -> bool:
        """Run one step; a DomainError becomes the message and code shown, with its HTTP status."""
        try:
            step(self.request.user, counter, *args, **kwargs)
        except DomainError as exc:
            counter.errors = [exc]
            counter.status = exc.http_status
            return False
        return True

    def show(self, counter: Counter):
        holdings = list(held_by(self.request.user, counter.member.pk)) if counter.member else []
        context = {
            "counter": counter,
            "member": counter.member,
            "holdings": holdings,
            "member_refusals": member_refusals(counter.member) if counter.member else [],
            "overridable_codes": services.OVERRIDABLE,
            "pin_required": settings.MUSTER_REQUIRE_HANDOVER_PIN,
            "now": timezone.now(),
            "nav": nav_flags(self.request.user),
        }
        template = "custody/_counter_panel.html" if is_htmx(self.request) else "custody/counter.html"
        return render(self.request, template, context, status=counter.status)


class CounterScanView(CounterView):
    """POST one scan: `code`, with the hidden `member` and `item`; `pick` answers an ambiguous scan."""

    http_method_names = ["post"]

    def post(self, request):
        counter = Counter()
        data = request.POST
        if self.attempt(counter, restore, member_no=data.get("member", ""), item_id=data.get("item", "")):
            self.attempt(counter, scan, data.get("code", ""), pick=data.get("pick", ""))
        return self.show(counter)


class CounterPinView(CounterView):
    """POST the member's PIN for the waiting item: the third interaction, which issues it."""

    http_method_names = ["post"]

    def post(self, request):
        counter = Counter()
        data = request.POST
        restored = self.attempt(counter, restore, member_no=data.get("member", ""), item_id=data.get("item", ""))
        if restored and not self.attempt(counter, issue_with_pin, data.get("pin", "")):
            # A wrong or missing PIN: the member types it again. Any other refusal: back to scanning.
            counter.asking_pin = counter.errors[0].code in PIN_RETRY
            if not counter.asking_pin:
                counter.waiting = None
        return self.show(counter)
