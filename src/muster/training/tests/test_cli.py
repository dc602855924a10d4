import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from muster.training import services
from muster.training.testing import make_course, make_qualification, qualify

pytestmark = pytest.mark.django_db


def call(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def held(world):
    """Bob: rifle valid (from a session), counter-drone expiring in 10 days, radio expired (renewed too late)."""
    rifle = make_qualification("rifle-ak", name="Rifle (AK family)", validity_days=365)
    course = make_course("basic-rifle", grants=[rifle])
    session = services.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() - timedelta(hours=2), place="Range 2",
        actor=world.dave,
    )  # fmt: skip
    services.enroll(session=session, members=[world.bob_member], actor=world.dave)
    services.record_results(
        session=session, results=[services.Result(member=world.bob_member, attended=True, passed=True)],
        actor=world.dave,
    )  # fmt: skip
    qualify(world.bob_member, make_qualification("counter-drone", name="Counter-drone operator"), world.dave,
            days_left=10)  # fmt: skip
    radio = make_qualification("radio", name="Radio operator")
    qualify(world.bob_member, radio, world.dave, days_left=-40)
    qualify(world.bob_member, radio, world.dave, days_left=-5)
    return session


def test_it_lists_the_latest_grant_of_each_qualification_with_its_status(world, held):
    today = timezone.localdate()
    code, out, _ = call("qualifications", world.bob_member.member_no, "--as", "dave")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{world.bob_member.member_no}  Bob Baker  (A)"
    assert lines[1].split() == ["QUALIFICATION", "GRANTED", "EXPIRES", "SOURCE", "STATUS"]
    assert [line.split()[-1] for line in lines[2:]] == ["expiring", "expired", "valid"]  # by name
    assert "Counter-drone operator" in lines[2] and str(today + timedelta(days=10)) in lines[2]
    assert str(today - timedelta(days=5)) in lines[3] and "prior service" in lines[3]
    assert f"Course basic-rifle, {today}" in lines[4] and str(today + timedelta(days=365)) in lines[4]


def test_it_prints_csv(world, held):
    code, out, _ = call("qualifications", world.bob_member.member_no, "--format", "csv", "--as", "bob")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "member_no,qualification_code,qualification,granted_on,expires_on,source,status"
    assert [line.split(",")[1] for line in lines[1:]] == ["counter-drone", "radio", "rifle-ak"]
    assert lines[3].endswith(",session,valid")


def test_a_member_with_no_qualifications_is_said_to_have_none(world):
    code, out, _ = call("qualifications", world.alice.member.member_no, "--as", "dave")
    assert (code, out.splitlines()[1]) == (0, "  no qualifications")


@pytest.mark.parametrize("who", ["dave", "alice", "carol"])
def test_it_answers_not_found_for_a_member_outside_the_actors_units(world, held, who):
    member = world.member_b if who != "carol" else world.bob_member
    code, out, err = call("qualifications", member.member_no, "--as", who)
    assert (code, out) == (5, "")
    assert f"No member with number {member.member_no!r} in your units." in err


def test_a_member_sees_only_themself(world, held):
    assert call("qualifications", world.bob_member.member_no, "--as", "bob")[0] == 0
    assert call("qualifications", world.alice.member.member_no, "--as", "bob")[0] == 5


def test_without_an_acting_account_it_is_an_operator_tool_that_sees_every_member(world, held, monkeypatch):
    monkeypatch.delenv("MUSTER_USER", raising=False)
    assert call("qualifications", world.member_b.member_no)[0] == 0
    code, _, err = call("qualifications", "NOBODY")
    assert code == 5
    assert "No member with number 'NOBODY'." in err


def test_an_unknown_acting_account_is_refused(world, held):
    code, _, err = call("qualifications", world.bob_member.member_no, "--as", "ghost")
    assert code == 4
    assert "No account named 'ghost'" in err
