"""The expiry report: who loses which qualification when, within N days, with CSV and XLSX downloads."""

from dataclasses import dataclass
from datetime import date

from django.shortcuts import render
from django.utils import timezone
from django.views import View

from muster.core import exports
from muster.core.views import FORM_ERROR_STATUS, StaffRequiredMixin, download, nav_flags
from muster.members import scope
from muster.members.models import Account, Member, Unit
from muster.training import queries
from muster.training.forms import ExpiringFilterForm
from muster.training.models import Qualification
from muster.training.views import find_visible_unit

DEFAULT_DAYS = 30
EXPORT_HEADER = ["Member number", "Last name", "First name", "Unit", "Qualification", "Expires on", "Days left"]


@dataclass(frozen=True)
class ExpiryRow:
    member: Member
    qualification: Qualification
    expires: date
    days_left: int


def expiry_rows(account: Account, *, days: int, unit: Unit | None) -> list[ExpiryRow]:
    """Three queries whatever the number of rows: the expiries, then their members and qualifications."""
    members = scope.visible_members(account).filter(scope.units_q(account, scope.STAFF_ROLES, field="unit__path"))
    if unit is not None:
        members = members.filter(unit__path__startswith=unit.path)
    today = timezone.localdate()
    found = list(queries.expiring(members, within_days=days, today=today))
    people = Member.objects.select_related("unit").in_bulk({row["member_id"] for row in found})
    qualifications = Qualification.objects.in_bulk({row["qualification_id"] for row in found})
    rows = [
        ExpiryRow(
            member=people[row["member_id"]],
            qualification=qualifications[row["qualification_id"]],
            expires=row["expires"],
            days_left=(row["expires"] - today).days,
        )
        for row in found
    ]
    rows.sort(key=lambda row: (row.expires, row.member.last_name, row.member.first_name, row.qualification.name))
    return rows


class ExpiringView(StaffRequiredMixin, View):
    template_name = "training/expiring.html"

    def get(self, request):
        params = request.GET.copy()
        params.setdefault("days", str(DEFAULT_DAYS))
        form = ExpiringFilterForm(params)
        if not form.is_valid():
            return self.render(form, rows=[], status=FORM_ERROR_STATUS)
        days = form.cleaned_data["days"] if form.cleaned_data["days"] is not None else DEFAULT_DAYS
        code = form.cleaned_data["unit"].strip()
        unit = find_visible_unit(request.user, code) if code else None
        rows = expiry_rows(request.user, days=days, unit=unit)
        export = request.GET.get("export")
        if export in exports.FORMATS:
            table = exports.Table(title="Expiring qualifications", header=EXPORT_HEADER, scope=self.scope(unit))
            for row in rows:
                member = row.member
                table.rows.append([member.member_no, member.last_name, member.first_name, member.unit.code,
                                   row.qualification.name, row.expires, row.days_left])  # fmt: skip
            stem = f"expiring-qualifications-{timezone.localdate():%Y-%m-%d}-{days}d" + (
                f"-{unit.code}" if unit else ""
            )
            return download(request, table, file_format=export, stem=stem)
        return self.render(form, rows=rows, days=days, unit=unit)

    @staticmethod
    def scope(unit: Unit | None) -> str:
        return f"unit {unit.code} and below" if unit else "the account's units"

    def render(self, form, *, rows, days=None, unit=None, status=200):
        query = self.request.GET.copy()
        query.pop("export", None)
        context = {
            "nav": nav_flags(self.request.user),
            "form": form,
            "rows": rows,
            "days": days,
            "unit": unit,
            "query": query.urlencode(),
        }
        return render(self.request, self.template_name, context, status=status)
