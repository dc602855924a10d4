"""Web pages for the roster: the member list and a member's page.

Other apps add sections to the member page (custody adds what the member holds and their custody history) through
`member_page_sections`, so this app never imports them: the dependency arrow keeps pointing from custody to members.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest
from django.utils import timezone
from django.views.generic import TemplateView

from muster.core.errors import NotFound
from muster.core.views import (
    PageMixin,
    StaffRequiredMixin,
    bootstrap,
    name_empty_choices,
    page_lookup,
    paginate,
    query_without_page,
)
from muster.members import scope
from muster.members.filters import MemberFilterSet
from muster.members.models import Member

MEMBERS_PER_PAGE = 50


@dataclass
class Section:
    """A block of the member page: a template and what it needs."""

    template: str
    context: dict = field(default_factory=dict)
    actions: list[tuple[str, str]] = field(default_factory=list)  # (label, url) buttons in the page header


# Each callable takes (request, member) and returns a Section, or None to add nothing.
member_page_sections: list[Callable[[HttpRequest, Member], Section | None]] = []


def add_member_page_section(build: Callable[[HttpRequest, Member], Section | None]):
    if build not in member_page_sections:
        member_page_sections.append(build)
    return build


def find_visible_member(account, member_no: str) -> Member:
    member = scope.visible_members(account).filter(member_no=member_no).select_related("unit").first()
    if member is None:
        raise NotFound(f"No member with number {member_no!r} in your units.", code="member_not_found")
    return member


class MemberListView(StaffRequiredMixin, TemplateView):
    template_name = "members/member_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        members = scope.visible_members(self.request.user).select_related("unit")
        filterset = MemberFilterSet(self.request.GET, queryset=members)
        bootstrap(filterset.form)
        name_empty_choices(filterset.form, {"status": "Any status"})
        context.update(
            filter=filterset,
            page_obj=paginate(self.request, filterset.qs, MEMBERS_PER_PAGE),
            query=query_without_page(self.request),
        )
        return context


class MemberDetailView(PageMixin, TemplateView):
    template_name = "members/member_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        with page_lookup():
            member = find_visible_member(user, kwargs["member_no"])
        sections = [section for build in member_page_sections if (section := build(self.request, member))]
        context.update(
            member=member,
            show_phone=bool(scope.roles_on(user, member.unit) & scope.STAFF_ROLES),
            sections=sections,
            actions=[action for section in sections for action in section.actions],
            now=timezone.now(),
        )
        return context
