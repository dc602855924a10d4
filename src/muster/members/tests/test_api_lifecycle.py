"""API for a member's lifecycle: status changes, vettings, the disciplinary record and the status history."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from muster.core.testing import make_member
from muster.members import services
from muster.members.models import DisciplinaryEntry, Member, StatusChange, Vetting

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def client_for(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=account)[0].key}")
    return client


def url(member: Member, tail: str) -> str:
    return f"/api/v1/members/{member.member_no}/{tail}"


def records_state() -> list:
    """Everything these endpoints could change."""
    return [
        list(Member.objects.order_by("pk").values_list("pk", "status", "vetting_valid_until")),
        StatusChange.objects.count(),
        Vetting.objects.count(),
        DisciplinaryEntry.objects.count(),
    ]


def passed_vetting() -> dict:
    return {"vetted_on": str(TODAY()), "outcome": "passed", "valid_until": str(TODAY() + timedelta(days=365))}


WRITES = {
    "status": {"to_status": "suspended", "reason": "missed three musters"},
    "vettings/": passed_vetting,
    "disciplinary/": {"occurred_on": "2025-01-10", "kind": "warning", "note": "late for duty"},
}
READS = ["status-history/", "vettings/", "disciplinary/"]


def body_for(tail: str) -> dict:
    body = WRITES[tail]
    return body() if callable(body) else body


# --- authentication and access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "tail"), [*[("get", tail) for tail in READS], *[("post", t) for t in WRITES]])
def test_it_answers_401_when_unauthenticated(world, method, tail):
    before = records_state()
    client = APIClient()
    response = getattr(client, method)(url(world.bob_member, tail), *([body_for(tail)] if method == "post" else []))
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    assert records_state() == before


# Who may read: the status history anyone who may see the member; vettings and discipline commanders and auditors.
READ_ACCESS = {
    "status-history/": {"alice": 200, "dave": 200, "erin": 200, "frank": 200, "bob": 200, "carol": 404},
    "vettings/": {"alice": 403, "dave": 200, "erin": 200, "frank": 403, "bob": 403, "carol": 404},
    "disciplinary/": {"alice": 403, "dave": 200, "erin": 200, "frank": 403, "bob": 403, "carol": 404},
}


@pytest.mark.parametrize("tail", READS)
@pytest.mark.parametrize("who", ["alice", "dave", "erin", "frank", "bob", "carol"])
def test_it_lets_only_the_right_roles_of_the_members_unit_read_records(world, tail, who):
    response = client_for(getattr(world, who)).get(url(world.bob_member, tail))
    expected = READ_ACCESS[tail][who]
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["code"] == "not_commander_or_auditor"
    if expected == 404:
        assert response.json()["code"] == "member_not_found"


@pytest.mark.parametrize("tail", READS)
def test_it_answers_404_for_a_member_of_another_unit_or_none_at_all(world, tail):
    dave = client_for(world.dave)
    for member_no in (world.member_b.member_no, "NO-SUCH"):
        response = dave.get(f"/api/v1/members/{member_no}/{tail}")
        assert (response.status_code, response.json()["code"]) == (404, "member_not_found")


@pytest.mark.parametrize("tail", list(WRITES))
@pytest.mark.parametrize(("who", "status", "code"), [
    ("alice", 403, "not_commander"), ("erin", 403, "not_commander"), ("frank", 403, "not_commander"),
    ("bob", 403, "not_commander"), ("carol", 404, "member_not_found"),
])  # fmt: skip
def test_it_lets_only_a_commander_of_the_members_unit_write(world, tail, who, status, code):
    before = records_state()
    response = client_for(getattr(world, who)).post(url(world.bob_member, tail), body_for(tail), format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert records_state() == before


@pytest.mark.parametrize("tail", list(WRITES))
def test_a_commander_cannot_write_records_of_another_unit(world, tail):
    before = records_state()
    response = client_for(world.dave).post(url(world.member_b, tail), body_for(tail), format="json")
    assert (response.status_code, response.json()["code"]) == (404, "member_not_found")
    assert records_state() == before


# --- status --------------------------------------------------------------------------------------------------------


def test_it_changes_a_members_status_and_records_who_when_and_why(world):
    response = client_for(world.dave).post(url(world.bob_member, "status"), WRITES["status"], format="json")
    assert response.status_code == 201, response.content
    world.bob_member.refresh_from_db()
    assert world.bob_member.status == "suspended"
    change = StatusChange.objects.get(member=world.bob_member, to_status="suspended")
    assert (change.from_status, change.reason, change.changed_by) == ("active", "missed three musters", world.dave)
    assert response.json() == {
        "id": change.pk, "from_status": "active", "to_status": "suspended", "reason": "missed three musters",
        "changed_by": "dave", "changed_at": response.json()["changed_at"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "body", "status", "code"),
    [
        (None, {"to_status": "applicant", "reason": "demoted"}, 409, "status_change_refused"),
        ("applicant_unvetted", {"to_status": "active", "reason": "sworn in"}, 409, "vetting_required"),
        (None, {"to_status": "sleeping", "reason": "nap"}, 400, "unknown_status"),
        (None, {"to_status": "suspended", "reason": "   "}, 400, "invalid"),
        (None, {"to_status": "suspended"}, 400, "invalid"),
    ],
)
def test_it_refuses_a_bad_status_change_and_changes_nothing(world, setup, body, status, code):
    member = world.bob_member
    if setup == "applicant_unvetted":
        member = make_member(world.unit_a, status="applicant", vetted_days=0)
    before = records_state()
    response = client_for(world.dave).post(url(member, "status"), body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert records_state() == before


def test_it_lists_the_status_history_newest_first(world):
    member = make_member(world.unit_a, status="applicant", vetted_days=30)
    services.change_status(member=member, to_status="active", reason="sworn in", actor=world.dave)
    services.change_status(member=member, to_status="suspended", reason="absent", actor=world.dave)
    rows = client_for(world.erin).get(url(member, "status-history/")).json()["results"]
    assert [(row["from_status"], row["to_status"], row["changed_by"]) for row in rows] == [
        ("active", "suspended", "dave"), ("applicant", "active", "dave")
    ]  # fmt: skip


# --- vettings ------------------------------------------------------------------------------------------------------


def test_it_records_a_passed_vetting_and_extends_the_members_vetting(world):
    body = {**passed_vetting(), "notes": "clean record"}
    response = client_for(world.dave).post(url(world.bob_member, "vettings/"), body, format="json")
    assert response.status_code == 201, response.content
    vetting = Vetting.objects.get(member=world.bob_member)
    assert (vetting.outcome, str(vetting.valid_until), vetting.vetted_by, vetting.notes) == (
        "passed", body["valid_until"], world.dave, "clean record"
    )  # fmt: skip
    world.bob_member.refresh_from_db()
    assert world.bob_member.vetting_valid_until == vetting.valid_until
    assert response.json()["id"] == vetting.pk
    rows = client_for(world.erin).get(url(world.bob_member, "vettings/")).json()["results"]
    assert [(row["outcome"], row["vetted_by"]) for row in rows] == [("passed", "dave")]


def test_a_failed_vetting_ends_the_members_vetting_at_once(world):
    body = {"vetted_on": str(TODAY()), "outcome": "failed", "valid_until": "2099-01-01"}
    response = client_for(world.dave).post(url(world.bob_member, "vettings/"), body, format="json")
    assert response.status_code == 201, response.content
    assert Vetting.objects.get(member=world.bob_member).valid_until is None
    world.bob_member.refresh_from_db()
    assert world.bob_member.vetting_valid_until is None
    assert client_for(world.dave).get(url(world.bob_member, "")).json()["vetting_valid_until"] is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"vetted_on": str(TODAY()), "outcome": "passed"}, 400, "validity_missing"),
        ({"vetted_on": str(TODAY()), "outcome": "passed", "valid_until": str(TODAY())}, 400, "validity_missing"),
        ({"vetted_on": str(TODAY() + timedelta(days=1)), "outcome": "failed"}, 400, "vetted_in_future"),
        ({"vetted_on": str(TODAY()), "outcome": "maybe"}, 400, "invalid"),
        ({"vetted_on": "yesterday", "outcome": "failed"}, 400, "invalid"),
    ],
)
def test_it_refuses_a_bad_vetting_and_changes_nothing(world, body, status, code):
    before = records_state()
    response = client_for(world.dave).post(url(world.bob_member, "vettings/"), body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert records_state() == before


# --- disciplinary record -------------------------------------------------------------------------------------------


def test_it_adds_a_disciplinary_entry_that_auditors_can_read(world):
    response = client_for(world.dave).post(
        url(world.bob_member, "disciplinary/"), WRITES["disciplinary/"], format="json"
    )
    assert response.status_code == 201, response.content
    entry = DisciplinaryEntry.objects.get(member=world.bob_member)
    assert (str(entry.occurred_on), entry.kind, entry.note, entry.recorded_by) == (
        "2025-01-10", "warning", "late for duty", world.dave
    )  # fmt: skip
    rows = client_for(world.erin).get(url(world.bob_member, "disciplinary/")).json()["results"]
    assert [(row["id"], row["kind"], row["recorded_by"]) for row in rows] == [(entry.pk, "warning", "dave")]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"occurred_on": str(TODAY() + timedelta(days=2)), "kind": "warning", "note": "x"}, "date_in_future"),
        ({"occurred_on": "2025-01-10", "kind": "warning", "note": "   "}, "invalid"),
        ({"occurred_on": "2025-01-10", "kind": "flogging", "note": "x"}, "invalid"),
    ],
)
def test_it_refuses_a_bad_disciplinary_entry_and_changes_nothing(world, body, code):
    before = records_state()
    response = client_for(world.dave).post(url(world.bob_member, "disciplinary/"), body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert records_state() == before


# --- query counts --------------------------------------------------------------------------------------------------


def _add_records(world, member: Member, count: int) -> None:
    for number in range(count):
        services.record_vetting(
            member=member, vetted_on=TODAY() - timedelta(days=number), outcome="passed",
            valid_until=TODAY() + timedelta(days=300), actor=world.dave,
        )  # fmt: skip
        services.add_disciplinary_entry(
            member=member, occurred_on=TODAY(), kind="warning", note=f"entry {number}", actor=world.dave
        )
        StatusChange.objects.create(
            member=member, from_status="active", to_status="active", reason=f"note {number}", changed_by=world.dave
        )


@pytest.mark.parametrize("tail", READS)
def test_it_keeps_record_list_query_counts_flat(world, tail):
    member = world.bob_member
    dave = client_for(world.dave)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = dave.get(url(member, tail), {"limit": 100})
        assert response.status_code == 200
        return len(queries.captured_queries), response.json()["count"]

    _add_records(world, member, 5)
    few, few_rows = count()
    _add_records(world, member, 35)
    many, many_rows = count()
    assert many_rows - few_rows == 35
    assert few == many
