"""Custody read-outs beyond the counter: open recalls, the issues a commander overrode, and the member page's custody
sections (what the member holds, their history, their handover PIN) with the form that sets the PIN.

The member page sections register with members.views, so members never imports custody.
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views import View

from muster.core import exports
from muster.core.auth import reauthenticate
from muster.core.errors import DomainError
from muster.core.views import (
    FORM_ERROR_STATUS,
    OVERRIDE_READERS,
    add_domain_error,
    download,
    has_role_anywhere,
    mark_invalid,
    nav_flags,
    page_lookup,
    paginate,
    query_without_page,
)
from muster.custody import handover, queries, services
from muster.custody.forms import SetPinForm
from muster.custody.models import Armory, HandoverAttempt, HandoverPin, HolderKind, Item, LedgerEvent, LossCase, Recall
from muster.members import scope
from muster.members.contact import may_see_contact
from muster.members.models import Account, Member, Role
from muster.members.views import Section, add_member_page_section, find_visible_member, page_forms, render_member_page

OVERRIDES_PER_PAGE = 50
MEMBER_EVENTS_PER_PAGE = 25
PIN_ATTEMPTS_SHOWN = 8
OVERRIDES_HEADER = ["Seq", "Time", "Item type", "Serial", "Member number", "Member", "Armorer", "Commander", "Codes",
                    "Reason"]  # fmt: skip


def open_recalls(account: Account):
    """Open recalls of items homed in the account's units (staff roles), oldest first; `can_return` per row is
    decided in the template from the item's armory unit, already loaded here."""
    return (
        Recall.objects.filter(resolved_at=None)
        .filter(scope.units_q(account, scope.STAFF_ROLES, field="item__home_armory__unit__path"))
        .select_related("item__item_type", "item__home_armory__unit", "member__unit")
        .order_by("raised_at", "pk")
    )


def mark_returnable(account: Account, recalls: list[Recall]) -> list[Recall]:
    """Which rows get a Return button (the account is an armorer of the item's home unit) and show the holder's
    phone (members.contact); no extra queries, the units are loaded with the recalls."""
    for recall in recalls:
        recall.can_return = scope.has_role(account, recall.item.home_armory.unit, {Role.ARMORER})
        recall.show_contact = may_see_contact(account, recall.member)
    return recalls


def override_events(account: Account):
    """Issues that went ahead on a commander's countersign, in the units where the account commands or audits."""
    return (
        queries.visible_override_events(account)
        .select_related("item__item_type", "to_member", "actor")
        .order_by("-seq")
    )


def with_commanders(events: list[LedgerEvent]) -> list[LedgerEvent]:
    """Attach the countersigning commander's account to each event (one query for the lot)."""
    ids = {event.data["override"].get("commander") for event in events}
    accounts = Account.objects.in_bulk([pk for pk in ids if pk is not None])
    for event in events:
        override = event.data["override"]
        event.override = override
        event.commander = accounts.get(override.get("commander"))
    return events


class OverridesView(LoginRequiredMixin, View):
    template_name = "custody/overrides.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not has_role_anywhere(request.user, OVERRIDE_READERS):
            raise PermissionDenied("The overrides report is for commanders and auditors.")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        events = override_events(request.user)
        export = request.GET.get("export")
        if export in exports.FORMATS:
            return self.export(export, with_commanders(list(events)))
        page_obj = paginate(request, events, OVERRIDES_PER_PAGE)
        with_commanders(page_obj.object_list)
        context = {"nav": nav_flags(request.user), "page_obj": page_obj, "query": query_without_page(request)}
        return render(request, self.template_name, context)

    def export(self, file_format: str, events: list[LedgerEvent]):
        table = exports.Table(title="Issue overrides", header=OVERRIDES_HEADER, scope="the account's units")
        for event in events:
            table.rows.append([
                event.seq,
                timezone.localtime(event.recorded_at).isoformat(sep=" ", timespec="seconds"),
                event.item.item_type.name,
                event.item.serial_number,
                event.to_member.member_no if event.to_member else "",
                event.to_member.full_name if event.to_member else "",
                event.actor.get_username(),
                event.commander.get_username() if event.commander else "",
                " ".join(event.override.get("codes", [])),
                event.override.get("reason", ""),
            ])  # fmt: skip
        stem = f"issue-overrides-{timezone.localdate():%Y-%m-%d}"
        return download(self.request, table, file_format=file_format, stem=stem)


# --- the member page -----------------------------------------------------------------------------------------------


def armory_items(user: Account, armory: Armory) -> QuerySet[Item]:
    """What an armory's page lists: the items homed in it, wherever they are now, and the items of other armories
    it holds now (sent to it for maintenance, returned to it). A workshop homes nothing, so its page lists what is
    in the workshop. Only items the account may see (homed in its units)."""
    return queries.visible_items(user).filter(Q(home_armory=armory) | Q(holder_armory=armory))


def open_loss_kind() -> Subquery:
    """The kind of the item's open loss case (lost, stolen, damaged, unaccounted), or None: annotated on item lists
    so an item with an open case shows as such, not as "in armory" or "issued" (the gate refuses it: item_lost)."""
    return Subquery(LossCase.objects.filter(item=OuterRef("pk"), closed_at=None).values("kind")[:1])


def held_by(account: Account, member_id: int):
    """Items the member holds now, as far as the account may see them, each with `open_loss_kind` (an item reported
    lost shows as such, on the member page and at the counter)."""
    return (
        queries.visible_items(account)
        .filter(holder_kind=HolderKind.MEMBER, holder_member_id=member_id)
        .annotate(open_loss_kind=open_loss_kind())
        .select_related("item_type", "home_armory")
        .order_by("due_at", "serial_number")
    )


@add_member_page_section
def member_custody_section(request, member: Member) -> Section:
    """The member page's custody block: what the member holds now and their history, newest first."""
    user = request.user
    events = (
        queries.visible_events(user)
        .filter(Q(from_member=member) | Q(to_member=member))
        .select_related(
            "item__item_type", "lot__item_type", "from_armory", "to_armory", "from_member", "to_member", "actor"
        )
        .order_by("-seq")
    )
    armorer = scope.has_role(user, member.unit, {Role.ARMORER})
    actions = []
    if armorer and member.status == Member.Status.ACTIVE:
        actions.append(
            ("Issue to this member", f"{reverse('custody-issue')}?{urlencode({'member': member.member_no})}")
        )
    return Section(
        template="custody/_member_section.html",
        context={
            "member": member,
            "holdings": list(held_by(user, member.pk)),
            "page_obj": paginate(request, events, MEMBER_EVENTS_PER_PAGE),
            "query": query_without_page(request),
            "can_return": armorer,
            # The holder hands over their own items; armorers and duty officers record anyone's handover.
            "can_hand_over": user.member_id == member.pk
            or scope.has_role(user, member.unit, services.TRANSFER_RECORDERS),
        },
        actions=actions,
    )


def may_set_pin(account: Account, member: Member) -> bool:
    return account.member_id == member.pk or scope.has_role(account, member.unit, handover.PIN_MANAGERS)


@add_member_page_section
def member_pin_section(request, member: Member) -> Section | None:
    """Whether the member has a handover PIN and whether it is locked; for staff, the latest PIN entries."""
    user = request.user
    own = user.member_id == member.pk
    staff = bool(scope.roles_on(user, member.unit) & scope.STAFF_ROLES)
    if not (own or staff):
        return None
    record = HandoverPin.objects.filter(member=member).select_related("set_by").first()
    now = timezone.now()
    attempts = None
    if staff:
        attempts = list(
            HandoverAttempt.objects.filter(member=member)
            .select_related("actor")
            .order_by("-at", "-pk")[:PIN_ATTEMPTS_SHOWN]
        )
    form = page_forms(request).get("handover_pin") or (SetPinForm(own=own) if may_set_pin(user, member) else None)
    return Section(
        template="custody/_pin_section.html",
        context={
            "record": record,
            "locked": bool(record and record.locked_until and record.locked_until > now),
            "attempts": attempts,
            "form": form,
            "own": own,
        },
    )


class SetPinView(LoginRequiredMixin, View):
    """Set a member's handover PIN: from their own account (with their password or current PIN: a stolen session
    alone must not change it), or by an armorer or commander with the member present."""

    def post(self, request, member_no):
        with page_lookup():
            member = find_visible_member(request.user, member_no)
        if not may_set_pin(request.user, member):
            raise PermissionDenied(f"Only the member, or an armorer or commander of {member.unit.code}, sets this PIN.")
        own = request.user.member_id == member.pk
        form = SetPinForm(request.POST, own=own)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                proof = self.owner_proof(request, member, form) if own else handover.NOT_ASKED
                if proof is not None:
                    handover.set_pin(member=member, pin=form.cleaned_data["new_pin"], actor=request.user, proof=proof)
                    messages.success(request, f"Handover PIN set for {member.full_name}.")
                    return redirect("member-page", member_no=member.member_no)
            except DomainError as exc:
                status = add_domain_error(form, exc)
        mark_invalid(form)
        return render_member_page(request, member, forms={"handover_pin": form}, status=status)

    @staticmethod
    def owner_proof(request, member, form):
        """The member's password typed again (throttled and audited like a sign-in), else their current PIN
        (counted and locked like a PIN typed at the counter). None, with the form's error, for a wrong password."""
        password = form.cleaned_data.get("current_password")
        if password:
            proof = reauthenticate(request, password, purpose=handover.OWNER_PROOF_PURPOSE)
            if proof is None:
                form.add_error("current_password", "That is not your password.")
            return proof
        return handover.confirm(member=member, pin=form.cleaned_data["current_pin"], actor=request.user,
                                purpose="pin change")  # fmt: skip
