"""Web pages for the roster: the member list, a member's page, and the commander's lifecycle actions on it.

Other apps add sections to the member page (custody adds what the member holds and their custody history) through
`member_page_sections`, so this app never imports them: the dependency arrow keeps pointing from custody to members.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from muster.core.errors import DomainError, NotFound
from muster.core.views import (
    FORM_ERROR_STATUS,
    StaffRequiredMixin,
    add_domain_error,
    bootstrap,
    mark_invalid,
    name_empty_choices,
    nav_flags,
    page_lookup,
    paginate,
    query_without_page,
)
from muster.members import scope, services
from muster.members.contact import may_see_contact
from muster.members.filters import MemberFilterSet
from muster.members.forms import DisciplinaryForm, StatusChangeForm, VettingForm
from muster.members.models import Member, Role

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


def page_forms(request: HttpRequest) -> dict[str, Form]:
    """Bound forms that failed, keyed by name, for the member page re-rendered after a refused action."""
    return getattr(request, "member_page_forms", {})


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


# Who reads the disciplinary record and vetting notes: the commanders who keep it and the auditors who check it.
RECORD_READERS = frozenset({Role.COMMANDER, Role.AUDITOR})


def render_member_page(
    request: HttpRequest, member: Member, *, forms: dict[str, Form] | None = None, status: int = 200
) -> HttpResponse:
    """The member page; after a refused action, with that action's bound form (and its errors) in place."""
    user = request.user
    request.member_page_forms = forms or {}
    roles = scope.roles_on(user, member.unit)
    commander = Role.COMMANDER in roles
    reader = bool(roles & RECORD_READERS)
    sections = [section for build in member_page_sections if (section := build(request, member))]
    bound = page_forms(request)
    context = {
        "nav": nav_flags(user),
        "member": member,
        # Phone and e-mail: the member, commanders and auditors of the unit (members.contact), not all staff.
        "show_contact": may_see_contact(user, member),
        "sections": sections,
        "actions": [action for section in sections for action in section.actions],
        "now": timezone.now(),
        "status_changes": list(member.status_changes.select_related("changed_by")),
        "vettings": list(member.vettings.select_related("vetted_by")),
        "show_record_notes": reader,
        "disciplinary": list(member.disciplinary_entries.select_related("recorded_by")) if reader else None,
        "is_commander": commander,
    }
    if commander:
        context.update(
            status_form=bound.get("status") or StatusChangeForm(member=member),
            vetting_form=bound.get("vetting") or VettingForm(),
            discipline_form=bound.get("discipline") or DisciplinaryForm(),
        )
    return render(request, "members/member_detail.html", context, status=status)


class MemberDetailView(LoginRequiredMixin, View):
    def get(self, request, member_no):
        with page_lookup():
            member = find_visible_member(request.user, member_no)
        return render_member_page(request, member)


class MemberActionView(LoginRequiredMixin, View):
    """A commander's action on the member page: POST the form, call the service, come back to the page.

    Refusals re-render the page with the form and the service's message; nothing is written.
    """

    form_name = ""
    done_message = ""

    def make_form(self, data, member: Member) -> Form:
        raise NotImplementedError

    def perform(self, data: dict, member: Member) -> None:
        raise NotImplementedError

    def post(self, request, member_no):
        with page_lookup():
            member = find_visible_member(request.user, member_no)
        if not scope.has_role(request.user, member.unit, {Role.COMMANDER}):
            raise PermissionDenied(f"Only a commander of {member.unit.code} may do this.")
        form = self.make_form(request.POST, member)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                self.perform(form.cleaned_data, member)
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(request, self.done_message)
                return redirect("member-page", member_no=member.member_no)
        mark_invalid(form)
        return render_member_page(request, member, forms={self.form_name: form}, status=status)


class ChangeStatusView(MemberActionView):
    form_name = "status"
    done_message = "Status changed."

    def make_form(self, data, member):
        return StatusChangeForm(data, member=member)

    def perform(self, data, member):
        services.change_status(
            member=member, to_status=data["to_status"], reason=data["reason"], actor=self.request.user
        )


class RecordVettingView(MemberActionView):
    form_name = "vetting"
    done_message = "Vetting recorded."

    def make_form(self, data, member):
        return VettingForm(data)

    def perform(self, data, member):
        services.record_vetting(
            member=member,
            vetted_on=data["vetted_on"],
            outcome=data["outcome"],
            valid_until=data["valid_until"],
            notes=data["notes"],
            actor=self.request.user,
        )


class AddDisciplinaryEntryView(MemberActionView):
    form_name = "discipline"
    done_message = "Disciplinary entry added."

    def make_form(self, data, member):
        return DisciplinaryForm(data)

    def perform(self, data, member):
        services.add_disciplinary_entry(
            member=member,
            occurred_on=data["occurred_on"],
            kind=data["kind"],
            note=data["note"],
            actor=self.request.user,
        )
