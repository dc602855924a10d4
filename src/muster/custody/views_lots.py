"""Web pages for lots of ammunition and consumables: the list, a lot's page, and one form per movement.

Thin, as the other custody views: the lot (or the lot's loss case) is looked up among the caller's (404 otherwise), the
role is checked on the lot's home unit (403), the form is parsed, custody.lots (custody.lot_losses for a loss) decides;
a refusal shows on the form with its code and the error's status, a success goes back to the lot page with a message.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views import View
from django.views.generic import TemplateView

from muster.core.errors import DomainError
from muster.core.views import (
    FORM_ERROR_STATUS,
    PageMixin,
    StaffRequiredMixin,
    add_domain_error,
    is_armorer,
    mark_invalid,
    nav_flags,
    page_lookup,
    paginate,
    query_without_page,
)
from muster.custody import forms_lots, handover, lot_losses, lots, queries, queries_lots
from muster.custody.losses import REPORTERS
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.models import HolderKind, LedgerEvent, LossCase
from muster.members import scope
from muster.members.models import Role

LOTS_PER_PAGE = 50
EVENTS_PER_PAGE = 50
ARMORERS = frozenset({Role.ARMORER})


def render_page(request, template: str, context: dict, status: int = 200):
    return render(request, template, {"nav": nav_flags(request.user), **context}, status=status)


def with_totals(lots_qs):
    """On hand in armories, out with members, how many members hold some and how many are overdue: one query."""
    now = timezone.now()
    return lots_qs.annotate(
        on_hand=Coalesce(Sum("balances__quantity", filter=Q(balances__holder_kind=HolderKind.ARMORY)), 0),
        with_members=Coalesce(Sum("balances__quantity", filter=Q(balances__holder_kind=HolderKind.MEMBER)), 0),
        holders=Count("balances", filter=Q(balances__holder_kind=HolderKind.MEMBER, balances__quantity__gt=0)),
        overdue=Count(
            "balances",
            filter=Q(balances__holder_kind=HolderKind.MEMBER, balances__quantity__gt=0, balances__due_at__lt=now),
        ),
    )


def in_stock():
    """Each lot's armory balances, for "on hand per armory" (one more query for the whole page)."""
    balances = LotBalance.objects.filter(holder_kind=HolderKind.ARMORY, quantity__gt=0).select_related("holder_armory")
    return Prefetch("balances", queryset=balances.order_by("holder_armory__code"), to_attr="stock")


class LotIndexView(StaffRequiredMixin, TemplateView):
    template_name = "custody/lot_index.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        form = forms_lots.LotFilterForm(
            self.request.GET, armories=queries.visible_armories(user).order_by("code"),
            item_types=queries_lots.lot_types(),
        )  # fmt: skip
        lot_list = queries_lots.visible_lots(user)
        if form.is_valid():
            data = form.cleaned_data
            if data["q"]:
                lot_list = lot_list.filter(lot_number__icontains=data["q"].strip())
            if data["item_type"]:
                lot_list = lot_list.filter(item_type=data["item_type"])
            if data["armory"]:
                stocked = LotBalance.objects.filter(holder_armory=data["armory"], quantity__gt=0).values("lot_id")
                lot_list = lot_list.filter(Q(home_armory=data["armory"]) | Q(pk__in=stocked))
            if data["recalled"]:
                lot_list = lot_list.filter(recalled_at__isnull=data["recalled"] == "no")
        lot_list = with_totals(lot_list).select_related("item_type", "home_armory").prefetch_related(in_stock())
        context.update(
            filter_form=form,
            page_obj=paginate(self.request, lot_list.order_by("item_type__name", "lot_number", "pk"), LOTS_PER_PAGE),
            query=query_without_page(self.request),
            can_receive=is_armorer(user),
        )
        return context


def lot_permissions(user, lot: Lot) -> dict:
    unit = lot.home_armory.unit
    armorer = scope.has_role(user, unit, ARMORERS)
    return {
        "can_move": armorer,
        "can_report": scope.has_role(user, unit, REPORTERS),
        "can_recall": not lot.is_recalled and scope.has_role(user, unit, lots.LOT_MANAGERS),
    }


class LotPageView(PageMixin, TemplateView):
    """Balances by holder, open loss cases, the ledger events; a plain member sees only their own part."""

    template_name = "custody/lot_page.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        with page_lookup():
            lot = queries_lots.find_lot(user, kwargs["pk"])
        staff = queries_lots.is_lot_staff(user, lot)
        now = timezone.now()
        balances = LotBalance.objects.filter(lot=lot, quantity__gt=0).select_related("holder_armory", "holder_member")
        events = LedgerEvent.objects.filter(lot=lot)
        if not staff:
            balances = balances.filter(holder_member_id=user.member_id)
            events = events.filter(Q(from_member_id=user.member_id) | Q(to_member_id=user.member_id))
        balances = list(balances.order_by("holder_kind", "due_at", "holder_armory__code", "holder_member__member_no"))
        for balance in balances:
            balance.overdue = balance.due_at is not None and balance.due_at < now
        events = events.select_related("from_armory", "to_armory", "from_member", "to_member", "actor")
        stock = [b for b in balances if b.holder_kind == HolderKind.ARMORY]
        members = [b for b in balances if b.holder_kind == HolderKind.MEMBER]
        context.update(
            lot=lot,
            staff=staff,
            stock=stock,
            members=members,
            on_hand=sum(b.quantity for b in stock),
            with_members=sum(b.quantity for b in members),
            overdue=sum(1 for b in members if b.overdue),
            cases=list(
                LossCase.objects.filter(lot=lot, closed_at=None).select_related("last_member", "last_armory")
                if staff
                else []
            ),
            page_obj=paginate(self.request, events.order_by("-seq"), EVENTS_PER_PAGE),
            query=query_without_page(self.request),
            now=now,
        )
        describe_events(context["page_obj"].object_list)
        permissions = lot_permissions(user, lot)
        context.update(permissions, actions=lot_actions(self.request, lot, permissions))
        return context


JUSTIFICATIONS = dict(lots.Justification.CHOICES)
SHORTFALL = "Settlement shortfall"


def describe_events(events) -> None:
    """What the ledger table shows beside a lot event, in words (no queries):
    - `expended_label` and `expended_url`: the justification of an expenditure, "Training session #50" with a link
      to the session, "Incident report INC-7", "Disposal (armory stock) D-12" (the ledger stores the raw code);
    - `reason_shown`: the reason, where a settlement's leftover case is named for what it is (the ledger's reason
      text, written when the case opened, calls it by the loss case kind's count-discrepancy label)."""
    unaccounted = f"{LossCase.Kind.UNACCOUNTED.label}: "
    for event in events:
        data = event.data or {}
        expended = data.get("expended") or {}
        event.expended_label, event.expended_url = "", ""
        if expended:
            kind, reference = expended.get("justification", ""), str(expended.get("reference", ""))
            label = JUSTIFICATIONS.get(kind, kind.replace("_", " "))
            if kind == lots.Justification.TRAINING_SESSION and reference.isdigit():
                event.expended_label = f"{label} #{reference}"
                event.expended_url = reverse("training-session", args=[int(reference)])
            else:
                event.expended_label = f"{label} {reference}".strip()
        event.reason_shown = event.reason
        loss = data.get("loss") or {}
        if loss.get("kind") == LossCase.Kind.UNACCOUNTED and event.reason.startswith(unaccounted):
            event.reason_shown = f"{SHORTFALL}: {event.reason.removeprefix(unaccounted)}"


def lot_actions(request, lot: Lot, permissions: dict) -> list[dict]:
    """The movement forms the caller may use, each posting to its own page (which re-shows it on an error)."""
    names = []
    if permissions["can_move"]:
        names += ([] if lot.is_recalled else ["issue"]) + ["settle", "return", "expend"]
    if permissions["can_report"]:
        names.append("loss")
    if permissions["can_recall"]:
        names.append("recall")
    actions = []
    for name in names:
        view = ACTION_VIEWS[name](request=request, lot=lot)
        actions.append({
            "name": name, "title": view.title, "button": view.button, "url": reverse(f"lot-{name}", args=[lot.pk]),
            "form": view.form(auto_id=f"id_{name}_%s"), "style": "danger" if name in ("loss", "recall") else "primary",
        })  # fmt: skip
    return actions


class LotFormView(LoginRequiredMixin, View):
    """One movement of one lot: GET shows the form (member prefilled from ?member=), POST calls the service."""

    form_class = forms_lots.ReturnLotForm
    roles = ARMORERS
    denied = "Only the armorers of the lot's unit move its quantities."
    title = ""
    button = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        with page_lookup():
            self.lot = queries_lots.find_lot(request.user, kwargs["pk"])
        if not scope.has_role(request.user, self.lot.home_armory.unit, self.roles):
            raise PermissionDenied(self.denied)
        return super().dispatch(request, *args, **kwargs)

    def armories(self):
        return queries_lots.armorer_stores(self.request.user)

    def form(self, data=None, **kwargs):
        return self.form_class(data, armories=self.armories(), **kwargs)

    def perform(self, data: dict) -> str:
        """Make the change; return the message for the lot page."""
        raise NotImplementedError

    def get(self, request, pk):
        member = request.GET.get("member", "").strip()
        return self.show(self.form(initial={"member_no": member} if member else {}))

    def post(self, request, pk):
        form = self.form(request.POST)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                done = self.perform(form.cleaned_data)
            except DomainError as exc:
                if getattr(exc, "field", None):  # a PIN refusal shows under the PIN the member typed
                    form.add_error(exc.field, f"{exc.detail} [{exc.code}]")
                    status = exc.http_status
                else:
                    status = add_domain_error(form, exc)
            else:
                messages.success(request, done)
                return redirect("lot-page", pk=self.lot.pk)
        return self.show(mark_invalid(form), status=status)

    def show(self, form, status=200):
        context = {"lot": self.lot, "form": form, "title": self.title, "button": self.button or self.title}
        return render_page(self.request, "custody/lot_action.html", context, status=status)

    def holder(self, member_no: str):
        return queries_lots.find_holder(self.request.user, self.lot, member_no)


class LotIssueView(LotFormView):
    form_class = forms_lots.IssueLotForm
    title = "Issue from the lot"
    button = "Issue"

    def form(self, data=None, **kwargs):
        return forms_lots.IssueLotForm(
            data, armories=queries_lots.stocking_armories(self.lot), pin_required=settings.MUSTER_REQUIRE_HANDOVER_PIN,
            **kwargs,
        )  # fmt: skip

    def perform(self, data):
        user = self.request.user
        member = queries.find_member(user, data["member_no"])
        lots.precheck_issue(lot=self.lot, member=member, quantity=data["quantity"], actor=user, armory=data["armory"],
                            due_at=data["due_at"])  # fmt: skip
        receiver = None
        if data["pin"]:  # checked outside the service's transaction, so a wrong PIN is logged and counted
            try:
                receiver = handover.confirm(member=member, pin=data["pin"], actor=user, purpose="lot_issue")
            except DomainError as exc:
                exc.field = "pin"
                raise
        event = lots.issue(lot=self.lot, member=member, quantity=data["quantity"], actor=user, armory=data["armory"],
                           due_at=data["due_at"], reason=data["reason"], receiver=receiver)  # fmt: skip
        return f"Issued {event.quantity} to {member} (ledger #{event.seq})."


class LotReturnView(LotFormView):
    title = "Take a quantity back"
    button = "Return"

    def perform(self, data):
        member = self.holder(data["member_no"])
        event = lots.return_quantity(lot=self.lot, member=member, quantity=data["quantity"], actor=self.request.user,
                                     armory=data["armory"], reason=data["reason"])  # fmt: skip
        return f"{event.quantity} returned by {member} (ledger #{event.seq})."


def expenditure(data) -> lots.Expenditure | None:
    return lots.Expenditure(data["justification"], data["reference"]) if data["justification"] else None


class LotSettleView(LotFormView):
    form_class = forms_lots.SettleLotForm
    title = "Settle a member's quantity"
    button = "Settle"

    def perform(self, data):
        member = self.holder(data["member_no"])
        result = lots.settle(lot=self.lot, member=member, returned=data["returned"], expended=data["expended"],
                             actor=self.request.user, expenditure=expenditure(data), armory=data["armory"],
                             place=data["place"])  # fmt: skip
        if result.loss_case is None:
            return f"{member} settled: everything returned or accounted as expended."
        case = result.loss_case
        # Safe HTML survives the message storage; the link leads to the case on the lot page.
        return format_html(
            '{} settled with a shortfall of {} (neither returned nor accounted as expended): '
            '<a href="{}#case-{}" data-testid="case-link">loss case #{}</a> opened.',
            member, case.quantity, reverse("lot-page", args=[self.lot.pk]), case.pk, case.pk,
        )  # fmt: skip


class LotExpendView(LotFormView):
    form_class = forms_lots.ExpendLotForm
    title = "Account a quantity as expended"
    button = "Expend"

    def armories(self):
        return queries_lots.stocking_armories(self.lot)

    def perform(self, data):
        member = self.holder(data["member_no"]) if data["member_no"].strip() else None
        event = lots.expend(lot=self.lot, quantity=data["quantity"], expenditure=expenditure(data),
                            actor=self.request.user, member=member, armory=data["from_armory"],
                            reason=data["reason"])  # fmt: skip
        return f"{event.quantity} accounted as expended (ledger #{event.seq})."


class LotLossView(LotFormView):
    form_class = forms_lots.LotLossForm
    roles = REPORTERS
    denied = "Only the unit's armorers, commanders and duty officers report losses."
    title = "Report a quantity lost"
    button = "Open a loss case"

    def armories(self):
        return queries_lots.stocking_armories(self.lot)

    def perform(self, data):
        member = self.holder(data["member_no"]) if data["member_no"].strip() else None
        case = lot_losses.report_loss(
            lot=self.lot, quantity=data["quantity"], kind=data["kind"], circumstances=data["circumstances"],
            occurred_at=data["occurred_at"], place=data["place"], actor=self.request.user, member=member,
            armory=data["from_armory"], police_report_no=data["police_report_no"],
        )  # fmt: skip
        return f"Loss case #{case.pk} opened for {case.quantity} of {self.lot}."


class LotRecallView(LotFormView):
    form_class = forms_lots.RecallLotForm
    roles = lots.LOT_MANAGERS
    denied = "Only the unit's armorers and commanders recall a lot."
    title = "Recall the lot"
    button = "Recall"

    def perform(self, data):
        lots.recall(lot=self.lot, actor=self.request.user, reason=data["reason"])
        return f"{self.lot} recalled; its holders are told to bring it back."


ACTION_VIEWS = {
    "issue": LotIssueView,
    "settle": LotSettleView,
    "return": LotReturnView,
    "expend": LotExpendView,
    "loss": LotLossView,
    "recall": LotRecallView,
}
