"""Stock coming onto the lot books from outside: a delivery received into a store, a lost quantity recovered.

As views_lots: look up within the caller's units (404), check the role (403), call custody.lots (a delivery) or
custody.lot_losses (a recovery), show a refusal on the form with its code.
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils import timezone
from django.views import View

from muster.core.errors import DomainError
from muster.core.views import FORM_ERROR_STATUS, PageMixin, add_domain_error, is_armorer, mark_invalid, page_lookup
from muster.custody import forms_lots, lot_losses, lots, queries_lots
from muster.custody.views_lots import ARMORERS, render_page
from muster.members import scope


class LotReceiveView(PageMixin, View):
    """A delivery into a store; the lot is created with its first delivery."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_armorer(request.user):
            raise PermissionDenied("Only armorers take deliveries in.")
        return super().dispatch(request, *args, **kwargs)

    def form(self, data=None):
        user = self.request.user
        return forms_lots.ReceiveLotForm(
            data, armories=queries_lots.armorer_stores(user).order_by("code"), item_types=queries_lots.lot_types()
        )

    def get(self, request):
        return self.show(self.form())

    def post(self, request):
        form = self.form(request.POST)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            data = form.cleaned_data
            try:
                event = lots.receive(item_type=data["item_type"], lot_number=data["lot_number"],
                                     armory=data["armory"], quantity=data["quantity"], actor=request.user,
                                     delivery_ref=data["delivery_ref"])  # fmt: skip
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(
                    request, f"{event.quantity} received into {data['armory'].code} (ledger #{event.seq})."
                )
                return redirect("lot-page", pk=event.lot_id)
        return self.show(mark_invalid(form), status=status)

    def show(self, form, status=200):
        context = {"lot": None, "form": form, "title": "Receive a delivery", "button": "Receive"}
        return render_page(self.request, "custody/lot_action.html", context, status=status)


class LotRecoverView(LoginRequiredMixin, View):
    """Part or all of a lost lot quantity is back; the case closes when all of it is."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        with page_lookup():
            self.case = queries_lots.find_lot_case(request.user, kwargs["pk"])
        if not scope.has_role(request.user, self.case.lot.home_armory.unit, ARMORERS):
            raise PermissionDenied("Only the unit's armorers take a recovered quantity back in.")
        return super().dispatch(request, *args, **kwargs)

    def form(self, data=None):
        initial = {"armory": self.case.lot.home_armory_id}
        return forms_lots.RecoverLotForm(data, initial=initial, armories=queries_lots.armorer_stores(self.request.user))

    def get(self, request, pk):
        return self.show(self.form())

    def post(self, request, pk):
        form = self.form(request.POST)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            data = form.cleaned_data
            try:
                event = lot_losses.recover(case=self.case, quantity=data["quantity"], armory=data["armory"],
                                           actor=request.user, notes=data["notes"])  # fmt: skip
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(
                    request, f"{event.quantity} recovered into {data['armory'].code} (ledger #{event.seq})."
                )
                return redirect("lot-page", pk=self.case.lot_id)
        return self.show(mark_invalid(form), status=status)

    def show(self, form, status=200):
        context = {"case": self.case, "lot": self.case.lot, "form": form, "now": timezone.now()}
        return render_page(self.request, "custody/lot_recover.html", context, status=status)
