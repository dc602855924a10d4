"""Web pages for training: the calendar, a session (roster, results in one submit, cancel), scheduling.

A session is visible to the staff of its unit (and the units above) and to its instructor. Rosters and results
may be kept by the instructor or a commander of the session's unit; scheduling and cancelling by a commander.
Everything changes through training.services; a refusal re-renders the page with the form and the reason.
"""

from datetime import date, datetime, timedelta
from itertools import groupby

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from muster.core.errors import DomainError, NotFound
from muster.core.views import (
    FORM_ERROR_STATUS,
    StaffRequiredMixin,
    add_domain_error,
    has_role_anywhere,
    mark_invalid,
    nav_flags,
)
from muster.members import scope
from muster.members.contact import CONTACT_READERS
from muster.members.filters import MemberFilterSet
from muster.members.models import Account, Member, Role, Unit
from muster.training import services
from muster.training.forms import CalendarFilterForm, CancelForm, ResultsForm, RosterForm, SessionForm
from muster.training.models import MemberQualification, TrainingSession

CANDIDATES_SHOWN = 20


def visible_sessions(account: Account):
    """Sessions of the account's units (staff roles), plus any session the account's member teaches."""
    query = scope.units_q(account, scope.STAFF_ROLES, field="unit__path")
    if not scope.is_global(account) and account.member_id:
        query |= Q(instructor_id=account.member_id)
    return TrainingSession.objects.filter(query)


def find_session(account: Account, pk: int) -> TrainingSession:
    session = (
        visible_sessions(account).select_related("course", "unit", "instructor", "completed_by").filter(pk=pk).first()
    )
    if session is None:
        raise Http404("No such training session in your units.")
    return session


def find_visible_unit(account: Account, code: str) -> Unit:
    """A unit named in a filter: one outside the account's units is not found, like any other object."""
    unit = scope.units(account, scope.STAFF_ROLES).filter(code=code).first()
    if unit is None:
        raise Http404(f"No unit {code!r} in your units.")
    return unit


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


class CalendarView(StaffRequiredMixin, TemplateView):
    """Sessions of one month, day by day, filtered by course and unit."""

    template_name = "training/calendar.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, params = self.request.user, self.request.GET
        code = params.get("unit", "").strip()
        unit = find_visible_unit(user, code) if code else None
        form = CalendarFilterForm(params, account=user)
        first = form.month_start()
        following = (first + timedelta(days=32)).replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        sessions = visible_sessions(user).filter(starts_at__gte=_aware(first), starts_at__lt=_aware(following))
        if unit is not None:
            sessions = sessions.filter(unit__path__startswith=unit.path)
        course = form.cleaned_data.get("course") if form.is_valid() else None
        if course is not None:
            sessions = sessions.filter(course=course)
        sessions = (
            sessions.select_related("course", "unit", "instructor")
            .annotate(roster_size=Count("trainees", distinct=True))
            .order_by("starts_at", "pk")
        )
        days = [
            (day, list(group))
            for day, group in groupby(sessions, key=lambda session: timezone.localtime(session.starts_at).date())
        ]
        context.update(
            form=form,
            month=first,
            days=days,
            session_count=sum(len(group) for _, group in days),
            previous_query=self._query(month=previous),
            next_query=self._query(month=following),
            can_schedule=has_role_anywhere(user, {Role.COMMANDER}),
            today=timezone.localdate(),
        )
        return context

    def _query(self, *, month: date) -> str:
        params = self.request.GET.copy()
        params["month"] = f"{month:%Y-%m}"
        return params.urlencode()


def _candidates(account: Account, session: TrainingSession, q: str, on_roster: set[int]) -> list[Member]:
    members = (
        scope.visible_members(account)
        .filter(unit__path__startswith=session.unit.path)
        .exclude(status__in=[Member.Status.SUSPENDED, Member.Status.DEPARTED])
        .exclude(pk__in=on_roster)
        .select_related("unit")
    )
    return list(MemberFilterSet({"q": q}, queryset=members).qs[:CANDIDATES_SHOWN])


def render_session_page(
    request: HttpRequest, session: TrainingSession, *, forms: dict[str, Form] | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    forms = forms or {}
    planned = session.status == TrainingSession.Status.PLANNED
    commander = scope.has_role(user, session.unit, {Role.COMMANDER})
    recorder = services.can_record(user, session)
    trainees = list(session.trainees.select_related("member__unit"))
    started = session.starts_at <= timezone.now()
    context = {
        "nav": nav_flags(user),
        "session": session,
        "trainees": trainees,
        "course_grants": list(session.course.grants.all()),
        "planned": planned,
        "started": started,
        "can_record": recorder,
        "is_commander": commander,
        # Trainees come from the session's unit and below: its commanders and auditors may read their phones.
        "show_phone": scope.has_role(user, session.unit, CONTACT_READERS),
    }
    if planned and recorder:
        q = request.GET.get("q", "").strip()
        context.update(roster_form=forms.get("roster") or RosterForm(), q=q)
        if q:
            context["candidates"] = _candidates(user, session, q, {trainee.member_id for trainee in trainees})
        if started and trainees:
            context["results_form"] = forms.get("results") or ResultsForm(trainees=trainees)
    if planned and commander:
        context["cancel_form"] = forms.get("cancel") or CancelForm()
    if session.status == TrainingSession.Status.COMPLETED:
        context["grants"] = list(
            MemberQualification.objects.filter(session=session)
            .select_related("qualification", "member")
            .order_by("member__last_name", "member__first_name", "qualification__name")
        )
    # A refused form whose block the page no longer shows (the session completed meanwhile) still says why.
    context["stray_errors"] = [
        error for name, form in forms.items() if f"{name}_form" not in context for error in form.non_field_errors()
    ]
    return render(request, "training/session_detail.html", context, status=status)


class SessionDetailView(LoginRequiredMixin, View):
    def get(self, request, pk):
        return render_session_page(request, find_session(request.user, pk))


class SessionActionView(LoginRequiredMixin, View):
    """A form posted from the session page: on success back to the page with a message; on refusal the page again
    with the form, its error and the error's status. Nothing is written on refusal (the services are atomic)."""

    form_name = ""

    def allowed(self, account: Account, session: TrainingSession) -> bool:
        raise NotImplementedError

    def make_form(self, data, session: TrainingSession) -> Form:
        raise NotImplementedError

    def perform(self, form: Form, session: TrainingSession) -> str:
        """Call the service; return the message to show."""
        raise NotImplementedError

    def post(self, request, pk):
        session = find_session(request.user, pk)
        if not self.allowed(request.user, session):
            raise PermissionDenied("Your roles do not allow this on this session.")
        form = self.make_form(request.POST, session)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            try:
                message = self.perform(form, session)
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(request, message)
                return redirect("training-session", pk=session.pk)
        mark_invalid(form)
        return render_session_page(request, session, forms={self.form_name: form}, status=status)


class EnrollView(SessionActionView):
    form_name = "roster"

    def allowed(self, account, session):
        return services.can_record(account, session)

    def make_form(self, data, session):
        return RosterForm(data)

    def perform(self, form, session):
        numbers = form.cleaned_data["numbers"]
        found = {
            member.member_no: member
            for member in scope.visible_members(self.request.user).filter(member_no__in=numbers).select_related("unit")
        }
        unknown = [number for number in numbers if number not in found]
        if unknown:
            raise NotFound(f"No member numbered {', '.join(unknown)} in your units.", code="member_not_found")
        added = services.enroll(session=session, members=[found[n] for n in numbers], actor=self.request.user)
        already = len(numbers) - len(added)
        return f"Added {len(added)} to the roster" + (f"; {already} already on it." if already else ".")


class RecordResultsView(SessionActionView):
    form_name = "results"

    def allowed(self, account, session):
        return services.can_record(account, session)

    def make_form(self, data, session):
        return ResultsForm(data, trainees=list(session.trainees.select_related("member")))

    def perform(self, form, session):
        results = [
            services.Result(member=trainee.member, attended=attended, passed=passed, note=note)
            for trainee, attended, passed, note in form.results()
        ]
        grants = services.record_results(session=session, results=results, actor=self.request.user)
        passed = sum(result.passed for result in results)
        return f"Results recorded: {passed} of {len(results)} passed; {len(grants)} qualification(s) granted."


class CancelSessionView(SessionActionView):
    form_name = "cancel"

    def allowed(self, account, session):
        return scope.has_role(account, session.unit, {Role.COMMANDER})

    def make_form(self, data, session):
        return CancelForm(data)

    def perform(self, form, session):
        services.cancel_session(session=session, actor=self.request.user, reason=form.cleaned_data["reason"])
        return "Session cancelled."


class ScheduleSessionView(LoginRequiredMixin, View):
    template_name = "training/session_form.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not has_role_anywhere(request.user, {Role.COMMANDER}):
            raise PermissionDenied("Only commanders schedule training.")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        initial = {}
        if request.GET.get("unit"):
            initial["unit"] = request.GET["unit"]
        return self.render(SessionForm(account=request.user, initial=initial))

    def post(self, request):
        form = SessionForm(request.POST, account=request.user)
        status = FORM_ERROR_STATUS
        if form.is_valid():
            data = form.cleaned_data
            try:
                instructor = None
                if data["instructor_no"].strip():
                    instructor = self.find_instructor(data["instructor_no"].strip())
                session = services.schedule_session(
                    course=data["course"],
                    unit=data["unit"],
                    starts_at=data["starts_at"],
                    place=data["place"],
                    instructor=instructor,
                    notes=data["notes"],
                    actor=request.user,
                )
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(request, "Session scheduled. Add the trainees below.")
                return redirect("training-session", pk=session.pk)
        return self.render(mark_invalid(form), status=status)

    def find_instructor(self, member_no: str) -> Member:
        member = scope.visible_members(self.request.user).filter(member_no=member_no).first()
        if member is None:
            raise NotFound(f"No member numbered {member_no!r} in your units.", code="instructor_not_found")
        return member

    def render(self, form, status=200):
        context = {"nav": nav_flags(self.request.user), "form": form, "cancel_url": reverse("training-calendar")}
        return render(self.request, self.template_name, context, status=status)
