"""Mass assignment: no write route lets a client set a field it must not (issue #5, "fields a role must not change").

Every write route — a web form's POST, an API POST/PUT/PATCH — has a row in mass_assignment_rows*.py and is sent,
by an account allowed to use it:

  with_body  a valid request plus forbidden fields (Poison: ids, actors, timestamps, hashes, holders, versions,
             statuses, privileges, an unknown field). It must succeed with the forbidden fields ignored — or, for an
             endpoint that refuses fields it does not know, answer 400 with its code and write nothing.
  alone      the forbidden fields without the valid request: a 400 for the missing input (nothing written), or for
             an action that takes no input, the action itself.

After each request the database must show that no forbidden field reached it: no row holds a poison value or
points at a poison object that did not before; accounts, roles and members' records are unchanged (but for the
column the action itself sets, e.g. a status change's status); the ledger verifies (holders, versions, lot
balances, hash chain); the rows the request created name the caller as their actor; and a refused request wrote
no row at all. Muster has no site-wide "unknown_field" refusal: DRF serializers and Django forms drop fields they do
not declare, and that is what is asserted. The unit custody policy PUT alone refuses them (400 unknown_setting).

A meta-test fails when a route that accepts POST, PUT, PATCH or DELETE has no row.
"""

import pytest
from django.apps import apps
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from muster.core.models import AuditEvent
from muster.core.tests.mass_assignment_poison import Poison, encode
from muster.core.tests.mass_assignment_rows import WEB, Write
from muster.core.tests.mass_assignment_rows_account import REPLACED
from muster.core.tests.mass_assignment_rows_account import ROWS as ACCOUNT_ROWS
from muster.core.tests.mass_assignment_rows_api import API
from muster.core.tests.mass_assignment_rows_notifications import ROWS as NOTIFICATION_ROWS
from muster.core.tests.test_access_matrix import BUILD_SETTINGS, matrix  # noqa: F401 — the module-wide world
from muster.core.tests.test_refusals import REFUSAL_RECORDS
from muster.custody import ledger
from muster.custody.models import Item
from muster.members.models import Account, Member, RoleAssignment

TABLE: list[Write] = [row for row in WEB if row.id not in REPLACED] + API + NOTIFICATION_ROWS + ACCOUNT_ROWS
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# (route, method) pairs a view accepts that write nothing.
NOT_WRITES = {("favicon.ico", method): "a RedirectView: any method, one redirect" for method in WRITE_METHODS}
NOT_WRITES[("login", "PUT")] = "Django's FormView.put calls post, but Django reads no form from a PUT: an empty form"
# Foreign keys to an account that say who did something: a row a request creates names the caller there, or no one.
ACTOR_FIELDS = frozenset({
    "actor", "account", "user", "opened_by", "closed_by", "counter", "signed_by", "resolved_by", "changed_by",
    "vetted_by", "recorded_by", "set_by", "updated_by", "recalled_by", "granted_by", "completed_by", "created_by",
})  # fmt: skip
# Tables a refused request may still write to: its session.
# The session a request signs in with. (The audit trail's record of the refusal itself is not counted: _rows.)
REFUSAL_MAY_WRITE = frozenset({"sessions.Session"})


@pytest.fixture(scope="module")
def poisoned(matrix, django_db_blocker):  # noqa: F811 — the fixture imported above
    """The access matrix's world, plus the poison objects (built inside the same rolled-back transaction)."""
    world, objects = matrix
    with django_db_blocker.unblock(), override_settings(**BUILD_SETTINGS):
        return world, objects, Poison.build()


def cases():
    for row in TABLE:
        for mode in ("with_body", "alone"):
            yield pytest.param(row, mode, id=f"{row.id}-{mode}")


@pytest.mark.parametrize(("row", "mode"), list(cases()))
def test_it_keeps_forbidden_fields_out_of_the_database(poisoned, db, row, mode):
    world, objects, poison = poisoned
    t = type(objects["own"])(**vars(objects["own"]))  # this case's own copy: `prepare` may add to it
    if row.prepare:
        row.prepare(world, t)
    caller = world.bob if row.caller == "anon" else getattr(world, row.caller)
    data = request_data(row, poison, row.body(t) if mode == "with_body" else {})
    client = client_for(row, caller)  # signing in writes an audit row: before the snapshot
    before = snapshot(poison)
    response = send(client, row, row.url(t), data)
    after = snapshot(poison)

    status, content = response.status_code, response.content.decode(errors="replace")[:600]
    what = f"{row.method} {row.url(t)} as {row.caller} ({mode}): {status} {response.get('Location', '')} {content}"
    if row.refuses:
        assert (status, response.json().get("code")) == (400, row.refuses), what
    elif mode == "with_body":
        assert status in (200, 201, 204, 302), what
        assert row.name == "logout" or not response.get("Location", "").startswith("/login/"), what
    else:
        assert status in (200, 201, 204, 302, 400, 409, *row.alone_answers), what
    assert_untouched(row, before, after, caller=caller, refused=status == 400)
    if mode == "with_body" and row.check and not row.refuses:
        row.check(world, t)


def request_data(row: Write, poison: Poison, body: dict) -> dict:
    forbidden = poison.generic()
    for group in row.extras:
        forbidden.update(group(poison))
    skipped = {*body, *row.legit}
    forbidden = {name: encode(value, api=row.api) for name, value in forbidden.items() if name not in skipped}
    if row.nested in body:
        body = {**body, row.nested: [{**forbidden, **entry} for entry in body[row.nested]]}
    if row.prefix:
        body = {f"{row.prefix}-{name}": value for name, value in body.items()}
        forbidden.update({f"{row.prefix}-{name}": value for name, value in forbidden.items()})
    return {**forbidden, **body}


def client_for(row: Write, caller: Account):
    client = APIClient() if row.api else Client()
    if row.caller != "anon":
        client.force_authenticate(caller) if row.api else client.force_login(caller)
    return client


def send(client, row: Write, path: str, data: dict):
    if row.api:
        return getattr(client, row.method.lower())(path, data, format="json")
    return client.post(path, data)


# --- the database, before and after --------------------------------------------------------------------------------


def _models():
    return [model for model in apps.get_models(include_auto_created=True) if model._meta.managed]


def _actor_fields(model) -> list[str]:
    return [
        field.attname
        for field in model._meta.concrete_fields
        if field.name in ACTOR_FIELDS and field.is_relation and field.related_model is Account
    ]


def _rows(model):
    """The model's rows, the audit trail's records of refusals aside: a refused request writes its own (ASVS 16.3.2),
    and nothing else."""
    rows = model._base_manager.all()
    return rows.exclude(kind__in=REFUSAL_RECORDS) if model is AuditEvent else rows


def snapshot(poison: Poison) -> dict:
    account_columns = [field.attname for field in Account._meta.concrete_fields if field.name != "last_login"]
    item_columns = ["pk", "serial_number", "item_type_id", "home_armory_id", "manufacturer", "markings", "notes"]
    return {
        "poisoned": poison.rows(),
        "accounts": list(Account.objects.order_by("pk").values(*account_columns)),
        "roles": sorted(RoleAssignment.objects.values_list("account_id", "unit_id", "role")),
        "members": {member["id"]: member for member in Member.objects.values()},
        "items": list(Item.objects.order_by("pk").values_list(*item_columns)),
        "rows": {model._meta.label: _rows(model).count() for model in _models()},
        "made": {
            model._meta.label: set(model._base_manager.values_list("pk", flat=True))
            for model in _models()
            if _actor_fields(model)
        },
    }


def _without(accounts: list[dict], caller: Account, columns: frozenset) -> list[dict]:
    """The accounts with the caller's `columns` (what the action itself sets) left out."""
    return [
        {name: value for name, value in row.items() if name not in columns} if row["id"] == caller.pk else row
        for row in accounts
    ]


def assert_untouched(row: Write, before: dict, after: dict, *, caller: Account, refused: bool) -> None:
    assert after["poisoned"] == before["poisoned"], "a forbidden field's value reached the database"
    assert _without(after["accounts"], caller, row.account_changes) == _without(
        before["accounts"], caller, row.account_changes
    ), "an account changed"
    assert after["roles"] == before["roles"], "a role was granted or revoked"
    assert after["items"] == before["items"], "an item's register entry changed"
    assert after["members"].keys() == before["members"].keys(), "a member was added or removed"
    for pk, was in before["members"].items():
        now = after["members"][pk]
        changed = {column for column in was if was[column] != now[column]} - row.changes
        assert not changed, f"member {was['member_no']}: {sorted(changed)} changed"
    verified = ledger.verify()
    assert verified.ok, verified.summary()
    for model in _models():
        label = model._meta.label
        if label not in before["made"]:
            continue
        made = after["made"][label] - before["made"][label]
        for values in model._base_manager.filter(pk__in=made).values(*_actor_fields(model)):
            strangers = {name: pk for name, pk in values.items() if pk not in (None, caller.pk)}
            assert not strangers, f"a new {label} names someone else as its actor: {strangers}"
    if refused:
        grown = {
            label: (count, after["rows"][label])
            for label, count in before["rows"].items()
            if after["rows"][label] != count and label not in REFUSAL_MAY_WRITE
        }
        assert not grown, f"a refused request wrote rows: {grown}"


# --- the meta-test -------------------------------------------------------------------------------------------------


def write_routes(patterns=None, namespace: str = "") -> dict[str, set[str]]:
    """{route name: the writing methods its view accepts}, admin and format-suffix patterns left out."""
    found: dict[str, set[str]] = {}
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        text = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if text.startswith("admin/"):
                continue
            prefix = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            for name, methods in write_routes(pattern.url_patterns, prefix).items():
                found.setdefault(name, set()).update(methods)
        elif isinstance(pattern, URLPattern):
            if "(?P<format>" in text or "<drf_format_suffix:format>" in text:
                continue
            methods = view_methods(pattern.callback) & WRITE_METHODS
            if methods:
                found.setdefault(f"{namespace}{pattern.name}" if pattern.name else text, set()).update(methods)
    return found


def view_methods(callback) -> set[str]:
    actions = getattr(callback, "actions", None)  # a DRF viewset bound to {method: action}
    if actions:
        return {method.upper() for method in actions}
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    assert view is not None, f"{callback!r}: not a class-based view, so the test cannot tell what it accepts"
    return {method.upper() for method in view.http_method_names if hasattr(view, method)}


def test_every_write_route_has_a_row_and_every_row_a_write_route():
    routes = {(name, method) for name, methods in write_routes().items() for method in methods}
    routes -= NOT_WRITES.keys()
    rows = {(row.name, row.method) for row in TABLE}
    assert not sorted(routes - rows), f"Write routes without a row in mass_assignment_rows*.py: {sorted(routes - rows)}"
    assert not sorted(rows - routes), f"Rows naming no write route: {sorted(rows - routes)}"
    ids = [row.id for row in TABLE]
    assert len(ids) == len(set(ids)), "two rows share a route, method and variant"


def test_the_meta_test_sees_each_kind_of_write_route():
    # Guards the walk: a web form, a DRF view, a viewset's create and a PUT must all be in it.
    routes = write_routes()
    assert {"POST"} <= routes["custody-issue"] and {"POST"} <= routes["api:custody-issue"]
    assert "POST" in routes["api:loss-case-list"] and "PUT" in routes["api:unit-custody-policy"]
    assert "member-page" not in routes and "api:item-detail" not in routes


def test_a_write_route_missing_from_the_table_is_named():
    # The meta-test's own check, run against a table with one row taken out.
    routes = {(name, method) for name, methods in write_routes().items() for method in methods}
    rows = {(row.name, row.method) for row in TABLE if row.name != "api:custody-issue"}
    assert ("api:custody-issue", "POST") in routes - rows
