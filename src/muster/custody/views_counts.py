"""Web pages for armory counts: the armory page's count panel and history, the count page with its scanning, the
discrepancies and their resolution, and the submit and sign steps.

Split from views_controls (loss cases and maintenance), whose page helpers these share; the armory page and the
unit dashboard load the count panel from here (count_summary).
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Count as Tally
from django.db.models import F, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from muster.core.errors import DomainError
from muster.core.views import (
    FORM_ERROR_STATUS,
    add_domain_error,
    is_htmx,
    mark_invalid,
    page_lookup,
    paginate,
    query_without_page,
)
from muster.custody import counts, queries
from muster.custody.count_models import Count, Discrepancy
from muster.custody.forms_controls import ResolveForm, ScanForm
from muster.custody.models import Armory
from muster.custody.views_controls import _page
from muster.members import scope
from muster.members.models import Account

COUNTS_PER_PAGE = 25
OPEN_COUNT = [Count.Status.DUE, Count.Status.IN_PROGRESS, Count.Status.SUBMITTED]


def count_summary(user: Account, armory: Armory) -> dict:
    """The armory page's count panel: the open count if any, the last signed one, and whether one is due."""
    now = timezone.now()
    open_count = Count.objects.filter(armory=armory, status__in=OPEN_COUNT).select_related("counter").first()
    last = (
        Count.objects.filter(armory=armory, status=Count.Status.CLOSED)
        .select_related("counter", "signed_by")
        .annotate(discrepancy_total=Tally("discrepancies", distinct=True))
        .order_by("-signed_at")
        .first()
    )
    rules = counts.policy(armory)
    next_due = last.signed_at + counts.PERIOD[rules.frequency] if last else None
    return {
        "armory": armory,
        "open_count": open_count,
        "last_count": last,
        "rules": rules,
        "next_due": next_due,
        "due": (open_count is not None and open_count.status == Count.Status.DUE)
        or (open_count is None and (next_due is None or next_due <= now)),
        "can_start": scope.has_role(user, armory.unit, counts.COUNTERS)
        and (open_count is None or open_count.status == Count.Status.DUE),
        "now": now,
    }


class ArmoryCountsView(LoginRequiredMixin, View):
    """GET: the count panel (htmx) or the armory's count history page. POST: start a count."""

    def armory(self, request, code) -> Armory:
        with page_lookup():
            return queries.find_armory(request.user, code)

    def get(self, request, code):
        armory = self.armory(request, code)
        if is_htmx(request):
            return render(request, "custody/_count_panel.html", count_summary(request.user, armory))
        return self.show(armory)

    def post(self, request, code):
        armory = self.armory(request, code)
        try:
            count = counts.start(armory=armory, actor=request.user, reason=request.POST.get("reason") or "on demand")
        except DomainError as exc:
            return self.show(armory, error=exc, status=exc.http_status)
        return redirect("count-page", pk=count.pk)

    def show(self, armory, *, error=None, status=200):
        # Both joins in one query multiply rows (scans × discrepancies): every tally counts distinct ids.
        history = (
            Count.objects.filter(armory=armory)
            .select_related("counter", "signed_by")
            .annotate(
                discrepancy_total=Tally("discrepancies", distinct=True),
                unresolved_total=Tally("discrepancies", filter=Q(discrepancies__resolution=""), distinct=True),
                scan_total=Tally("scans", distinct=True),
            )
            .order_by(F("started_at").desc(nulls_first=True), "-pk")
        )
        context = {**count_summary(self.request.user, armory), "error": error}
        context.update(
            page_obj=paginate(self.request, history, COUNTS_PER_PAGE), query=query_without_page(self.request)
        )
        return _page(self.request, "custody/counts.html", context, status=status)


def visible_count(user: Account, pk: int) -> Count:
    count = queries.visible_counts(user).select_related("armory__unit", "counter", "signed_by").filter(pk=pk).first()
    if count is None:
        raise Http404("No such count in your units.")
    return count


def scan_context(user: Account, count: Count, form=None) -> dict:
    scans = list(count.scans.select_related("item__item_type", "scanned_by").order_by("-scanned_at", "-pk"))
    expected = set(count.expected)
    seen: dict[int, int] = {}
    for scan in reversed(scans):
        scan.expected = scan.item_id in expected
        if scan.rescan:  # scanned back to resolve a missing item: not part of the count itself
            continue
        seen[scan.item_id] = seen.get(scan.item_id, 0) + 1
        scan.repeat = scan.item_id is not None and seen[scan.item_id] > 1
    scanning = count.status == Count.Status.IN_PROGRESS and count.counter_id == user.pk
    return {
        "count": count,
        "scans": scans,
        "expected_total": len(expected),
        "expected_found": len(expected & set(seen)),
        # A refused scan keeps its box, so the refusal shows even to someone who may not scan.
        "scan_form": form if form is not None else (ScanForm() if scanning else None),
    }


def progress_context(user: Account, count: Count, discrepancies: list[Discrepancy]) -> dict:
    """What changes on the count page as discrepancies are resolved: the tally, the status, the signature."""
    unresolved = sum(1 for d in discrepancies if not d.resolution)
    return {
        "count": count,
        "unresolved": unresolved,
        "discrepancy_total": len(discrepancies),
        "awaiting_resolution": count.status == Count.Status.SUBMITTED and unresolved > 0,
        "can_sign": count.status == Count.Status.SUBMITTED
        and unresolved == 0
        and count.counter_id != user.pk
        and scope.has_role(user, count.armory.unit, counts.SIGNERS),
    }


def discrepancies_of(count: Count) -> list[Discrepancy]:
    return list(
        count.discrepancies.select_related(
            "item__item_type", "loss_case", "resolved_by", "found_scan__scanned_by"
        ).order_by("resolution", "kind", "pk")
    )


class CountView(LoginRequiredMixin, View):
    """The count page: scanning (for the counter), then the discrepancies, their resolution, and the signature."""

    def get(self, request, pk):
        return self.show(visible_count(request.user, pk))

    def show(self, count, *, status=200, error=None, scan_form=None, resolve_forms=None):
        user = self.request.user
        discrepancies = discrepancies_of(count)
        may_resolve = scope.has_role(user, count.armory.unit, counts.SIGNERS)
        for discrepancy in discrepancies:
            form = (resolve_forms or {}).get(discrepancy.pk)
            if form is None and may_resolve and not discrepancy.resolution:
                form = ResolveForm(discrepancy=discrepancy)
            discrepancy.form = form
        context = {
            **scan_context(user, count, scan_form),
            **progress_context(user, count, discrepancies),
            "discrepancies": discrepancies,
            "error": error,
        }
        return _page(self.request, "custody/count_detail.html", context, status=status)


class CountScanView(CountView):
    def post(self, request, pk):
        count = visible_count(request.user, pk)
        form = ScanForm(request.POST)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                counts.scan(count=count, code=form.cleaned_data["code"], actor=request.user)
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                if not is_htmx(request):
                    return redirect("count-page", pk=count.pk)
                return render(request, "custody/_count_scans.html", scan_context(request.user, count))
        mark_invalid(form)
        if is_htmx(request):
            return render(request, "custody/_count_scans.html", scan_context(request.user, count, form), status=status)
        return self.show(count, status=status, scan_form=form)


class CountStepView(CountView):
    """Submit (the counter) or sign (a second person): no input, only the service's verdict."""

    step = "submit"

    def post(self, request, pk):
        count = visible_count(request.user, pk)
        if self.step == "submit" and count.counter_id != request.user.pk:
            # counts.submit answers 409 for anyone but the counter; here, as for scanning, it is a matter of role.
            raise PermissionDenied("Only the counter submits the count.")
        try:
            getattr(counts, self.step)(count=count, actor=request.user)
        except DomainError as exc:
            return self.show(count, status=exc.http_status, error=exc)
        messages.success(request, "Count submitted." if self.step == "submit" else "Count signed.")
        return redirect("count-page", pk=count.pk)


class ResolveDiscrepancyView(CountView):
    """Resolve one discrepancy. Through htmx the answer is its row, plus (out of band) the page's tally of unresolved
    discrepancies, the count's status and its buttons, which the resolution may have changed."""

    def post(self, request, pk, discrepancy_pk):
        count = visible_count(request.user, pk)
        discrepancy = count.discrepancies.select_related("item__item_type").filter(pk=discrepancy_pk).first()
        if discrepancy is None:
            raise Http404("No such discrepancy in this count.")
        form = ResolveForm(request.POST, discrepancy=discrepancy)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                counts.resolve(discrepancy=discrepancy, actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                if is_htmx(request):
                    return self.row(visible_count(request.user, pk), discrepancy.pk)
                return redirect("count-page", pk=count.pk)
        mark_invalid(form)
        if is_htmx(request):
            discrepancy.form = form
            context = {"discrepancy": discrepancy, "count": count}
            return render(request, "custody/_count_discrepancy.html", context, status=status)
        return self.show(count, status=status, resolve_forms={discrepancy.pk: form})

    def row(self, count: Count, discrepancy_pk: int):
        discrepancies = discrepancies_of(count)
        resolved = next(d for d in discrepancies if d.pk == discrepancy_pk)
        context = {
            **scan_context(self.request.user, count),
            **progress_context(self.request.user, count, discrepancies),
            "discrepancy": resolved,
        }
        return render(self.request, "custody/_count_resolved.html", context)
