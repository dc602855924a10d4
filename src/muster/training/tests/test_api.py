"""API for the training catalogue and training sessions: scope, roles, each refusal, and database state."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.testing import make_account, make_member
from muster.members.models import Member, Role
from muster.training import services
from muster.training.models import MemberQualification, Trainee, TrainingSession
from muster.training.testing import make_course, make_qualification

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/training-sessions/"


def client_for(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    return client


def training_state() -> list:
    """Everything the training writes could change."""
    return [
        list(TrainingSession.objects.order_by("pk").values_list("pk", "status", "notes", "completed_at")),
        list(Trainee.objects.order_by("pk").values_list("pk", "attended", "result", "note")),
        MemberQualification.objects.count(),
    ]


@pytest.fixture
def course(world):
    return make_course("basic-rifle", grants=[make_qualification("rifle-ak", validity_days=365)])


def schedule(world, course, *, unit=None, hours_ago: int = 2, actor=None, instructor="alice") -> TrainingSession:
    unit = unit or world.unit_a
    return services.schedule_session(
        course=course, unit=unit, starts_at=timezone.now() - timedelta(hours=hours_ago), place="Range 2",
        instructor=getattr(world, instructor).member if instructor else None, actor=actor or world.dave,
    )  # fmt: skip


@pytest.fixture
def session(world, course):
    """A session of unit A that started two hours ago, taught by alice (armorer of A)."""
    return schedule(world, course)


@pytest.fixture
def session_b(world, course):
    return schedule(world, course, unit=world.unit_b, actor=make_account("bea", roles=[(Role.COMMANDER, world.unit_b)]),
                    instructor="carol")  # fmt: skip


def action(session: TrainingSession, name: str) -> str:
    return f"{SESSIONS}{session.pk}/{name}"


# --- authentication ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/qualifications/"), ("get", "/api/v1/qualifications/rifle-ak/"), ("get", "/api/v1/courses/"),
        ("get", "/api/v1/courses/basic-rifle/"), ("get", SESSIONS), ("get", "{session}/"), ("post", SESSIONS),
        ("post", "{session}/enroll"), ("post", "{session}/results"), ("post", "{session}/cancel"),
    ],
)  # fmt: skip
def test_it_answers_401_when_unauthenticated(world, session, method, path):
    before = training_state()
    response = getattr(APIClient(), method)(path.format(session=f"{SESSIONS}{session.pk}"))
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    assert training_state() == before


# --- catalogue -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank", "carol"])
def test_it_shows_the_catalogue_to_any_staff(world, course, who):
    client = client_for(getattr(world, who))
    assert [row["code"] for row in client.get("/api/v1/qualifications/").json()["results"]] == ["rifle-ak"]
    assert client.get("/api/v1/qualifications/rifle-ak/").json() == {
        "code": "rifle-ak", "name": "Qualification rifle-ak", "description": "", "validity_days": 365
    }  # fmt: skip
    row = client.get("/api/v1/courses/basic-rifle/").json()
    assert (row["code"], row["grants"], row["validity_days"]) == ("basic-rifle", ["rifle-ak"], None)
    assert client.get("/api/v1/courses/no-such/").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/qualifications/", "/api/v1/courses/", "/api/v1/courses/basic-rifle/"])
def test_it_keeps_the_catalogue_from_plain_members(world, course, path):
    response = client_for(world.bob).get(path)
    assert (response.status_code, response.json()["code"]) == (403, "not_staff")


# --- sessions: reading ---------------------------------------------------------------------------------------------

# Who sees unit A's session (taught by alice): staff of A; nobody of B; bob only once he teaches it.
SESSION_READERS = {"alice": 200, "dave": 200, "erin": 200, "frank": 200, "bob": 404, "carol": 404}


@pytest.mark.parametrize("who", list(SESSION_READERS))
def test_it_shows_sessions_of_the_callers_units_only(world, session, session_b, who):
    client = client_for(getattr(world, who))
    listed = [row["id"] for row in client.get(SESSIONS).json()["results"]]
    expected = SESSION_READERS[who]
    assert client.get(f"{SESSIONS}{session.pk}/").status_code == expected
    assert listed == ([session.pk] if expected == 200 else [session_b.pk] if who == "carol" else [])


def test_a_plain_member_sees_the_sessions_they_teach(world, course):
    taught = schedule(world, course, instructor="bob")
    assert [row["id"] for row in client_for(world.bob).get(SESSIONS).json()["results"]] == [taught.pk]


def test_it_shows_a_session_with_its_roster(world, session):
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    row = client_for(world.erin).get(f"{SESSIONS}{session.pk}/").json()
    assert (row["course"], row["unit"], row["instructor"], row["status"], row["trainee_count"]) == (
        "basic-rifle", "A", world.alice.member.member_no, "planned", 1
    )  # fmt: skip
    assert row["roster"] == [
        {"member": world.bob_member.member_no, "name": "Bob Baker", "attended": None, "result": "pending", "note": ""}
    ]


def test_it_filters_sessions_by_course_unit_dates_and_status(world, course, session):
    other_course = make_course("radio", grants=[])
    later = services.schedule_session(
        course=other_course, unit=world.unit_a, starts_at=timezone.now() + timedelta(days=10), place="Hall",
        actor=world.dave,
    )  # fmt: skip
    services.cancel_session(session=later, actor=world.dave, reason="instructor ill")
    dave = client_for(world.dave)

    def ids(**query) -> list[int]:
        response = dave.get(SESSIONS, query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    today = timezone.localdate()
    assert ids() == [later.pk, session.pk]
    assert ids(course="radio") == [later.pk]
    assert ids(status="planned") == [session.pk]
    assert ids(**{"from": str(today + timedelta(days=1))}) == [later.pk]
    assert ids(to=str(today)) == [session.pk]
    assert ids(unit="A") == [later.pk, session.pk]
    assert ids(unit="B") == []
    response = dave.get(SESSIONS, {"from": "soon"})
    assert (response.status_code, response.json()["code"], list(response.json()["errors"])) == (
        400,
        "invalid",
        ["from"],
    )


# --- sessions: scheduling ------------------------------------------------------------------------------------------


def schedule_body(**changes) -> dict:
    starts = (timezone.now() + timedelta(days=3)).isoformat()
    return {"course": "basic-rifle", "unit": "A", "starts_at": starts, "place": "Range 1", **changes}


def test_a_commander_schedules_a_session(world, course):
    body = schedule_body(instructor=world.alice.member.member_no, notes="bring ear protection")
    response = client_for(world.dave).post(SESSIONS, body, format="json")
    assert response.status_code == 201, response.content
    session = TrainingSession.objects.get()
    assert (session.course, session.unit, session.instructor, session.place, session.notes) == (
        course, world.unit_a, world.alice.member, "Range 1", "bring ear protection"
    )  # fmt: skip
    assert response["Location"] == f"{SESSIONS}{session.pk}/"
    assert (response.json()["id"], response.json()["roster"]) == (session.pk, [])


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("alice", {}, 403, "not_commander"),
        ("erin", {}, 403, "not_commander"),
        ("bob", {}, 403, "not_commander"),  # a member of A: the unit is his, the role is not
        ("carol", {}, 404, "unit_not_found"),
        ("dave", {"unit": "B"}, 404, "unit_not_found"),
        ("dave", {"instructor": "NO-SUCH"}, 404, "member_not_found"),
        ("dave", {"course": "no-such"}, 400, "invalid"),
        ("dave", {"starts_at": "2030-01-01T10:00:00"}, 400, "invalid"),
        ("dave", {"place": "  "}, 400, "invalid"),
        ("dave", {"instructor": "suspended"}, 409, "instructor_not_active"),
    ],
)
def test_it_refuses_a_bad_schedule_and_creates_nothing(world, course, who, body, status, code):
    if body.get("instructor") == "suspended":
        body = {"instructor": make_member(world.unit_a, status=Member.Status.SUSPENDED).member_no}
    response = client_for(getattr(world, who)).post(SESSIONS, schedule_body(**body), format="json")
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert not TrainingSession.objects.exists()


# --- sessions: enroll ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "dave"])  # the instructor, a commander
def test_the_instructor_or_a_commander_enrolls_members(world, session, who):
    other = make_member(world.unit_a)
    numbers = [world.bob_member.member_no, other.member_no]
    response = client_for(getattr(world, who)).post(action(session, "enroll"), {"members": numbers}, format="json")
    assert response.status_code == 200, response.content
    assert set(Trainee.objects.filter(session=session).values_list("member", flat=True)) == {
        world.bob_member.pk,
        other.pk,
    }
    assert sorted(row["member"] for row in response.json()["roster"]) == sorted(numbers)


def test_an_instructor_without_staff_role_enrolls_the_units_members(world, course):
    taught = schedule(world, course, instructor="bob")
    other = make_member(world.unit_a)
    response = client_for(world.bob).post(action(taught, "enroll"), {"members": [other.member_no]}, format="json")
    assert response.status_code == 200, response.content
    assert Trainee.objects.filter(session=taught, member=other).exists()


@pytest.mark.parametrize(
    ("who", "members", "status", "code"),
    [
        ("erin", ["bob"], 403, "not_instructor"),
        ("frank", ["bob"], 403, "not_instructor"),
        ("bob", ["bob"], 404, "session_not_found"),
        ("carol", ["bob"], 404, "session_not_found"),
        ("dave", ["member_b"], 404, "member_not_found"),
        ("dave", ["NO-SUCH"], 404, "member_not_found"),
        ("dave", ["suspended"], 409, "member_not_eligible"),
        ("dave", ["bob", "bob"], 400, "member_repeated"),
        ("dave", [], 400, "invalid"),
    ],
)
def test_it_refuses_a_bad_enrolment_and_changes_nothing(world, session, who, members, status, code):
    numbers = {
        "bob": world.bob_member.member_no,
        "member_b": world.member_b.member_no,
        "suspended": make_member(world.unit_a, status=Member.Status.SUSPENDED).member_no,
    }
    body = {"members": [numbers.get(name, name) for name in members]}
    before = training_state()
    response = client_for(getattr(world, who)).post(action(session, "enroll"), body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert training_state() == before


def test_it_refuses_to_enroll_into_a_closed_session(world, session):
    services.cancel_session(session=session, actor=world.dave, reason="storm")
    before = training_state()
    body = {"members": [world.bob_member.member_no]}
    response = client_for(world.dave).post(action(session, "enroll"), body, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "session_closed")
    assert training_state() == before


# --- sessions: results ---------------------------------------------------------------------------------------------


@pytest.fixture
def roster(world, session):
    other = make_member(world.unit_a)
    services.enroll(session=session, members=[world.bob_member, other], actor=world.dave)
    return world.bob_member, other


def result(member, attended=True, passed=True, note="") -> dict:
    return {"member": member.member_no, "attended": attended, "passed": passed, "note": note}


def test_it_records_results_completes_the_session_and_grants_qualifications(world, session, roster):
    bob, other = roster
    body = {"results": [result(bob), result(other, passed=False, note="missed the target")]}
    response = client_for(world.alice).post(action(session, "results"), body, format="json")
    assert response.status_code == 200, response.content
    session.refresh_from_db()
    assert (session.status, session.completed_by) == ("completed", world.alice)
    grant = MemberQualification.objects.get()
    held_on = timezone.localdate(session.starts_at)
    assert (grant.member, grant.qualification.code, grant.granted_on, grant.expires_on, grant.session) == (
        bob, "rifle-ak", held_on, held_on + timedelta(days=365), session
    )  # fmt: skip
    assert Trainee.objects.get(member=other).note == "missed the target"
    assert {row["member"]: row["result"] for row in response.json()["roster"]} == {
        bob.member_no: "passed", other.member_no: "failed"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("incomplete", 400, "results_incomplete"),
        ("passed_absent", 400, "passed_without_attending"),
        ("stranger", 400, "not_on_roster"),
        ("out_of_scope", 404, "member_not_found"),
        ("repeated", 400, "member_repeated"),
        ("future", 409, "session_not_started"),
        ("closed", 409, "session_closed"),
        ("erin", 403, "not_instructor"),
        ("carol", 404, "session_not_found"),
    ],
)
def test_it_refuses_bad_results_and_changes_nothing(world, session, roster, case, status, code):
    bob, other = roster
    full = [result(bob), result(other)]
    bodies = {
        "incomplete": [result(bob)],
        "passed_absent": [result(bob, attended=False), result(other)],
        "stranger": [*full, result(make_member(world.unit_a))],
        "out_of_scope": [*full, result(world.member_b)],
        "repeated": [*full, result(bob)],
    }
    if case == "future":
        TrainingSession.objects.filter(pk=session.pk).update(starts_at=timezone.now() + timedelta(days=1))
    if case == "closed":
        services.record_results(session=session, results=[services.Result(m, True, False) for m in roster],
                                actor=world.dave)  # fmt: skip
    who = case if case in ("erin", "carol") else "dave"
    before = training_state()
    response = client_for(getattr(world, who)).post(
        action(session, "results"), {"results": bodies.get(case, full)}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert training_state() == before


# --- sessions: cancel ----------------------------------------------------------------------------------------------


def test_a_commander_cancels_a_planned_session(world, session):
    response = client_for(world.dave).post(action(session, "cancel"), {"reason": "storm warning"}, format="json")
    assert response.status_code == 200, response.content
    session.refresh_from_db()
    assert session.status == "cancelled"
    assert "Cancelled: storm warning" in session.notes
    assert response.json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("alice", {"reason": "x"}, 403, "not_commander"),  # the instructor may record, not cancel
        ("erin", {"reason": "x"}, 403, "not_commander"),
        ("carol", {"reason": "x"}, 404, "session_not_found"),
        ("dave", {"reason": "  "}, 400, "invalid"),
        ("dave", {}, 400, "invalid"),
        ("dave", "cancelled", 409, "session_closed"),
    ],
)
def test_it_refuses_a_bad_cancellation_and_changes_nothing(world, session, who, body, status, code):
    if body == "cancelled":
        services.cancel_session(session=session, actor=world.dave, reason="first time")
        body = {"reason": "second time"}
    before = training_state()
    response = client_for(getattr(world, who)).post(action(session, "cancel"), body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert training_state() == before


# --- query counts --------------------------------------------------------------------------------------------------


def _add_catalogue(world, count: int) -> None:
    for _ in range(count):
        number = MemberQualification.objects.count() + TrainingSession.objects.count() + Trainee.objects.count()
        code = f"q{make_member(world.unit_a).pk}-{number}"
        qualification = make_qualification(code)
        course = make_course(code, grants=[qualification, make_qualification("rifle-ak")])
        session = schedule(world, course)
        services.enroll(session=session, members=[world.bob_member, make_member(world.unit_a)], actor=world.dave)


@pytest.mark.parametrize("path", ["/api/v1/qualifications/", "/api/v1/courses/", SESSIONS])
def test_it_keeps_list_query_counts_flat(world, path):
    dave = client_for(world.dave)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = dave.get(path, {"limit": 100})
        assert response.status_code == 200
        return len(queries.captured_queries), response.json()["count"]

    _add_catalogue(world, 5)
    few, few_rows = count()
    _add_catalogue(world, 35)
    many, many_rows = count()
    assert many_rows - few_rows == 35
    assert few == many
