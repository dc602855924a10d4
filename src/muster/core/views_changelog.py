"""The change log on the web: /changes/ for commanders and auditors (their units' records and site-wide ones), and a
"Record history" card on the member page for the same readers."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views import View

from muster.core import changelog
from muster.core.filters_changelog import ChangeRecordFilterSet
from muster.core.views import bootstrap, nav_flags, paginate, query_without_page
from muster.members import scope
from muster.members.models import Member
from muster.members.views import Section, add_member_page_section

CHANGES_PER_PAGE = 50
MEMBER_CARD_CHANGES = 5


class ChangesView(LoginRequiredMixin, View):
    template_name = "core/changes.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not changelog.is_reader(request.user):
            raise PermissionDenied("The change log is for commanders and auditors.")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        records = changelog.visible_changes(request.user).select_related("unit").order_by("-at", "-pk")
        filterset = ChangeRecordFilterSet(request.GET, queryset=records)
        bootstrap(filterset.form)
        for name in ("since", "until"):
            filterset.form.fields[name].widget.input_type = "date"
        valid = filterset.is_valid()  # a filter that cannot be read lists nothing, rather than ignoring it
        page_obj = paginate(request, filterset.qs if valid else records.none(), CHANGES_PER_PAGE)
        context = {
            "nav": nav_flags(request.user),
            "filter": filterset,
            "page_obj": page_obj,
            "query": query_without_page(request),
            "invalid": not valid,
        }
        return render(request, self.template_name, context, status=200 if valid else 400)


def member_history_url(member: Member) -> str:
    return f"{reverse('changes')}?{urlencode({'member': member.member_no})}"


@add_member_page_section
def member_history_section(request: HttpRequest, member: Member) -> Section | None:
    """The latest changes to the member and their records, for the readers of the change log of the member's unit."""
    if not scope.has_role(request.user, member.unit, changelog.READERS):
        return None
    key = {"type": Member._meta.label_lower, "id": str(member.pk)}
    records = changelog.visible_changes(request.user).filter(
        object_type=key["type"], object_id=key["id"]
    ) | changelog.visible_changes(request.user).filter(related_type=key["type"], related_id=key["id"])
    latest = list(records.order_by("-at", "-pk")[:MEMBER_CARD_CHANGES])
    return Section(
        template="core/changes_member_section.html",
        context={"changes": latest, "history_url": member_history_url(member)},
    )
