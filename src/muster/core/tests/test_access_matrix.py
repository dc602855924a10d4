"""Every route × role × own unit / other unit (access_table.TABLE), and a meta-test that every route has a row.

The world (conftest `world` + build_objects) is built once for the module; each case runs in a savepoint inside it,
signs one role in (force_login for pages, force_authenticate for the API), sends one request and checks the answer's
class: the gate let the caller through, or login, 403, 404. Objects of another unit answer 404; nothing answers 500
(the test client re-raises the exception, which fails the case).
"""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from muster import conftest
from muster.core.testing import make_account, make_member
from muster.core.tests.access_table import FEATURE_MODULES, PIN, ROLES, TABLE
from muster.custody import counts, handover, losses, recalls, services
from muster.custody.models import Armory, Recall
from muster.custody.testing import make_item, make_item_type
from muster.members.models import Role
from muster.training import services as training
from muster.training.testing import make_course, make_qualification

OK_STATUSES = {200, 201, 204, 301, 302, 400, 409}


def unit_objects(world, *, unit, armory, armorer, commander, member, receiver, controls=None):
    """One unit's objects about `member`: an item in the armory, one issued to the member (its issue event, a recall
    of it), a training session, and `receiver` (another member of the unit) for handovers."""
    item = make_item(armory, armorer)
    held = make_item(armory, armorer)
    event = services.issue(item=held, member=member, actor=armorer, due_at=timezone.now() + timedelta(days=3))
    held.refresh_from_db()
    recall = recalls.raise_recall(item=held, reason=Recall.Reason.VETTING_EXPIRED, detail="matrix")
    session = training.schedule_session(
        course=world.course, unit=unit, starts_at=timezone.now() + timedelta(days=7), place="Range", actor=commander
    )
    controls = controls or control_objects(unit=unit, armory=armory, armorer=armorer)
    return SimpleNamespace(
        **controls,
        unit=unit,
        armory=armory,
        member=member,
        receiver=receiver,
        item=item,
        held=held,
        event=event,
        recall=recall,
        session=session,
        course=world.course,
        qualification=world.qualification,
        itemtype=world.itemtype,
    )


def build_objects(world) -> dict[str, SimpleNamespace]:
    """The objects each scope's URLs and bodies name: "own" (A, about bob), "peer" (A, about Paula), "other" (B)."""
    world.itemtype = make_item_type()
    world.qualification = make_qualification("matrix-rifle")
    world.course = make_course("matrix-basic", grants=[world.qualification])
    cora = make_account("cora", roles=[(Role.COMMANDER, world.unit_b)])
    paula = make_member(world.unit_a, first_name="Paula")
    bruno = make_member(world.unit_b, first_name="Bruno")
    for member in (world.bob_member, paula, world.member_b, bruno):
        handover.set_pin(member=member, pin=PIN, actor=world.rita)
    common = {"world": world, "unit": world.unit_a, "armory": world.armory_a, "armorer": world.alice}
    own = unit_objects(**common, commander=world.dave, member=world.bob_member, receiver=paula)
    controls = {name: getattr(own, name) for name in CONTROL_OBJECTS}  # one count under way per armory
    peer = unit_objects(**common, commander=world.dave, member=paula, receiver=world.bob_member, controls=controls)
    other = unit_objects(
        world, unit=world.unit_b, armory=world.armory_b, armorer=world.carol, commander=cora,
        member=world.member_b, receiver=bruno,
    )  # fmt: skip
    objects = {"own": own, "peer": peer, "other": other}
    for module in FEATURE_MODULES:
        if hasattr(module, "build"):
            module.build(world, objects)
    return objects


CONTROL_OBJECTS = ("workshop", "loss_case", "submitted_count", "discrepancy", "count")


def control_objects(*, unit, armory, armorer) -> dict:
    """Loss cases, maintenance and counts: a workshop, a loss case, a submitted count with a discrepancy (for
    signing and resolving) and a count under way by the armorer (for scanning and submitting)."""
    workshop = Armory.objects.create(code=f"WS-{unit.code}", name=f"Workshop {unit.code}", unit=unit, kind="workshop")
    case = losses.open_case(
        item=make_item(armory, armorer), kind="lost", circumstances="Not found after the exercise.",
        occurred_at=timezone.now() - timedelta(hours=2), place="Range", actor=armorer,
    )  # fmt: skip
    submitted = counts.start(armory=armory, actor=armorer)
    discrepancy = counts.submit(count=submitted, actor=armorer)[0]
    return {
        "workshop": workshop,
        "loss_case": case,
        "submitted_count": submitted,
        "discrepancy": discrepancy,
        # A second store: a count under way and a submitted one cannot share an armory.
        "count": counts.start(
            armory=Armory.objects.create(code=f"ST-{unit.code}", name="Store", unit=unit), actor=armorer
        ),
    }


@pytest.fixture(scope="module")
def matrix(django_db_setup, django_db_blocker):
    """The conftest `world` plus build_objects, built once for the module inside a transaction that is rolled back
    at the end; each case runs in a savepoint inside it (pytest-django's `db`), so what a case writes is undone.

    The outer block is marked as a test case's own (as django.test.TestCase marks its class-wide block), so the
    services' durable transactions may run inside it, exactly as they do inside every test."""
    with django_db_blocker.unblock(), override_settings(**BUILD_SETTINGS):
        outer = transaction.atomic()
        outer._from_testcase = True
        outer.__enter__()
        try:
            world = conftest.world.__wrapped__(db=None)
            yield world, build_objects(world)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# The conftest's autouse settings are per test; the module-wide build needs them too.
BUILD_SETTINGS = {
    "MUSTER_REQUIRE_HANDOVER_PIN": False,
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "AXES_ENABLED": False,
    "MUSTER_REQUIRE_TOTP": False,
}


def client_for(world, role: str, *, api: bool):
    account = None if role == "anon" else getattr(world, role)
    if api:
        client = APIClient()
        if account is not None:
            client.force_authenticate(account)
        return client
    client = Client()
    if account is not None:
        client.force_login(account)
    return client


def answer_class(response, *, api: bool) -> str:
    status = response.status_code
    if status in (301, 302) and response["Location"].startswith("/login/"):
        return "L"
    if status == 401 and api:
        return "L"
    if status in OK_STATUSES:
        return "O"
    return {403: "F", 404: "N"}.get(status, f"unexpected {status}")


def matches(expected: str, response, *, api: bool) -> bool:
    if expected == "R":
        return response.status_code == 400
    return answer_class(response, api=api) == expected


def cases():
    for table_row in TABLE:
        for check in table_row.checks:
            for scope in check.expect.scopes():
                for role in ROLES:
                    case_id = f"{table_row.name}-{check.method}-{scope}-{role}"
                    bug = check.bugs.get((role, scope))
                    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
                    yield pytest.param(table_row, check, scope, role, id=case_id, marks=marks)


@pytest.mark.parametrize(("table_row", "check", "scope", "role"), list(cases()))
def test_it_answers_each_role_as_the_table_says(matrix, db, table_row, check, scope, role):
    world, objects = matrix
    objs = objects[scope]
    path = table_row.url(objs)
    api = path.startswith("/api/")
    client = client_for(world, role, api=api)
    body = check.body(objs) if check.body else {}
    if check.method == "GET":
        response = client.get(path)
    elif api:
        response = getattr(client, check.method.lower())(path, body, format="json")
    else:
        response = client.post(path, body)
    expected = check.expect.letter(scope, role)
    assert matches(expected, response, api=api), (
        f"{check.method} {path} as {role} ({scope}): expected {expected}, "
        f"got {response.status_code} {answer_class(response, api=api)} {response.get('Location', '')}"
    )


# --- the meta-test -------------------------------------------------------------------------------------------------


def route_names(patterns=None, namespace: str = "") -> set[str]:
    """Every route's name ("api:item-detail"; the pattern for an unnamed one), admin and format suffixes left out."""
    names: set[str] = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        text = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if text.startswith("admin/"):
                continue
            prefix = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= route_names(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern):
            if "(?P<format>" in text or "<drf_format_suffix:format>" in text:
                continue
            names.add(f"{namespace}{pattern.name}" if pattern.name else text)
    return names


def test_every_route_has_a_row_and_every_row_a_route():
    routes = route_names()
    rows = [table_row.name for table_row in TABLE]
    missing = sorted(routes - set(rows))
    stale = sorted(set(rows) - routes)
    repeated = sorted({name for name in rows if rows.count(name) > 1})
    assert not missing, f"Routes without a row in core/tests/access_table.py: {missing}"
    assert not stale, f"Rows naming routes that no longer exist: {stale}"
    assert not repeated, f"Routes with more than one row: {repeated}"


def test_every_route_name_is_seen_by_the_meta_test():
    # Guards the walk itself: a few known routes of each kind must be in it, so an empty walk cannot pass.
    assert {"home", "favicon.ico", "api:item-detail", "api-ledger-receipt", "member-page"} <= route_names()
