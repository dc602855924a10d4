"""The member page's qualifications section (registered with members.views, so members never imports training),
and the commander's "record prior service" form on it."""

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils import timezone
from django.views import View

from muster.core.errors import DomainError
from muster.core.views import FORM_ERROR_STATUS, add_domain_error, mark_invalid, page_lookup
from muster.members import scope
from muster.members.models import Member, Role
from muster.members.views import Section, add_member_page_section, find_visible_member, page_forms, render_member_page
from muster.training import services
from muster.training.forms import PriorServiceForm
from muster.training.models import MemberQualification

EXPIRY_WARNING_DAYS = 30


def standing(expires_on: date, today: date) -> str:
    """valid, expiring (within EXPIRY_WARNING_DAYS) or expired: the badge a qualification shows."""
    if expires_on < today:
        return "expired"
    if expires_on <= today + timedelta(days=EXPIRY_WARNING_DAYS):
        return "expiring"
    return "valid"


def latest_grants(member: Member) -> list[MemberQualification]:
    """The grant with the latest expiry for each qualification the member ever held, by qualification name."""
    grants = (
        MemberQualification.objects.filter(member=member)
        .select_related("qualification", "session__course")
        .order_by("qualification__name", "qualification_id", "-expires_on", "-pk")
    )
    latest: dict[int, MemberQualification] = {}
    for grant in grants:
        latest.setdefault(grant.qualification_id, grant)
    return list(latest.values())


@add_member_page_section
def member_training_section(request, member: Member) -> Section:
    user = request.user
    today = timezone.localdate()
    roles = scope.roles_on(user, member.unit)
    commander = Role.COMMANDER in roles
    rows = [
        (grant, standing(grant.expires_on, today), (grant.expires_on - today).days) for grant in latest_grants(member)
    ]
    form = page_forms(request).get("prior_service") or (PriorServiceForm() if commander else None)
    return Section(
        template="training/_member_section.html",
        context={
            "rows": rows,
            "staff": bool(roles & scope.STAFF_ROLES),
            "prior_service_form": form,
            "warning_days": EXPIRY_WARNING_DAYS,
        },
    )


class RecordPriorServiceView(LoginRequiredMixin, View):
    def post(self, request, member_no):
        with page_lookup():
            member = find_visible_member(request.user, member_no)
        if not scope.has_role(request.user, member.unit, {Role.COMMANDER}):
            raise PermissionDenied(f"Only a commander of {member.unit.code} may recognise prior service.")
        form = PriorServiceForm(request.POST)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            data = form.cleaned_data
            try:
                grant = services.record_prior_service(
                    member=member,
                    qualification=data["qualification"],
                    granted_on=data["granted_on"],
                    expires_on=data["expires_on"],
                    evidence=data["evidence"],
                    actor=request.user,
                )
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(request, f"{grant.qualification} recorded from prior service.")
                return redirect("member-page", member_no=member.member_no)
        mark_invalid(form)
        return render_member_page(request, member, forms={"prior_service": form}, status=status)
