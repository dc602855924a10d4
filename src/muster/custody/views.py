"""Web pages for custody: armories, items, and the counter forms (issue, return, member-to-member transfer).

The issue and transfer forms check every rule first (without writing), then the members' PINs, then call the
service (as the API and `muster transfer` do for a transfer): a refused handover leaves no PIN attempt behind.

The forms work with htmx (the panel with the result and a fresh form is swapped in place) and without JavaScript
(a plain POST redirects to the form with the confirmed event, or re-renders it with the error).
"""

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, Sum
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from muster.core import auth
from muster.core.errors import DomainError, Invalid
from muster.core.views import (
    FORM_ERROR_STATUS,
    PageMixin,
    StaffRequiredMixin,
    add_domain_error,
    bootstrap,
    has_role_anywhere,
    is_armorer,
    is_htmx,
    is_staff,
    mark_invalid,
    name_empty_choices,
    nav_flags,
    page_lookup,
    paginate,
    query_without_page,
)
from muster.custody import dashboard, handover, queries, services, views_dashboard
from muster.custody.filters import ItemFilterSet
from muster.custody.forms import OVERRIDE_FIELDS, IssueForm, ReturnForm, TransferForm
from muster.custody.models import Armory, ArmoryTally, HolderKind, Item, LedgerEvent, LossCase
from muster.custody.views_reports import armory_items, held_by, mark_returnable, open_loss_kind, open_recalls
from muster.members import scope
from muster.members.models import Account, Member, Role

ITEMS_PER_PAGE = 50
EVENTS_PER_PAGE = 50
ARMORY_FILTER_FIELDS = ("q", "item_type", "state", "condition")


def with_states(armories: QuerySet[Armory], now: datetime) -> list[Armory]:
    """The armories, each with `states`: the items homed in it by the dashboard's five states
    (custody.dashboard.States), and `held_now`: how many items it holds now, whatever their home. Read from the
    trigger-kept tally in a fixed number of queries however many items there are; the home page, the armory list and
    the unit dashboard show the same numbers."""
    rows = list(armories.select_related("unit"))
    by_armory = dashboard.state_counts(armories, now)  # the armories as a subquery: no list of ids however many
    # What each holds now, whatever its home: a workshop homes nothing, but holds what was sent to it.
    held = dict(
        ArmoryTally.objects.filter(holder_kind=HolderKind.ARMORY, holder_armory_id__in=armories.values("pk"))
        .values_list("holder_armory_id")
        .annotate(n=Sum("items"))
        .order_by()
    )
    for armory in rows:
        armory.states = by_armory.get(armory.pk, dashboard.States())
        armory.held_now = held.get(armory.pk, 0)
    return rows


def held_in(armory: Armory) -> dict[str, int]:
    """How many items the armory holds now, and how many of those are homed elsewhere: one query on the tally."""
    rows = ArmoryTally.objects.filter(holder_kind=HolderKind.ARMORY, holder_armory_id=armory.pk)
    totals = rows.aggregate(
        held=Sum("items", default=0), foreign=Sum("items", filter=~Q(home_armory_id=armory.pk), default=0)
    )
    return {"held": totals["held"], "foreign": totals["foreign"]}


class HomeView(PageMixin, TemplateView):
    """The dashboard: staff see their armories and what is overdue; everyone sees what they hold."""

    template_name = "custody/home.html"
    overdue_limit = 20
    recall_limit = 20

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        staff = is_staff(user)
        context["is_staff"] = staff
        context["can_transfer"] = has_role_anywhere(user, services.TRANSFER_RECORDERS)
        context["now"] = timezone.now()
        if user.member_id:
            context["my_items"] = list(held_by(user, user.member_id))
        if staff:
            now = context["now"]
            armories = queries.visible_armories(user)
            context["armories"] = with_states(armories, now)
            context["dashboard_units"] = list(views_dashboard.top_units(user))
            # The unit dashboard's overdue list: issued, past due and not reported lost (those count as lost).
            homed = Item.objects.filter(home_armory__in=armories.values("pk"))
            context["overdue"] = list(dashboard.overdue_items(homed, now)[: self.overdue_limit])
            context["overdue_total"] = sum(armory.states.overdue for armory in context["armories"])
            recalls = open_recalls(user)
            context["recalls"] = mark_returnable(user, list(recalls[: self.recall_limit]))
            context["recalls_total"] = recalls.count()
        return context


class ArmoryListView(StaffRequiredMixin, TemplateView):
    template_name = "custody/armory_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        armories = queries.visible_armories(self.request.user).order_by("code")
        context["armories"] = with_states(armories, timezone.now())
        return context


class ArmoryDetailView(PageMixin, TemplateView):
    template_name = "custody/armory_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        with page_lookup():
            armory = queries.find_armory(user, kwargs["code"])
        items = (
            armory_items(user, armory)
            .annotate(open_loss_kind=open_loss_kind())
            .select_related("item_type", "home_armory", "holder_member", "holder_armory")
            .order_by("item_type__name", "serial_number")
        )
        filterset = ItemFilterSet(self.request.GET, queryset=items)
        for name in list(filterset.form.fields):
            if name not in ARMORY_FILTER_FIELDS:
                del filterset.form.fields[name]
        bootstrap(filterset.form)
        name_empty_choices(
            filterset.form, {"item_type": "All types", "state": "Any state", "condition": "Any condition"}
        )
        recalls = mark_returnable(user, list(open_recalls(user).filter(item__home_armory=armory)))
        context.update(
            armory=armory,
            held=held_in(armory),
            filter=filterset,
            page_obj=paginate(self.request, filterset.qs, ITEMS_PER_PAGE),
            query=query_without_page(self.request),
            can_return=scope.has_role(user, armory.unit, {Role.ARMORER}),
            recalls=recalls,
            recalls_total=len(recalls),
        )
        # States, the overdue list, open loss cases, the chart and the count panel (the unit dashboard's panels).
        context.update(views_dashboard.armory_panels(self.request, armory))
        return context


class ItemDetailView(PageMixin, TemplateView):
    template_name = "custody/item_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        item = (
            queries.visible_items(user)
            .select_related("item_type", "home_armory__unit", "holder_member", "holder_armory")
            .filter(pk=kwargs["pk"])
            .first()
        )
        if item is None:
            raise Http404("No such item in your units.")
        events = (
            queries.visible_events(user)
            .filter(item=item)
            .select_related("from_armory", "to_armory", "from_member", "to_member", "actor")
            .order_by("seq")
        )
        # An item with an open loss case (of any kind, "damaged" too) is refused by the gate (item_lost), by a
        # return and by a handover until the case is closed by its recovery: the page shows the case, not those.
        case = LossCase.objects.filter(item=item, closed_at=None).first()
        item.open_loss_kind = case.kind if case else None
        context.update(
            item=item,
            loss_case=case,
            not_issuable=not_issuable(item, case),
            page_obj=paginate(self.request, events, EVENTS_PER_PAGE),
            query=query_without_page(self.request),
            can_issue=scope.has_role(user, item.home_armory.unit, {Role.ARMORER}),
            can_hand_over=case is None and item.holder_kind == HolderKind.MEMBER and may_hand_over(user, item),
            now=timezone.now(),
        )
        return context


def not_issuable(item: Item, case: LossCase | None) -> str:
    """Why the gate's item rules refuse to issue an item in an armory (empty: they do not), so the item page offers
    no Issue button the gate would refuse; the member's rules are checked on the form."""
    if case is not None:
        return f"Loss case #{case.pk} is open ({case.get_kind_display().lower()}): recover the item first."
    if item.holder_kind != HolderKind.ARMORY:
        return ""
    if item.holder_armory.kind == Armory.Kind.WORKSHOP:
        return f"In maintenance at {item.holder_armory.name}."
    if item.condition != Item.Condition.SERVICEABLE:
        return f"{item.get_condition_display()}: not issued until it is serviceable."
    return ""


class CustodyFormView(PageMixin, View):
    """One counter form: GET shows it (pre-filled from the query string), POST performs the change."""

    form_class = IssueForm
    event_kind = LedgerEvent.Kind.ISSUE
    url_name = "custody-issue"
    title = ""
    prefill: dict[str, str] = {}  # query parameter → form field
    denied = "Only armorers may issue or return items."

    def may_open(self, user: Account) -> bool:
        return is_armorer(user)

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not self.may_open(request.user):
            raise PermissionDenied(self.denied)
        return super().dispatch(request, *args, **kwargs)

    def perform(self, data: dict) -> LedgerEvent:
        raise NotImplementedError

    def get(self, request):
        initial = {field: request.GET[param] for param, field in self.prefill.items() if request.GET.get(param)}
        form = self.form_class(initial=initial)
        # Arriving from an item or member page with the serial filled in: the cursor waits in the first empty scan.
        empty = [
            name for name, field in form.fields.items() if "data-scan" in field.widget.attrs and name not in initial
        ]
        if empty and empty[0] != "serial":
            form.fields["serial"].widget.attrs.pop("autofocus", None)
            form.fields[empty[0]].widget.attrs["autofocus"] = ""
        return self.render(form, event=self.confirmed_event(request))

    def offer_override(self, form, exc: DomainError | None) -> bool:
        """Whether the re-rendered form offers a commander's override for this refusal."""
        return False

    def post(self, request):
        form = self.form_class(request.POST)
        status, event, error = FORM_ERROR_STATUS, None, None
        if form.is_valid():
            try:
                event = self.perform(form.cleaned_data)
            except DomainError as exc:
                error = exc
                if getattr(exc, "field", None):  # a PIN refusal shows under the PIN the member typed
                    form.add_error(exc.field, f"{exc.detail} [{exc.code}]")
                    status = exc.http_status
                else:
                    status = add_domain_error(form, exc)
        if event is None:
            return self.render(form, status=status, show_override=self.offer_override(form, error))
        if not is_htmx(request):
            return redirect(f"{reverse(self.url_name)}?event={event.seq}")
        return self.render(self.form_class(), event=self.load_event(event.seq))

    def confirm(self, member: Member, pin: str, *, field: str, purpose: str) -> handover.Confirmation:
        """The member's PIN, checked after the rules (the prechecks) but before the service and outside its
        transaction, so a wrong one is logged and counts towards the lockout even though nothing else changes."""
        try:
            return handover.confirm(member=member, pin=pin, actor=self.request.user, purpose=purpose)
        except DomainError as exc:
            exc.field = field
            raise

    def confirmed_event(self, request) -> LedgerEvent | None:
        seq = request.GET.get("event", "")
        return self.load_event(int(seq)) if seq.isdigit() else None

    def load_event(self, seq: int) -> LedgerEvent | None:
        return (
            queries.visible_events(self.request.user)
            .filter(seq=seq, kind=self.event_kind)
            .select_related("item__item_type", "to_member", "from_member", "to_armory", "from_armory")
            .first()
        )

    def render(self, form, *, event=None, status=200, show_override=False):
        mark_invalid(form)
        errored = [name for name in form.fields if name in form.errors]
        if show_override or errored:
            # Whoever must type next gets the cursor: the commander for an override, else the first field in error
            # (a refused PIN: the member types it again; the scans stay filled in).
            form.fields["serial"].widget.attrs.pop("autofocus", None)
            focus = "override_commander" if show_override else errored[0]
            form.fields[focus].widget.attrs["autofocus"] = ""
        context = {"form": form, "event": event, "title": self.title, "action": reverse(self.url_name)}
        context["show_override"] = show_override
        context["nav"] = nav_flags(self.request.user)
        template = "custody/_custody_panel.html" if is_htmx(self.request) else "custody/custody_form.html"
        return render(self.request, template, context, status=status)

    @staticmethod
    def _item(user, data):
        item_type = data.get("item_type")
        return queries.find_item(user, data["serial"], item_type_id=item_type.pk if item_type else None)


class IssueView(CustodyFormView):
    form_class = IssueForm
    event_kind = LedgerEvent.Kind.ISSUE
    url_name = "custody-issue"
    title = "Issue"
    prefill = {"member": "member_no", "serial": "serial", "item_type": "item_type"}

    def perform(self, data):
        user = self.request.user
        item = self._item(user, data)
        member = queries.find_member(user, data["member_no"])
        services.refuse_self_issue(actor=user, member=member)  # before the PIN is checked (and logged)
        override = None
        if any(data.get(name) for name in OVERRIDE_FIELDS):
            override = services.Override(commander=self._countersigning_commander(data), reason=data["override_reason"])
        # Every rule (and the countersign) first: a refused issue leaves no PIN attempt behind.
        services.precheck_issue(item=item, member=member, actor=user, due_at=data["due_at"], override=override)
        # Without the site rule an empty PIN means "not confirmed"; a PIN typed in is always checked and recorded.
        receiver = self.confirm(member, data["pin"], field="pin", purpose="issue") if data["pin"] else None
        return services.issue(
            item=item,
            member=member,
            actor=user,
            due_at=data["due_at"],
            reason=data["reason"],
            override=override,
            receiver=receiver,
        )

    def _countersigning_commander(self, data) -> Account:
        """The commander proves presence with their own password; the armorer's session does not count."""
        commander = auth.countersign(
            self.request,
            username=data["override_commander"].strip(),
            password=data["override_password"],
            code=data["override_otp"],
        )
        if commander is None:
            raise Invalid(
                "The commander's username or password is wrong, or the account is disabled. Nothing was issued.",
                code="override_not_authenticated",
            )
        return commander

    def offer_override(self, form, exc):
        if exc is None or getattr(exc, "field", None):
            # A missing or wrong PIN while a countersign is under way: keep the override open for the retry.
            return any(form.data.get(name, "").strip() for name in ("override_commander", "override_reason"))
        return (
            exc.code in services.OVERRIDABLE
            or exc.code.startswith(("override_", "countersign_", "otp_"))
            or exc.code == "self_override"
        )


class ReturnView(CustodyFormView):
    form_class = ReturnForm
    event_kind = LedgerEvent.Kind.RETURN
    url_name = "custody-return"
    title = "Return"
    prefill = {"serial": "serial", "item_type": "item_type", "armory": "armory", "reason": "reason"}

    def perform(self, data):
        user = self.request.user
        item = self._item(user, data)
        armory = queries.find_armory(user, data["armory"]) if data["armory"].strip() else None
        return services.return_item(item=item, actor=user, armory=armory, reason=data["reason"])


def may_hand_over(user: Account, item: Item) -> bool:
    """Whether to offer "Hand over" for an issued item: to its holder, and to its unit's armorers and duty officers."""
    holder = user.member_id is not None and user.member_id == item.holder_member_id
    return holder or scope.has_role(user, item.home_armory.unit, services.TRANSFER_RECORDERS)


def may_transfer(user: Account) -> bool:
    """Armorers and duty officers record handovers; any member may hand over what they hold themselves."""
    return bool(user.member_id) or has_role_anywhere(user, services.TRANSFER_RECORDERS)


class TransferView(CustodyFormView):
    form_class = TransferForm
    event_kind = LedgerEvent.Kind.TRANSFER
    url_name = "custody-transfer"
    title = "Transfer"
    prefill = {"serial": "serial", "item_type": "item_type", "member": "to_member_no"}
    denied = "Only armorers, duty officers and the holder of an item may record its handover."

    def may_open(self, user):
        return may_transfer(user)

    def perform(self, data):
        user = self.request.user
        item = self._item(user, data)
        to_member = queries.find_recipient(user, item, data["to_member_no"])
        # Every rule first, as the API and `muster transfer` do: nobody types a PIN (logged, and counted towards the
        # lockout) for a handover that cannot happen — not issued, a frozen or unqualified receiver, out of scope.
        services.precheck_transfer(item=item, to_member=to_member, actor=user, due_at=data["due_at"])
        giver_member = Member.objects.get(pk=item.holder_member_id)
        giver = self.confirm(giver_member, data["giver_pin"], field="giver_pin", purpose="transfer")
        receiver = self.confirm(to_member, data["receiver_pin"], field="receiver_pin", purpose="transfer")
        return services.transfer(
            item=item,
            to_member=to_member,
            actor=user,
            giver=giver,
            receiver=receiver,
            due_at=data["due_at"],
            reason=data["reason"],
        )
