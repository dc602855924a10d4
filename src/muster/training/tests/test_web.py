"""The training web face: calendar, session page (roster, results in one submit, cancel) and scheduling.
test_web_qualifications.py covers the member page's qualifications, the expiry report and the admin."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_account, make_member
from muster.members.models import Member, Role
from muster.training import services
from muster.training.models import MemberQualification, Trainee, TrainingSession
from muster.training.testing import make_course, make_qualification

pytestmark = pytest.mark.django_db


@pytest.fixture
def rifle(world):
    return make_qualification("rifle-ak", name="Rifle (AK)")


@pytest.fixture
def course(world, rifle):
    return make_course("basic-rifle", grants=[rifle])


def schedule(world, course, *, hours_ago=2, unit=None, instructor="alice", actor=None):
    return services.schedule_session(
        course=course,
        unit=unit or world.unit_a,
        starts_at=timezone.now() - timedelta(hours=hours_ago),
        place="Range 2",
        instructor=getattr(world, instructor).member if instructor else None,
        actor=actor or world.dave,
    )


@pytest.fixture
def session(world, course):
    return schedule(world, course)


def page(session) -> str:
    return reverse("training-session", args=[session.pk])


def state():
    """What a refused training request must leave untouched."""
    return (
        list(TrainingSession.objects.order_by("pk").values_list("pk", "status", "notes")),
        list(Trainee.objects.order_by("pk").values_list("pk", "attended", "result", "note")),
        MemberQualification.objects.count(),
    )


# --- access --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/training/", "/training/sessions/new/", "/training/expiring/", "/training/sessions/1/"]
)
def test_it_sends_anonymous_visitors_to_the_login_page(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("url", ["/training/", "/training/expiring/"])
def test_it_forbids_the_training_lists_to_a_plain_member(client, world, url):
    client.force_login(world.bob)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("who", ["alice", "erin", "frank", "bob"])
def test_only_commanders_may_schedule(client, world, course, who):
    client.force_login(getattr(world, who))
    assert client.get(reverse("training-schedule")).status_code == 403
    data = {"course": course.pk, "unit": "A", "starts_at": "2030-01-01T10:00", "place": "Range"}
    assert client.post(reverse("training-schedule"), data).status_code == 403
    assert not TrainingSession.objects.exists()


def test_the_navbar_offers_training_and_reports_to_staff_only(client, world):
    client.force_login(world.alice)
    html = client.get(reverse("home")).content.decode()
    assert reverse("training-calendar") in html
    assert reverse("training-expiring") in html
    assert reverse("custody-overrides") not in html  # armorers do not read the overrides report
    client.force_login(world.erin)
    assert reverse("custody-overrides") in client.get(reverse("home")).content.decode()
    client.force_login(world.bob)
    html = client.get(reverse("home")).content.decode()
    assert reverse("training-calendar") not in html
    assert reverse("training-expiring") not in html


# --- calendar ------------------------------------------------------------------------------------------------------


def shown(response) -> list[int]:
    return [session.pk for _, sessions in response.context["days"] for session in sessions]


@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank"])
def test_the_calendar_shows_this_months_sessions_of_the_accounts_units(client, world, course, who):
    mine = schedule(world, course, hours_ago=0)
    bea = make_account("bea", roles=[(Role.COMMANDER, world.unit_b)])
    schedule(world, course, hours_ago=0, unit=world.unit_b, instructor=None, actor=bea)
    client.force_login(getattr(world, who))
    response = client.get(reverse("training-calendar"))
    assert response.status_code == 200
    assert shown(response) == [mine.pk]
    assert "Range 2" in response.content.decode()


def test_the_calendar_moves_month_by_month(client, world, course):
    later = services.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() + timedelta(days=40), place="Hall", actor=world.dave
    )
    client.force_login(world.dave)
    this_month = client.get(reverse("training-calendar"))
    assert later.pk not in shown(this_month)
    month = timezone.localtime(later.starts_at).strftime("%Y-%m")
    response = client.get(reverse("training-calendar"), {"month": month})
    assert shown(response) == [later.pk]
    assert response.context["month"].strftime("%Y-%m") == month
    following = (timezone.localdate().replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    assert f"month={following}" in this_month.context["next_query"]
    before = (response.context["month"] - timedelta(days=1)).strftime("%Y-%m")
    assert f"month={before}" in response.context["previous_query"]


def test_the_calendar_filters_by_course_and_unit(client, world, course, rifle):
    first = schedule(world, course, hours_ago=0)
    other_course = make_course("radio", grants=[])
    second = schedule(world, other_course, hours_ago=0)
    client.force_login(world.rita)
    rick = make_account("rick", roles=[(Role.COMMANDER, world.region)])
    in_b = schedule(world, course, hours_ago=0, unit=world.unit_b, instructor=None, actor=rick)
    url = reverse("training-calendar")
    assert set(shown(client.get(url))) == {first.pk, second.pk, in_b.pk}
    assert shown(client.get(url, {"course": other_course.pk})) == [second.pk]
    assert set(shown(client.get(url, {"unit": "A"}))) == {first.pk, second.pk}
    assert shown(client.get(url, {"unit": "B", "course": course.pk})) == [in_b.pk]


def test_the_calendar_answers_404_for_a_unit_outside_the_accounts_units(client, world, course):
    client.force_login(world.alice)
    assert client.get(reverse("training-calendar"), {"unit": "B"}).status_code == 404
    assert client.get(reverse("training-calendar"), {"unit": "NOPE"}).status_code == 404


def test_the_calendar_query_count_does_not_grow_with_its_rows(client, world, course):
    client.force_login(world.dave)
    url = reverse("training-calendar")

    def add(count):
        for _ in range(count):
            session = schedule(world, course, hours_ago=0)
            services.enroll(session=session, members=[make_member(world.unit_a)], actor=world.dave)

    add(5)
    with CaptureQueriesContext(connection) as five:
        assert len(shown(client.get(url))) == 5
    add(35)
    with CaptureQueriesContext(connection) as forty:
        response = client.get(url)
    assert len(shown(response)) == 40
    assert len(forty) == len(five)


# --- scheduling ----------------------------------------------------------------------------------------------------


def test_a_commander_schedules_a_session(client, world, course):
    client.force_login(world.dave)
    assert client.get(reverse("training-schedule")).status_code == 200
    response = client.post(
        reverse("training-schedule"),
        {"course": course.pk, "unit": "A", "starts_at": "2030-05-01T09:30", "place": "Range 3",
         "instructor_no": world.alice.member.member_no, "notes": "bring ear protection"},
    )  # fmt: skip
    session = TrainingSession.objects.get()
    assert response.status_code == 302
    assert response.url == page(session)
    assert (session.course, session.unit, session.place, session.instructor) == (
        course, world.unit_a, "Range 3", world.alice.member
    )  # fmt: skip
    assert timezone.localtime(session.starts_at).strftime("%Y-%m-%d %H:%M") == "2030-05-01 09:30"


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("no_place", 400, "This field is required"),
        ("unknown_instructor", 404, "instructor_not_found"),
        ("other_unit_instructor", 404, "instructor_not_found"),
        ("suspended_instructor", 409, "instructor_not_active"),
        ("other_unit", 400, "Select a valid choice"),
    ],
)
def test_it_refuses_a_bad_session_and_creates_nothing(client, world, course, case, status, message):
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    data = {"course": course.pk, "unit": "A", "starts_at": "2030-05-01T09:30", "place": "Range"}
    data.update(
        {
            "no_place": {"place": ""},
            "unknown_instructor": {"instructor_no": "NOPE"},
            "other_unit_instructor": {"instructor_no": world.member_b.member_no},
            "suspended_instructor": {"instructor_no": suspended.member_no},
            "other_unit": {"unit": "B"},
        }[case]
    )
    client.force_login(world.dave)
    response = client.post(reverse("training-schedule"), data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert not TrainingSession.objects.exists()


# --- the session page ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank", "rita"])
def test_staff_of_the_unit_see_the_session_with_its_roster(client, world, session, who):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    client.force_login(getattr(world, who))
    response = client.get(page(session))
    assert response.status_code == 200
    html = response.content.decode()
    assert session.course.name in html and "Range 2" in html
    assert world.bob_member.member_no in html
    assert world.alice.member.full_name in html  # the instructor


@pytest.mark.parametrize("who", ["carol", "bob"])
def test_it_answers_404_for_a_session_outside_the_accounts_reach(client, world, session, who):
    client.force_login(getattr(world, who))
    assert client.get(page(session)).status_code == 404
    assert client.post(reverse("training-enroll", args=[session.pk]), {"roster-member_numbers": "x"}).status_code == 404


def test_an_instructor_without_a_staff_role_sees_and_records_their_session(client, world, course):
    teacher = make_member(world.unit_a, first_name="Ivan")
    ivan = make_account("ivan", roles=[(Role.MEMBER, world.unit_a)], member=teacher)
    session = services.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() - timedelta(hours=1), place="Hall",
        instructor=teacher, actor=world.dave,
    )  # fmt: skip
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    client.force_login(ivan)
    response = client.get(page(session))
    assert response.status_code == 200
    assert "results_form" in response.context
    assert "cancel_form" not in response.context  # cancelling is for commanders


def test_the_roster_is_added_by_member_numbers_one_per_line_or_comma_separated(client, world, session):
    first, second, third = (make_member(world.unit_a) for _ in range(3))
    client.force_login(world.dave)
    text = f"{first.member_no}, {second.member_no}\n{third.member_no}\n{first.member_no}"
    response = client.post(reverse("training-enroll", args=[session.pk]), {"roster-member_numbers": text})
    assert response.status_code == 302
    assert set(session.trainees.values_list("member_id", flat=True)) == {first.pk, second.pk, third.pk}
    assert "Added 3 to the roster" in client.get(response.url).content.decode()


def test_the_roster_search_offers_members_to_tick(client, world, session):
    client.force_login(world.dave)
    response = client.get(page(session), {"q": "Baker"})
    assert [member.pk for member in response.context["candidates"]] == [world.bob_member.pk]
    assert f'value="{world.bob_member.member_no}"' in response.content.decode()
    posted = client.post(reverse("training-enroll", args=[session.pk]), {"pick": [world.bob_member.member_no]})
    assert posted.status_code == 302
    assert list(session.trainees.values_list("member_id", flat=True)) == [world.bob_member.pk]
    again = client.get(page(session), {"q": "Baker"})
    assert again.context["candidates"] == []  # already on the roster


@pytest.mark.parametrize(
    ("numbers", "status", "message"),
    [
        ("", 400, "Give at least one member number"),
        ("NOPE-1", 404, "member_not_found"),
        ("{bob}, {member_b}", 404, "member_not_found"),
        ("{bob}\n{suspended}", 409, "member_not_eligible"),
    ],
)
def test_it_refuses_a_roster_addition_and_adds_nobody(client, world, session, numbers, status, message):
    suspended = make_member(world.unit_a, status=Member.Status.SUSPENDED)
    text = numbers.format(
        bob=world.bob_member.member_no, member_b=world.member_b.member_no, suspended=suspended.member_no
    )
    before = state()
    client.force_login(world.dave)
    response = client.post(reverse("training-enroll", args=[session.pk]), {"roster-member_numbers": text})
    assert response.status_code == status
    assert message in response.content.decode()
    assert response.context["roster_form"].errors
    assert state() == before


@pytest.mark.parametrize("who", ["erin", "frank"])
def test_it_forbids_roster_results_and_cancel_to_staff_who_neither_teach_nor_command(client, world, session, who):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    trainee = session.trainees.get()
    before = state()
    client.force_login(getattr(world, who))
    response = client.get(page(session))
    assert "roster_form" not in response.context and "results_form" not in response.context
    for name, data in [
        ("training-enroll", {"roster-member_numbers": world.bob_member.member_no}),
        ("training-results", {f"results-attended_{trainee.pk}": "on", f"results-passed_{trainee.pk}": "on"}),
        ("training-cancel", {"cancel-reason": "rain"}),
    ]:
        assert client.post(reverse(name, args=[session.pk]), data).status_code == 403
    assert state() == before


def results_data(rows: dict) -> dict:
    """{trainee: (attended, passed, note)} → the results form's POST data."""
    data = {}
    for trainee, (attended, passed, note) in rows.items():
        if attended:
            data[f"results-attended_{trainee.pk}"] = "on"
        if passed:
            data[f"results-passed_{trainee.pk}"] = "on"
        data[f"results-note_{trainee.pk}"] = note
    return data


def test_the_instructor_records_attendance_and_results_in_one_submit(client, world, session, rifle):
    other, absent = make_member(world.unit_a), make_member(world.unit_a)
    services.enroll(session=session, members=[world.bob_member, other, absent], actor=world.dave)
    trainees = {trainee.member_id: trainee for trainee in session.trainees.all()}
    client.force_login(world.alice)  # the instructor
    form_page = client.get(page(session))
    assert len(list(form_page.context["results_form"].rows())) == 3
    data = results_data(
        {
            trainees[world.bob_member.pk]: (True, True, "sharp"),
            trainees[other.pk]: (True, False, "needs practice"),
            trainees[absent.pk]: (False, False, ""),
        }
    )
    response = client.post(reverse("training-results", args=[session.pk]), data)
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.status, session.completed_by) == (TrainingSession.Status.COMPLETED, world.alice)
    results = {t.member_id: (t.attended, t.result, t.note) for t in session.trainees.all()}
    assert results == {
        world.bob_member.pk: (True, "passed", "sharp"),
        other.pk: (True, "failed", "needs practice"),
        absent.pk: (False, "failed", ""),
    }
    (grant,) = MemberQualification.objects.all()
    assert (grant.member, grant.qualification, grant.session) == (world.bob_member, rifle, session)
    completed = client.get(page(session))
    assert [g.pk for g in completed.context["grants"]] == [grant.pk]
    assert "results_form" not in completed.context and "roster_form" not in completed.context
    html = completed.content.decode()
    assert "Qualifications granted" in html and "Rifle (AK)" in html


def test_a_commander_records_results_too(client, world, session):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    trainee = session.trainees.get()
    client.force_login(world.dave)
    response = client.post(reverse("training-results", args=[session.pk]), results_data({trainee: (True, True, "")}))
    assert response.status_code == 302
    assert MemberQualification.objects.filter(member=world.bob_member, session=session).exists()


def test_it_refuses_a_pass_without_attendance_and_records_nothing(client, world, session):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    trainee = session.trainees.get()
    before = state()
    client.force_login(world.alice)
    response = client.post(reverse("training-results", args=[session.pk]), results_data({trainee: (False, True, "")}))
    assert response.status_code == 400
    assert "cannot pass without attending" in response.content.decode()
    assert state() == before


def test_it_refuses_results_before_the_session_starts(client, world, course):
    session = services.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() + timedelta(days=1), place="Hall",
        instructor=world.alice.member, actor=world.dave,
    )  # fmt: skip
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    trainee = session.trainees.get()
    before = state()
    client.force_login(world.alice)
    response = client.get(page(session))
    assert "results_form" not in response.context
    assert "once the session has started" in response.content.decode()
    posted = client.post(reverse("training-results", args=[session.pk]), results_data({trainee: (True, True, "")}))
    assert posted.status_code == 409
    assert "session_not_started" in posted.content.decode()
    assert state() == before


def test_it_refuses_results_for_a_completed_session(client, world, session):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    trainee = session.trainees.get()
    services.record_results(
        session=session, results=[services.Result(member=world.bob_member, attended=True, passed=False)],
        actor=world.alice,
    )  # fmt: skip
    before = state()
    client.force_login(world.alice)
    posted = client.post(reverse("training-results", args=[session.pk]), results_data({trainee: (True, True, "")}))
    assert posted.status_code == 409
    assert "session_closed" in posted.content.decode()
    assert state() == before


def test_a_commander_cancels_a_session_with_a_reason(client, world, session):
    client.force_login(world.dave)
    response = client.post(reverse("training-cancel", args=[session.pk]), {"cancel-reason": "range closed"})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == TrainingSession.Status.CANCELLED
    assert "range closed" in session.notes


def test_it_refuses_a_cancel_without_a_reason_or_by_the_instructor(client, world, session):
    before = state()
    client.force_login(world.dave)
    response = client.post(reverse("training-cancel", args=[session.pk]), {"cancel-reason": "  "})
    assert response.status_code == 400
    assert response.context["cancel_form"].errors
    client.force_login(world.alice)  # the instructor, not a commander
    assert client.post(reverse("training-cancel", args=[session.pk]), {"cancel-reason": "rain"}).status_code == 403
    assert state() == before


def test_the_session_page_query_count_does_not_grow_with_its_roster(client, world, session):
    client.force_login(world.alice)

    def add(count):
        services.enroll(session=session, members=[make_member(world.unit_a) for _ in range(count)], actor=world.dave)

    add(5)
    with CaptureQueriesContext(connection) as five:
        assert len(list(client.get(page(session)).context["results_form"].rows())) == 5
    add(35)
    with CaptureQueriesContext(connection) as forty:
        response = client.get(page(session))
    assert len(list(response.context["results_form"].rows())) == 40
    assert len(forty) == len(five)


def test_the_completed_session_page_query_count_does_not_grow_with_its_roster(client, world, course):
    def completed(count):
        session = schedule(world, course)
        members = [make_member(world.unit_a) for _ in range(count)]
        services.enroll(session=session, members=members, actor=world.dave)
        services.record_results(
            session=session,
            results=[services.Result(member=m, attended=True, passed=True) for m in members],
            actor=world.dave,
        )
        return session

    small, large = completed(5), completed(40)
    client.force_login(world.dave)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get(page(small)).context["grants"]) == 5
    with CaptureQueriesContext(connection) as forty:
        assert len(client.get(page(large)).context["grants"]) == 40
    assert len(forty) == len(five)
