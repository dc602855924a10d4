"""Web pages for per-unit custody policy: an overview of the caller's units and one page per unit.

Thin: the unit is looked up in the caller's units (another unit's answers 404, a member without a staff role 403),
commanders of the unit or above edit it through custody.policy.set_unit_policy, everyone else reads.
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from muster.core.errors import DomainError
from muster.core.views import FORM_ERROR_STATUS, add_domain_error, is_staff, mark_invalid, nav_flags, page_lookup
from muster.custody import policy
from muster.custody.forms_policy import UnitPolicyForm, shown
from muster.members import scope
from muster.members.models import Unit


def _page(request, template: str, context: dict, status: int = 200):
    return render(request, template, {"nav": nav_flags(request.user), **context}, status=status)


def policy_rows(unit: Unit, rules: policy.EffectivePolicy) -> list[dict]:
    """One row per setting: its label, the value in force and where it comes from."""
    return [
        {
            "name": name,
            "label": policy.LABELS[name],
            "value": shown(getattr(rules, name)),
            "source": policy.source_label(unit, rules.sources[name]),
            "set_here": rules.sources[name] is not None and rules.sources[name].pk == unit.pk,
        }
        for name in policy.FIELDS
    ]


class UnitPolicyIndexView(LoginRequiredMixin, View):
    """Every unit where the caller holds a staff role, with the rules in force there."""

    def get(self, request):
        if not is_staff(request.user):
            raise PermissionDenied("Custody policies are for unit staff.")
        units = list(scope.units(request.user, scope.STAFF_ROLES).order_by("path"))
        rules = policy.effective_many(units)
        rows = [{"unit": unit, "rules": policy_rows(unit, rules[unit.pk])} for unit in units]
        return _page(request, "custody/unit_policies.html", {"rows": rows, "labels": policy.LABELS})


class UnitPolicyView(LoginRequiredMixin, View):
    """GET: the rules in force for the unit and where each comes from. POST (commanders): change its own settings."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        with page_lookup():
            self.unit = policy.visible_unit(request.user, kwargs["code"])
        self.can_edit = policy.may_edit(request.user, self.unit)
        return super().dispatch(request, *args, **kwargs)

    def form(self, data=None) -> UnitPolicyForm:
        above = policy.effective(self.unit.parent)  # what applies here when a field is left empty
        inherited = {
            name: (getattr(above, name), policy.source_label(self.unit, above.sources[name])) for name in policy.FIELDS
        }
        initial = UnitPolicyForm.initial_from(policy.own_settings(self.unit))
        return UnitPolicyForm(data, initial=initial, inherited=inherited)

    def get(self, request, code):
        return self.show(self.form() if self.can_edit else None)

    def post(self, request, code):
        if not self.can_edit:
            raise PermissionDenied(f"Only a commander of {self.unit.code} or above changes its custody policy.")
        form = self.form(request.POST)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                policy.set_unit_policy(unit=self.unit, actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                if getattr(exc, "field", None) in form.fields:
                    form.add_error(exc.field, f"{exc.detail} [{exc.code}]")
                    status = exc.http_status
                else:
                    status = add_domain_error(form, exc)
            else:
                messages.success(request, f"Custody policy of {self.unit.code} saved.")
                return redirect(reverse("unit-custody-policy", args=[self.unit.code]))
        return self.show(mark_invalid(form), status=status)

    def show(self, form, status=200):
        rules = policy.effective(self.unit)
        context = {"unit": self.unit, "rows": policy_rows(self.unit, rules), "form": form, "can_edit": self.can_edit}
        return _page(self.request, "custody/unit_policy.html", context, status=status)
