"""Web pages for the custody controls: loss cases, maintenance and inspections (counts are in views_counts).

Thin as the counter views: look the object up in the account's units (another unit's answers 404), check the role
for the page (403), call the service, and show a DomainError on the form with its status. The item page loads its
panel from here with htmx (item-controls), so views.py needs no change.
"""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from muster.core.errors import DomainError
from muster.core.views import (
    FORM_ERROR_STATUS,
    add_domain_error,
    is_htmx,
    is_staff,
    mark_invalid,
    nav_flags,
    paginate,
    query_without_page,
)
from muster.custody import losses, maintenance, queries
from muster.custody.forms_controls import (
    LossReportForm,
    PoliceReportForm,
    ReceiveForm,
    RecoverForm,
    SendForm,
)
from muster.custody.models import Armory, HolderKind, Item, LossCase
from muster.members import scope
from muster.members.models import Account, Role

CASES_PER_PAGE = 50
INSPECTIONS_PER_PAGE = 50


def _page(request, template: str, context: dict, status: int = 200):
    return render(request, template, {"nav": nav_flags(request.user), **context}, status=status)


def _require_staff(user: Account) -> None:
    if not is_staff(user):
        raise PermissionDenied("This page is for unit staff.")


def visible_item(user: Account, pk: int) -> Item:
    item = (
        queries.visible_items(user)
        .select_related("item_type", "home_armory__unit", "holder_armory__unit", "holder_member")
        .filter(pk=pk)
        .first()
    )
    if item is None:
        raise Http404("No such item in your units.")
    return item


def stores_for(user: Account):
    """The stores an account may bring items into: those of the units where it is an armorer."""
    return Armory.objects.filter(kind=Armory.Kind.STORE).filter(scope.units_q(user, {Role.ARMORER}, field="unit__path"))


def workshops_for(item: Item):
    """Workshops of the item's unit tree: its own unit, the units above it, and the units below it."""
    unit = item.home_armory.unit
    above = [int(part) for part in unit.path.strip("/").split("/")]
    return Armory.objects.filter(kind=Armory.Kind.WORKSHOP).filter(
        Q(unit_id__in=above) | Q(unit__path__startswith=unit.path)
    )


# --- the item page's panel and its forms -----------------------------------------------------------------------------


def item_controls(user: Account, item: Item) -> dict:
    cases = list(LossCase.objects.filter(item=item).order_by("-opened_at")[:5])
    case = next((c for c in cases if c.is_open), None)
    in_store = item.holder_kind == HolderKind.ARMORY and item.holder_armory.kind == Armory.Kind.STORE
    in_workshop = item.holder_kind == HolderKind.ARMORY and item.holder_armory.kind == Armory.Kind.WORKSHOP
    interval = item.item_type.inspection_interval_days
    return {
        "item": item,
        "case": case,
        "cases": cases,
        "in_workshop": in_workshop,
        "next_inspection": item.last_inspected_on + timedelta(days=interval)
        if interval and item.last_inspected_on
        else None,
        "today": timezone.localdate(),
        "can_report": case is None and scope.has_role(user, item.home_armory.unit, losses.REPORTERS),
        "can_send": case is None and in_store and scope.has_role(user, item.holder_armory.unit, {Role.ARMORER}),
        "can_receive": in_workshop and scope.has_role(user, item.home_armory.unit, {Role.ARMORER}),
    }


class ItemControlsView(LoginRequiredMixin, View):
    """Loss cases, maintenance and inspection of one item: a panel on the item page (htmx) or a page of its own."""

    def get(self, request, pk):
        context = item_controls(request.user, visible_item(request.user, pk))
        if is_htmx(request):
            return render(request, "custody/_loss_item_controls.html", context)
        return _page(request, "custody/loss_item_controls.html", context)


class ItemFormView(LoginRequiredMixin, View):
    """A form about one item: GET shows it, POST calls the service and goes back to the item page."""

    template_name = "custody/maintenance_form.html"
    form_class = LossReportForm
    roles = frozenset({Role.ARMORER})
    denied = "Only the unit's armorers do this."
    title = ""
    done = ""

    def form(self, item, data=None):
        return self.form_class(data)

    def perform(self, item, data):
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.item = visible_item(request.user, kwargs["pk"])
        if not scope.has_role(request.user, self.item.home_armory.unit, self.roles):
            raise PermissionDenied(self.denied)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, pk):
        return self.show(self.form(self.item))

    def post(self, request, pk):
        form = self.form(self.item, request.POST)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                result = self.perform(self.item, form.cleaned_data)
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(request, self.done.format(item=self.item))
                return redirect(self.success_url(result))
        return self.show(mark_invalid(form), status=status)

    def success_url(self, result) -> str:
        return reverse("item-page", args=[self.item.pk])

    def show(self, form, status=200):
        context = {"item": self.item, "form": form, "title": self.title}
        return _page(self.request, self.template_name, context, status=status)


class ReportLossView(ItemFormView):
    template_name = "custody/loss_report.html"
    form_class = LossReportForm
    roles = losses.REPORTERS
    denied = "Only the unit's armorers, commanders and duty officers report losses."
    title = "Report a loss"
    done = "Loss case opened for {item}."

    def perform(self, item, data):
        return losses.open_case(item=item, actor=self.request.user, **data)

    def success_url(self, case):
        return reverse("loss-page", args=[case.pk])


class SendForMaintenanceView(ItemFormView):
    title = "Send for maintenance"
    done = "{item} sent for maintenance."

    def form(self, item, data=None):
        return SendForm(data, workshops=workshops_for(item))

    def perform(self, item, data):
        return maintenance.send(item=item, actor=self.request.user, **data)


class ReceiveFromMaintenanceView(ItemFormView):
    title = "Receive from maintenance"
    done = "{item} is back from maintenance."

    def form(self, item, data=None):
        return ReceiveForm(data, stores=stores_for(self.request.user))

    def perform(self, item, data):
        return maintenance.receive(item=item, actor=self.request.user, **data)


class InspectionListView(LoginRequiredMixin, View):
    """Items due for inspection in the account's units, never-inspected and longest-overdue first."""

    def get(self, request):
        _require_staff(request.user)
        items = maintenance.due_for_inspection(queries.visible_items(request.user)).select_related(
            "item_type", "home_armory", "holder_armory", "holder_member"
        )
        page_obj = paginate(request, items, INSPECTIONS_PER_PAGE)
        for item in page_obj:
            days = item.item_type.inspection_interval_days
            item.due_on = item.last_inspected_on + timedelta(days=days) if item.last_inspected_on else None
        context = {"page_obj": page_obj, "query": query_without_page(request), "now": timezone.now()}
        return _page(request, "custody/maintenance_inspections.html", context)


# --- loss cases ------------------------------------------------------------------------------------------------------


class LossListView(LoginRequiredMixin, View):
    """Every case of the account's units: open and escalated first, nearest deadline first; then the closed ones."""

    def get(self, request):
        _require_staff(request.user)
        cases = queries.visible_loss_cases(request.user).select_related(
            "item__item_type", "item__home_armory", "lot__item_type", "lot__home_armory", "last_member",
            "last_armory", "opened_by",
        )  # fmt: skip
        if request.GET.get("show") == "open":
            cases = cases.filter(closed_at=None)
        cases = cases.order_by(F("closed_at").desc(nulls_first=True), "deadline", "pk")
        page_obj = paginate(request, cases, CASES_PER_PAGE)
        context = {"page_obj": page_obj, "query": query_without_page(request), "now": timezone.now()}
        context["show"] = request.GET.get("show", "")
        return _page(request, "custody/losses.html", context)


class LossCaseView(LoginRequiredMixin, View):
    """The case page; its two forms post to the same address with `action` = report or recover."""

    def case(self, request, pk) -> LossCase:
        cases = queries.visible_loss_cases(request.user).select_related(
            "item__item_type", "item__home_armory__unit", "lot__item_type", "lot__home_armory__unit", "last_member",
            "last_armory", "opened_by", "closed_by", "opened_event", "closed_event",
        )  # fmt: skip
        case = cases.filter(pk=pk).first()
        if case is None:
            raise Http404("No such loss case in your units.")
        return case

    def get(self, request, pk):
        return self.show(self.case(request, pk))

    def post(self, request, pk):
        case = self.case(request, pk)
        user, action = request.user, request.POST.get("action")
        if action == "report":
            form, perform = PoliceReportForm(request.POST), losses.record_report_to_authorities
            forms, done = {"report_form": form}, "Police report number recorded."
        elif action == "recover" and case.item_id:
            if not scope.has_role(user, case.item.home_armory.unit, {Role.ARMORER}):
                raise PermissionDenied("Only the unit's armorers take a recovered item back in.")
            form = RecoverForm(request.POST, armories=stores_for(user))
            forms, done = {"recover_form": form}, f"{case.item} recovered; the case is closed."

            def perform(*, case, actor, armory, condition, notes):
                return losses.recover(case=case, actor=actor, armory=armory, notes=notes, condition=condition or None)
        else:
            raise Http404("Unknown action.")
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                perform(case=case, actor=user, **form.cleaned_data)
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(request, done)
                return redirect("loss-page", pk=case.pk)
        mark_invalid(form)
        return self.show(case, status=status, **forms)

    def show(self, case, *, status=200, report_form=None, recover_form=None):
        user = self.request.user
        home = (case.item or case.lot).home_armory  # a case is about an item or a quantity of a lot
        may_report = case.is_open and scope.has_role(user, home.unit, losses.REPORTERS)
        may_recover = case.is_open and scope.has_role(user, home.unit, {Role.ARMORER})
        if may_recover and case.item_id and recover_form is None:
            recover_form = RecoverForm(armories=stores_for(user), initial={"armory": home.pk})
        context = {
            "case": case,
            # A lot quantity comes back in parts, on the lot's own recovery form.
            "lot_recover_url": reverse("lot-recover", args=[case.pk]) if may_recover and case.lot_id else "",
            "now": timezone.now(),
            "report_form": report_form or (PoliceReportForm() if may_report else None),
            "recover_form": recover_form if may_recover and case.item_id else None,
        }
        return _page(self.request, "custody/loss_detail.html", context, status=status)
