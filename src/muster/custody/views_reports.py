"""Custody lists that are reports rather than counters: open recalls, and the issues a commander overrode."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from muster.core import exports
from muster.core.views import OVERRIDE_READERS, download, has_role_anywhere, nav_flags, paginate, query_without_page
from muster.custody import queries
from muster.custody.models import LedgerEvent, Recall
from muster.members import scope
from muster.members.models import Account, Role

OVERRIDES_PER_PAGE = 50
OVERRIDES_HEADER = ["Seq", "Time", "Item type", "Serial", "Member number", "Member", "Armorer", "Commander", "Codes",
                    "Reason"]  # fmt: skip


def open_recalls(account: Account):
    """Open recalls of items homed in the account's units (staff roles), oldest first; `can_return` per row is
    decided in the template from the item's armory unit, already loaded here."""
    return (
        Recall.objects.filter(resolved_at=None)
        .filter(scope.units_q(account, scope.STAFF_ROLES, field="item__home_armory__unit__path"))
        .select_related("item__item_type", "item__home_armory__unit", "member")
        .order_by("raised_at", "pk")
    )


def mark_returnable(account: Account, recalls: list[Recall]) -> list[Recall]:
    """Which rows get a Return button: the account is an armorer of the item's home unit (no extra queries)."""
    for recall in recalls:
        recall.can_return = scope.has_role(account, recall.item.home_armory.unit, {Role.ARMORER})
    return recalls


def override_events(account: Account):
    """Issues that went ahead on a commander's countersign, in the units where the account commands or audits."""
    return (
        queries.visible_events(account)
        .filter(data__has_key="override")
        .filter(scope.units_q(account, OVERRIDE_READERS, field="item__home_armory__unit__path"))
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
