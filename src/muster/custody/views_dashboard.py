"""The unit dashboard page, and the same panels on the armory page (numbers from custody.dashboard).

The items-out chart is drawn here as SVG: no script, and colours set with SVG presentation attributes (fill,
stroke), which the Content Security Policy's style-src does not govern — so no inline style attribute is needed.
A table of the same numbers follows it for screen readers and for anyone who prefers figures.
"""

import math
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from muster.core.views import PageMixin, page_lookup
from muster.custody import dashboard
from muster.custody.models import Armory
from muster.custody.views_counts import count_summary
from muster.custody.views_receipts import BADGE_PRINTERS
from muster.custody.views_reports import mark_returnable
from muster.members import scope
from muster.members.models import Account, Unit

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 30, 12, 40  # room for the tick labels and the axis titles


def staff_unit(account: Account, code: str) -> Unit:
    """A unit the account holds a staff role on (or on a unit above it); any other answers 404."""
    with page_lookup():
        return dashboard.find_unit(account, code)


@dataclass
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    middle: int  # of the x axis, for its title
    line: str  # polyline points
    area: str  # polygon points: the line closed along the x axis
    y_ticks: list[tuple[str, int]]
    x_ticks: list[tuple[str, str]]
    title: str
    desc: str
    series: list[dashboard.DayPoint]


def _y_step(highest: int) -> int:
    """A round tick step (1, 2, 5 × 10^k) giving at most four intervals up to `highest`."""
    if highest <= 4:
        return 1
    magnitude = 10 ** int(math.log10(highest / 4))
    for factor in (1, 2, 5, 10):
        if highest / (factor * magnitude) <= 4:
            return factor * magnitude
    return 10 * magnitude


def chart(series: list[dashboard.DayPoint], *, subject: str) -> Chart:
    """Coordinates of the items-out line in a WIDTH × HEIGHT view box: x by day, y by number out."""
    values = [point.out for point in series]
    highest = max([*values, 1])
    step = _y_step(highest)
    top_value = step * math.ceil(highest / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max(len(series) - 1, 1)

    # Coordinates as strings, so the template's number localisation can never put a decimal comma into the SVG.
    def x(index: int) -> str:
        return f"{LEFT + plot_w * index / span:.1f}"

    def y(value: int) -> str:
        return f"{TOP + plot_h * (1 - value / top_value):.1f}"

    coords = [(x(i), y(point.out)) for i, point in enumerate(series)]
    line = " ".join(f"{px},{py}" for px, py in coords)
    base = TOP + plot_h
    area = f"{coords[0][0]},{base} {line} {coords[-1][0]},{base}" if coords else ""
    every = 7 if len(series) <= 31 else 14  # weekly labels on 30 days, fortnightly on 90, counted back from today
    x_ticks = [(x(i), f"{p.day:%d %b}") for i, p in enumerate(series) if (len(series) - 1 - i) % every == 0]
    y_ticks = [(y(value), value) for value in range(0, top_value + 1, step)]
    first, last = series[0], series[-1]
    desc = (
        f"Items held by members at the end of each day from {first.day:%d %b %Y} to {last.day:%d %b %Y} (today: now). "
        f"Lowest {min(values)}, highest {max(values)}, now {last.out}."
    )
    return Chart(
        width=WIDTH, height=HEIGHT, left=LEFT, right=WIDTH - RIGHT, top=TOP, bottom=base, middle=LEFT + plot_w // 2,
        line=line, area=area, y_ticks=y_ticks, x_ticks=x_ticks, desc=desc, series=series,
        title=f"Items out over the last {len(series)} days — {subject}",
    )  # fmt: skip


def day_links(request: HttpRequest, days: int) -> list[tuple[int, str, bool]]:
    """The 30 / 90 days switch: plain links keeping the page's other query parameters."""
    links = []
    for choice in dashboard.CHART_DAYS:
        params = request.GET.copy()
        params.pop("page", None)
        params["days"] = str(choice)
        links.append((choice, f"?{params.urlencode()}", choice == days))
    return links


def panels(request: HttpRequest, board: dashboard.Dashboard, *, subject: str) -> dict:
    """The context every dashboard panel template reads."""
    mark_returnable(request.user, board.recalls)
    return {
        "board": board,
        "chart": chart(board.series, subject=subject),
        "days": board.days,
        "day_links": day_links(request, board.days),
        "now": board.now,
    }


def armory_panels(request: HttpRequest, armory: Armory) -> dict:
    """The armory page's dashboard panels: states, overdue, open loss cases, the chart, and its count panel."""
    board = dashboard.armory_dashboard(armory, days=dashboard.chart_days(request.GET.get("days")))
    context = count_summary(request.user, armory)
    context.update(panels(request, board, subject=armory.name))
    return context


class UnitDashboardView(PageMixin, TemplateView):
    """One unit and everything below it: items by state, per armory with its counts; what is overdue (items and lot
    quantities), recalled or lost; items out over time; links to the key register and the members' badge sheet.
    Staff of the unit or a unit above it; anyone else gets 404."""

    template_name = "custody/unit_dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        unit = staff_unit(self.request.user, kwargs["code"])
        board = dashboard.unit_dashboard(unit, days=dashboard.chart_days(self.request.GET.get("days")))
        context.update(panels(self.request, board, subject=unit.name))
        context.update(
            unit=unit,
            # The badge label sheet (views_receipts.UnitBadgesView) is for the people who hand out and check badges.
            can_print_badges=scope.has_role(self.request.user, unit, BADGE_PRINTERS),
            sub_units=list(unit.children.order_by("code")),
            # The units above, as far as the account may see them, for the breadcrumb.
            above=list(scope.units(self.request.user, scope.STAFF_ROLES).filter(pk__in=ancestor_ids(unit))),
        )
        return context


def top_units(account: Account):
    """The highest units the account holds a staff role on (the roots for a superuser): the home page links their
    dashboards, and each dashboard links the units below."""
    if scope.is_global(account):
        return Unit.objects.filter(parent=None).order_by("code")
    return Unit.objects.filter(path__in=scope.unit_paths(account, scope.STAFF_ROLES)).order_by("path")


def ancestor_ids(unit: Unit) -> list[int]:
    return [int(part) for part in unit.path.strip("/").split("/") if part and int(part) != unit.pk]


class MyDashboardView(PageMixin, View):
    """/dashboard/: the navbar's way in — the dashboard of the account's highest staff unit (its key register with
    ?keys), so the navbar needs no unit lookup of its own. Staff only (a member: 403)."""

    def get(self, request):
        from muster.core.views import is_staff

        if not is_staff(request.user):
            raise PermissionDenied("The unit dashboard is for staff.")
        unit = top_units(request.user).first()
        if unit is None:
            raise Http404("No unit to show.")
        return redirect("unit-keys" if "keys" in request.GET else "unit-dashboard", code=unit.code)
