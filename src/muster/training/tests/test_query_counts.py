"""Query-count guards for the training pages and API routes not guarded by their feature's tests (the helper, the
rules and the meta-test are in core/tests/test_query_counts.py)."""

import itertools
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from muster.core.testing import make_member
from muster.core.tests.test_query_counts import Guard, context_rows, json_rows, params, run_guard
from muster.training import services
from muster.training.testing import make_course, make_qualification, qualify

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


def _new_qualifications(n: int) -> list:
    return [make_qualification(f"qc-{next(_numbers)}") for _ in range(n)]


def _session(world, course, *, hours_ago: int = 2):
    return services.schedule_session(
        course=course, unit=world.unit_a, starts_at=timezone.now() - timedelta(hours=hours_ago), place="Range",
        actor=world.dave,
    )  # fmt: skip


def _grants_for_bob(ctx, n: int) -> None:
    """n qualifications bob holds: half recognised from prior service, half granted by a session he passed (the
    section shows the session's course)."""
    world, bob = ctx.world, ctx.world.bob_member
    for qualification in _new_qualifications(n // 2):
        qualify(bob, qualification, world.dave, days_left=next(_numbers) % 60 - 10)  # valid, expiring and expired
    course = make_course(f"qc-course-{next(_numbers)}", grants=_new_qualifications(n - n // 2))
    session = _session(world, course)
    services.enroll(session=session, members=[bob], actor=world.dave)
    services.record_results(session=session, results=[services.Result(member=bob, attended=True, passed=True)],
                            actor=world.dave)  # fmt: skip


def _qualifications_section(response) -> int:
    (section,) = [s for s in response.context["sections"] if s.template == "training/_member_section.html"]
    return len(section.context["rows"])


def _planned_session(ctx) -> None:
    course = make_course("qc-basic", grants=[make_qualification("qc-rifle")])
    ctx.session = _session(ctx.world, course, hours_ago=-48)


def _roster(ctx, n: int) -> None:
    members = [make_member(ctx.world.unit_a) for _ in range(n)]
    services.enroll(session=ctx.session, members=members, actor=ctx.world.dave)


def _members_of_a(ctx, n: int) -> None:
    for _ in range(n):
        make_member(ctx.world.unit_a)


def _course(ctx) -> None:
    ctx.course = make_course("qc-course", grants=[])


def _course_grants(ctx, n: int) -> None:
    ctx.course.grants.add(*_new_qualifications(n))


def _expiring(ctx, n: int) -> None:
    rifle = make_qualification("qc-rifle")
    for _ in range(n):
        qualify(make_member(ctx.world.unit_a), rifle, ctx.world.dave, days_left=1 + next(_numbers) % 25)


def _csv_rows(response) -> int:
    return len(response.content.decode().splitlines()) - 1  # the header


GUARDS = [
    Guard("member-page", lambda ctx: reverse("member-page", args=[ctx.world.bob_member.member_no]), _grants_for_bob,
          _qualifications_section, who="dave", name="qualifications"),
    Guard("api:training-session-detail", lambda ctx: reverse("api:training-session-detail", args=[ctx.session.pk]),
          _roster, json_rows("roster"), who="dave", setup=_planned_session),
    Guard("training-session", lambda ctx: reverse("training-session", args=[ctx.session.pk]) + "?q=Last",
          _members_of_a, context_rows("candidates"), who="dave", setup=_planned_session, cap=20, name="candidates"),
    Guard("api:course-detail", lambda ctx: reverse("api:course-detail", args=[ctx.course.code]), _course_grants,
          json_rows("grants"), who="dave", setup=_course),
    Guard("training-expiring", lambda ctx: reverse("training-expiring") + "?export=csv", _expiring, _csv_rows,
          who="dave", name="csv"),
]  # fmt: skip


@pytest.mark.parametrize("guard", params(GUARDS))
def test_the_query_count_does_not_grow_with_the_rows(world, guard):
    run_guard(guard, world)
