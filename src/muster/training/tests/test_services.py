from datetime import timedelta

import pytest
from django.utils import timezone

from muster.core.errors import Invalid, NotPermitted, Refused
from muster.core.testing import make_member
from muster.members.models import Member
from muster.training import queries, services
from muster.training.models import MemberQualification, Trainee, TrainingSession
from muster.training.testing import make_course, make_qualification

pytestmark = pytest.mark.django_db


@pytest.fixture
def course(world):
    return make_course("basic-rifle", grants=[make_qualification("rifle-ak", validity_days=365)])


@pytest.fixture
def session(world, course):
    return services.schedule_session(
        course=course,
        unit=world.unit_a,
        starts_at=timezone.now() - timedelta(hours=2),
        place="Range 2",
        instructor=world.alice.member,
        actor=world.dave,
    )


def test_a_commander_schedules_a_session_for_their_unit(world, session):
    assert session.status == TrainingSession.Status.PLANNED
    assert session.instructor == world.alice.member


@pytest.mark.parametrize("who", ["alice", "erin", "bob", "carol"])
def test_only_a_commander_schedules_sessions(world, course, who):
    with pytest.raises(NotPermitted):
        services.schedule_session(
            course=course, unit=world.unit_a, starts_at=timezone.now(), place="Range", actor=getattr(world, who)
        )
    assert not TrainingSession.objects.exists()


def test_passing_grants_every_qualification_of_the_course_with_its_expiry(world, session):
    other = make_member(world.unit_a)
    services.enroll(session=session, members=[world.bob_member, other], actor=world.alice)
    grants = services.record_results(
        session=session,
        results=[
            services.Result(member=world.bob_member, attended=True, passed=True),
            services.Result(member=other, attended=True, passed=False, note="missed the target"),
        ],
        actor=world.alice,  # the instructor
    )
    assert len(grants) == 1
    grant = MemberQualification.objects.get(member=world.bob_member)
    held_on = timezone.localdate(session.starts_at)
    assert (grant.granted_on, grant.expires_on, grant.session_id) == (
        held_on,
        held_on + timedelta(days=365),
        session.pk,
    )
    assert not MemberQualification.objects.filter(member=other).exists()
    assert Trainee.objects.get(member=other).result == Trainee.Result.FAILED
    session.refresh_from_db()
    assert session.status == TrainingSession.Status.COMPLETED


def test_results_must_cover_the_whole_roster_and_nothing_else(world, session):
    other = make_member(world.unit_a)
    services.enroll(session=session, members=[world.bob_member, other], actor=world.dave)
    with pytest.raises(Invalid) as refusal:
        services.record_results(
            session=session,
            results=[services.Result(member=world.bob_member, attended=True, passed=True)],
            actor=world.dave,
        )
    assert refusal.value.code == "results_incomplete"
    stranger = make_member(world.unit_a)
    with pytest.raises(Invalid) as refusal:
        services.record_results(
            session=session, results=[services.Result(member=stranger, attended=True, passed=True)], actor=world.dave
        )
    assert refusal.value.code == "not_on_roster"
    assert not MemberQualification.objects.exists()
    session.refresh_from_db()
    assert session.status == TrainingSession.Status.PLANNED


def test_nobody_passes_without_attending(world, session):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    with pytest.raises(Invalid) as refusal:
        services.record_results(
            session=session,
            results=[services.Result(member=world.bob_member, attended=False, passed=True)],
            actor=world.dave,
        )
    assert refusal.value.code == "passed_without_attending"


def test_only_the_instructor_or_a_commander_records_results(world, session):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    for who in (world.bob, world.erin, world.carol, world.frank):
        with pytest.raises(NotPermitted):
            services.record_results(
                session=session,
                results=[services.Result(member=world.bob_member, attended=True, passed=True)],
                actor=who,
            )
    assert not MemberQualification.objects.exists()


def test_a_completed_session_cannot_be_recorded_again(world, session):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    result = services.Result(member=world.bob_member, attended=True, passed=True)
    services.record_results(session=session, results=[result], actor=world.dave)
    with pytest.raises(Refused) as refusal:
        services.record_results(session=session, results=[result], actor=world.dave)
    assert refusal.value.code == "session_closed"
    assert MemberQualification.objects.count() == 1


def test_suspended_members_cannot_join_training(world, session):
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    with pytest.raises(Refused):
        services.enroll(session=session, members=[suspended], actor=world.dave)
    assert not Trainee.objects.exists()


def test_prior_service_needs_evidence_and_a_commander(world):
    qualification = make_qualification("rifle-ak")
    today = timezone.localdate()
    with pytest.raises(Invalid):
        services.record_prior_service(
            member=world.bob_member,
            qualification=qualification,
            granted_on=today - timedelta(days=10),
            expires_on=today + timedelta(days=300),
            evidence="  ",
            actor=world.dave,
        )
    with pytest.raises(NotPermitted):
        services.record_prior_service(
            member=world.bob_member,
            qualification=qualification,
            granted_on=today - timedelta(days=10),
            expires_on=today + timedelta(days=300),
            evidence="Military ID 123",
            actor=world.alice,
        )
    grant = services.record_prior_service(
        member=world.bob_member,
        qualification=qualification,
        granted_on=today - timedelta(days=10),
        expires_on=today + timedelta(days=300),
        evidence="Military ID 123",
        actor=world.dave,
    )
    assert grant.source == MemberQualification.Source.PRIOR_SERVICE
    assert queries.current_expiries(world.bob_member) == {qualification.pk: today + timedelta(days=300)}


def test_the_expiry_report_lists_latest_grants_expiring_within_the_window(world):
    from muster.training.testing import qualify

    rifle, drone = make_qualification("rifle-ak"), make_qualification("counter-drone")
    soon, later, renewed = make_member(world.unit_a), make_member(world.unit_a), make_member(world.unit_a)
    qualify(soon, rifle, world.dave, days_left=10)
    qualify(later, rifle, world.dave, days_left=90)
    qualify(renewed, drone, world.dave, days_left=5)
    qualify(renewed, drone, world.dave, days_left=300)  # renewed: the old grant no longer counts
    rows = list(queries.expiring(Member.objects.all(), within_days=30))
    assert [(row["member_id"], row["qualification_id"]) for row in rows] == [(soon.pk, rifle.pk)]
