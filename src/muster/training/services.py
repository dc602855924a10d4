"""Training state changes: sessions, rosters, results and the qualifications they grant.

Who may do what: a commander of the session's unit (or above) schedules sessions and records prior service;
the commander or the session's instructor (through the account linked to that member) records attendance and
results. Every row written is logged in the change log (core.changelog), in the same transaction.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from muster.core import changelog
from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.members import scope
from muster.members.models import Account, Member, Role, Unit
from muster.training.models import Course, MemberQualification, Qualification, Trainee, TrainingSession


def _require_active(actor: Account) -> None:
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")


def _require_commander(actor: Account, unit: Unit, action: str) -> None:
    _require_active(actor)
    if not scope.has_role(actor, unit, {Role.COMMANDER}):
        raise NotPermitted(
            f"{actor.username} is not a commander of {unit.code}; cannot {action}.", code="not_commander"
        )


def can_record(actor: Account, session: TrainingSession) -> bool:
    """The session's instructor or a commander of its unit may record attendance and results."""
    if not actor.is_active:
        return False
    if session.instructor_id is not None and actor.member_id == session.instructor_id:
        return True
    return scope.has_role(actor, session.unit, {Role.COMMANDER})


def _require_recorder(actor: Account, session: TrainingSession) -> None:
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")
    if not can_record(actor, session):
        raise NotPermitted(
            f"Only the instructor or a commander of {session.unit.code} may record this session.",
            code="not_instructor",
        )


@retry_transient
@transaction.atomic
def schedule_session(
    *,
    course: Course,
    unit: Unit,
    starts_at: datetime,
    place: str,
    actor: Account,
    instructor: Member | None = None,
    notes: str = "",
) -> TrainingSession:
    _require_commander(actor, unit, "schedule training for it")
    if not place.strip():
        raise Invalid("Say where the session takes place.", code="place_missing")
    if instructor is not None and instructor.status != Member.Status.ACTIVE:
        raise Refused(f"The instructor {instructor} is not active.", code="instructor_not_active")
    session = TrainingSession.objects.create(
        course=course, unit=unit, starts_at=starts_at, place=place.strip(), instructor=instructor, notes=notes
    )
    changelog.record(actor=actor, obj=session, action=changelog.CREATE)
    return session


@retry_transient
@transaction.atomic
def enroll(*, session: TrainingSession, members: Iterable[Member], actor: Account) -> list[Trainee]:
    session = TrainingSession.objects.select_for_update().select_related("unit").get(pk=session.pk)
    _require_recorder(actor, session)
    if session.status != TrainingSession.Status.PLANNED:
        raise Refused(f"The session is {session.status}; its roster is closed.", code="session_closed")
    added = []
    for member in members:
        if not scope.has_role(actor, member.unit, {Role.COMMANDER}) and not member.unit.path.startswith(
            session.unit.path
        ):
            raise Invalid(f"{member} is not in {session.unit.code} or a unit below it.", code="member_out_of_scope")
        if member.status in (Member.Status.DEPARTED, Member.Status.SUSPENDED):
            raise Refused(f"{member} is {member.status}; cannot join training.", code="member_not_eligible")
        trainee, created = Trainee.objects.get_or_create(session=session, member=member)
        if created:
            added.append(trainee)
    changelog.record_many(changelog.entry(actor=actor, obj=trainee, action=changelog.CREATE) for trainee in added)
    return added


@dataclass(frozen=True)
class Result:
    member: Member
    attended: bool
    passed: bool
    note: str = ""


def validity_days(course: Course, qualification: Qualification) -> int:
    return course.validity_days or qualification.validity_days


@retry_transient
@transaction.atomic
def record_results(*, session: TrainingSession, results: Iterable[Result], actor: Account) -> list[MemberQualification]:
    """Record attendance and pass/fail for the roster, complete the session, and grant what the course grants.

    Every trainee on the roster must have a result; a member not on the roster is an error. All or nothing.
    """
    session = TrainingSession.objects.select_for_update().select_related("course", "unit").get(pk=session.pk)
    _require_recorder(actor, session)
    if session.status != TrainingSession.Status.PLANNED:
        raise Refused(f"The session is already {session.status}.", code="session_closed")
    if session.starts_at > timezone.now():
        raise Refused("Results can be recorded once the session has started.", code="session_not_started")
    roster = {trainee.member_id: trainee for trainee in session.trainees.select_for_update()}
    given = {}
    for result in results:
        if result.member.pk not in roster:
            raise Invalid(f"{result.member} is not on this session's roster.", code="not_on_roster")
        if result.passed and not result.attended:
            raise Invalid(f"{result.member} cannot pass without attending.", code="passed_without_attending")
        given[result.member.pk] = result
    missing = [trainee.member for member_id, trainee in roster.items() if member_id not in given]
    if missing:
        names = ", ".join(str(member) for member in missing[:5])
        raise Invalid(f"Record a result for every trainee; missing: {names}.", code="results_incomplete")

    grants, logged = [], []
    held_on = timezone.localdate(session.starts_at)
    qualifications = list(session.course.grants.all())
    members = Member.objects.select_related("unit").in_bulk(list(given))  # for the change log, in one query
    for member_id, result in given.items():
        trainee = roster[member_id]
        trainee.member = members[member_id]
        before = changelog.snapshot(trainee, ["attended", "result", "note"])
        trainee.attended = result.attended
        trainee.result = Trainee.Result.PASSED if result.passed else Trainee.Result.FAILED
        trainee.note = result.note
        trainee.save(update_fields=["attended", "result", "note"])
        logged.append(changelog.entry(actor=actor, obj=trainee, action=changelog.UPDATE, before=before))
        if result.passed:
            for qualification in qualifications:
                grants.append(
                    MemberQualification(
                        member=members[member_id],
                        qualification=qualification,
                        granted_on=held_on,
                        expires_on=held_on + timedelta(days=validity_days(session.course, qualification)),
                        source=MemberQualification.Source.SESSION,
                        session=session,
                        granted_by=actor,
                    )
                )
    MemberQualification.objects.bulk_create(grants)
    before = changelog.snapshot(session, ["status", "completed_at", "completed_by"])
    session.status = TrainingSession.Status.COMPLETED
    session.completed_at = timezone.now()
    session.completed_by = actor
    session.save(update_fields=["status", "completed_at", "completed_by"])
    logged += [changelog.entry(actor=actor, obj=grant, action=changelog.CREATE) for grant in grants]
    logged.append(changelog.entry(actor=actor, obj=session, action=changelog.UPDATE, before=before))
    changelog.record_many(logged)
    return grants


@retry_transient
@transaction.atomic
def record_prior_service(
    *,
    member: Member,
    qualification: Qualification,
    granted_on: date,
    expires_on: date,
    evidence: str,
    actor: Account,
) -> MemberQualification:
    """Recognise a qualification earned before joining (veterans), with the evidence relied on."""
    _require_commander(actor, member.unit, "recognise prior service")
    if not evidence.strip():
        raise Invalid("Note the evidence for prior service (document, unit record, …).", code="evidence_missing")
    if expires_on <= granted_on:
        raise Invalid("The qualification must expire after it was granted.", code="expiry_before_grant")
    if granted_on > timezone.localdate():
        raise Invalid("A qualification from prior service cannot be granted in the future.", code="grant_in_future")
    grant = MemberQualification.objects.create(
        member=member,
        qualification=qualification,
        granted_on=granted_on,
        expires_on=expires_on,
        source=MemberQualification.Source.PRIOR_SERVICE,
        evidence=evidence.strip(),
        granted_by=actor,
    )
    changelog.record(actor=actor, obj=grant, action=changelog.CREATE)
    return grant


@retry_transient
@transaction.atomic
def cancel_session(*, session: TrainingSession, actor: Account, reason: str) -> TrainingSession:
    session = TrainingSession.objects.select_for_update().select_related("unit").get(pk=session.pk)
    _require_commander(actor, session.unit, "cancel its training")
    if session.status != TrainingSession.Status.PLANNED:
        raise Refused(f"The session is already {session.status}.", code="session_closed")
    if not reason.strip():
        raise Invalid("Give a reason for cancelling.", code="reason_missing")
    before = changelog.snapshot(session, ["status", "notes"])
    session.status = TrainingSession.Status.CANCELLED
    session.notes = (session.notes + "\n" if session.notes else "") + f"Cancelled: {reason.strip()}"
    session.save(update_fields=["status", "notes"])
    changelog.record(actor=actor, obj=session, action=changelog.UPDATE, before=before)
    return session
