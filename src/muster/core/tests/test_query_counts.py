"""Query-count guards: a list or detail page, and an API list, runs the same number of SQL queries whether it shows a
few rows or many (the benchmark issue's "10 or 1,000 rows", kept at 10 against 60 so the suite stays fast).

Each app's tests/test_query_counts.py holds a table of `Guard` rows, one per route (or per part of a page that grows
on its own), and runs every row through `run_guard`. This module holds the helper, the change log's rows, and the
meta-test: every route is guarded by a row of those tables, or by a named test elsewhere (COVERED_ELSEWHERE), or is
excluded below with the reason it shows no rows (EXCLUDED). A new route without any of the three fails the meta-test.
"""

import importlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from muster.core import changelog
from muster.core.tests.test_access_matrix import route_names
from muster.training.testing import make_course, make_qualification

pytestmark = pytest.mark.django_db


# --- the helper ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """One route whose query count must not grow with its rows.

    `setup(ctx)` puts the page's own objects on `ctx` (which carries `ctx.world`), `url(ctx)` is the path to fetch
    (read again after each `add`, for a page rebuilt with its rows), `add(ctx, n)` adds n rows the page shows, and
    `shown(response)` counts the rows the response shows. `cap` is where the page stops: its first page, or a
    "latest N" list; the many-rows fetch must show exactly that many. `xfail` names a known N+1 in a file this
    task may not edit (the row flips to a failure once it is fixed, so the mark is removed with the fix).
    """

    route: str
    url: Callable[[SimpleNamespace], str]
    add: Callable[[SimpleNamespace, int], None]
    shown: Callable
    who: str = "alice"
    setup: Callable[[SimpleNamespace], None] | None = None
    few: int = 10
    many: int = 60
    cap: int | None = None
    name: str = ""
    xfail: str = ""

    @property
    def api(self) -> bool:
        """API routes ("api:..." and the PDFs' "api-...") get an APIClient, web pages a signed-in Client."""
        return self.route.startswith(("api:", "api-"))

    @property
    def id(self) -> str:
        return f"{self.route}[{self.name}]" if self.name else self.route


def params(guards: list[Guard]) -> list:
    """The table as pytest parameters, ids from the route names, known failures marked xfail(strict)."""
    return [
        pytest.param(
            guard, id=guard.id, marks=[pytest.mark.xfail(strict=True, reason=guard.xfail)] if guard.xfail else []
        )
        for guard in guards
    ]


def _client(account, *, api: bool):
    if api:
        client = APIClient()
        client.force_authenticate(account)
        return client
    client = Client()
    client.force_login(account)
    return client


def _shape(sql: str) -> str:
    """A query with its literals blanked, so the same query for another row reads the same."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    return re.sub(r"\d+", "?", sql)


def _growth(few: list[dict], many: list[dict]) -> str:
    before = Counter(_shape(query["sql"]) for query in few)
    after = Counter(_shape(query["sql"]) for query in many)
    grown = [f"  {before[shape]} -> {count}: {shape[:300]}" for shape, count in after.items() if count > before[shape]]
    return "\n".join(grown) or "  (the same queries, in other numbers)"


def run_guard(guard: Guard, world) -> None:
    """Fetch the route with `few` rows and with `many`: the rows shown grow, the number of queries does not."""
    ctx = SimpleNamespace(world=world)
    if guard.setup:
        guard.setup(ctx)
    client = _client(getattr(world, guard.who), api=guard.api)

    def fetch() -> tuple[list[dict], int]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(guard.url(ctx))
        assert response.status_code == 200, (guard.url(ctx), response.status_code, response.content[:500])
        return captured.captured_queries, guard.shown(response)

    guard.add(ctx, guard.few)
    fetch()  # the first fetch with rows warms what is cached per process (content types, the session)
    few_queries, few_rows = fetch()
    guard.add(ctx, guard.many - guard.few)
    many_queries, many_rows = fetch()
    # The page really shows the rows: all of them, or (capped) fewer than a full page, then a full page.
    shows = f"{guard.id} shows {few_rows} rows after {guard.few} were added and {many_rows} after {guard.many}"
    if guard.cap is None:
        assert few_rows >= guard.few and many_rows - few_rows == guard.many - guard.few, shows
    else:
        assert guard.few <= few_rows < guard.cap == many_rows, f"{shows} (at most {guard.cap})"
    few_count, many_count = len(few_queries), len(many_queries)
    assert many_count == few_count, (
        f"{guard.id}: {few_count} queries for {few_rows} rows, {many_count} for {many_rows}; "
        f"grown:\n{_growth(few_queries, many_queries)}"
    )


def context_rows(name: str) -> Callable:
    """shown(): the length of a template context variable (a list, or a page of a paginator)."""
    return lambda response: len(response.context[name])


def json_rows(key: str = "results") -> Callable:
    return lambda response: len(response.json()[key])


# --- the change log ------------------------------------------------------------------------------------------------


def _changes(ctx, n: int) -> None:
    """n change records through the change log's own bulk path: about a member of A and about a course (site-wide),
    the two kinds a reader of unit A sees."""
    world = ctx.world
    if not hasattr(ctx, "member"):
        ctx.member = world.bob_member
        ctx.course = make_course("qc-course", grants=[make_qualification("qc-rifle")])
    entries = []
    for number in range(n):
        subject = ctx.member if number % 2 else ctx.course
        entries.append(changelog.entry(actor=world.dave, obj=subject, action=changelog.CREATE))
    changelog.record_many(entries)


def _member_changes(ctx, n: int) -> None:
    """n change records about bob (his card on the member page lists the latest of them)."""
    changelog.record_many(
        changelog.entry(actor=ctx.world.dave, obj=ctx.world.bob_member, action=changelog.CREATE) for _ in range(n)
    )


def _changes_card(response) -> int:
    (section,) = [s for s in response.context["sections"] if s.template == "core/changes_member_section.html"]
    return len(section.context["changes"])


GUARDS = [
    Guard("changes", lambda ctx: reverse("changes"), _changes, context_rows("page_obj"), who="dave", cap=50),
    Guard("api:change-list", lambda ctx: reverse("api:change-list"), _changes, json_rows(), who="dave", cap=50),
    # The member page's "Record history" card: the latest five.
    Guard("member-page", lambda ctx: reverse("member-page", args=[ctx.world.bob_member.member_no]), _member_changes,
          _changes_card, who="dave", few=2, many=8, cap=5, name="change-log card"),
]  # fmt: skip


@pytest.mark.parametrize("guard", params(GUARDS))
def test_the_query_count_does_not_grow_with_the_rows(world, guard):
    run_guard(guard, world)


# --- the meta-test ---------------------------------------------------------------------------------------------------


def _guard_modules() -> list[str]:
    """Every `muster.<app>.tests.test_query_counts*` module: the tables may be split by feature."""
    import pkgutil

    found = []
    for app in ("core", "members", "training", "custody"):
        package = importlib.import_module(f"muster.{app}.tests")
        found += [f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
                  if info.name.startswith("test_query_counts")]  # fmt: skip
    return sorted(found)


GUARD_MODULES = _guard_modules()

# Routes whose guard was written before these tables, as a test of their feature: route → the tests (module::name).
COVERED_ELSEWHERE: dict[str, tuple[str, ...]] = {
    "member-index": ("muster.members.tests.test_web::test_the_member_list_query_count_does_not_grow_with_its_rows",),
    "member-page": (
        "muster.members.tests.test_web::test_the_member_page_query_count_does_not_grow_with_the_record",
        "muster.custody.tests.test_web::test_the_member_page_query_count_does_not_grow_with_its_rows",
        "muster.custody.tests.test_web_pins::test_the_pin_entries_list_keeps_the_member_page_query_count_flat",
    ),
    "home": ("muster.custody.tests.test_web_overrides::test_the_recall_list_query_count_does_not_grow_with_its_rows",),
    "armory-page": (
        "muster.custody.tests.test_web::test_the_armory_page_query_count_does_not_grow_with_its_rows",
        "muster.custody.tests.test_dashboard::test_the_dashboard_query_count_does_not_grow_with_the_data",
    ),
    "inspection-index": ("muster.custody.tests.test_web_maintenance::test_the_queue_reads_a_flat_number_of_queries",),
    "loss-index": ("muster.custody.tests.test_web_losses::test_the_list_reads_a_flat_number_of_queries",),
    "armory-counts": ("muster.custody.tests.test_web_counts::test_the_history_page_reads_a_flat_number_of_queries",),
    "count-page": ("muster.custody.tests.test_web_counts::test_the_count_page_reads_a_flat_number_of_queries",),
    "unit-dashboard": (
        "muster.custody.tests.test_dashboard::test_the_dashboard_query_count_does_not_grow_with_the_data",
    ),
    "unit-keys": (
        "muster.custody.tests.test_keys_register::test_the_register_query_count_does_not_grow_with_its_rows",
    ),
    "lot-index": ("muster.custody.tests.test_web_lots::test_the_list_reads_in_a_fixed_number_of_queries",),
    "lot-page": ("muster.custody.tests.test_web_lots::test_the_lot_page_reads_in_a_fixed_number_of_queries",),
    "training-calendar": ("muster.training.tests.test_web::test_the_calendar_query_count_does_not_grow_with_its_rows",),
    "training-session": (
        "muster.training.tests.test_web::test_the_session_page_query_count_does_not_grow_with_its_roster",
        "muster.training.tests.test_web::test_the_completed_session_page_query_count_does_not_grow_with_its_roster",
    ),
    "training-expiring": (
        "muster.training.tests.test_web_qualifications::test_the_expiry_report_query_count_does_not_grow_with_its_rows",
    ),
    "api:member-status-history": (
        "muster.members.tests.test_api_lifecycle::test_it_keeps_record_list_query_counts_flat",
    ),
    "api:member-vettings": ("muster.members.tests.test_api_lifecycle::test_it_keeps_record_list_query_counts_flat",),
    "api:member-disciplinary": (
        "muster.members.tests.test_api_lifecycle::test_it_keeps_record_list_query_counts_flat",
    ),
    "api:member-qualifications": ("muster.training.tests.test_api_records::test_it_keeps_query_counts_flat",),
    "api:report-expiring": ("muster.training.tests.test_api_records::test_it_keeps_query_counts_flat",),
    "api:report-overrides": (
        "muster.custody.tests.test_api_overrides::test_it_keeps_the_overrides_report_query_count_flat",
    ),
    "api:report-inspections": (
        "muster.custody.tests.test_api_maintenance::test_it_lists_the_inspection_queue_in_a_fixed_number_of_queries",
    ),
    "api:lot-list": ("muster.custody.tests.test_api_lots::test_the_list_reads_in_a_fixed_number_of_queries",),
    "api:unit-dashboard": (
        "muster.custody.tests.test_dashboard::test_the_dashboard_query_count_does_not_grow_with_the_data",
    ),
    "api:key-list": (
        "muster.custody.tests.test_keys_register::test_the_register_query_count_does_not_grow_with_its_rows",
    ),
    "api:unit-list": ("muster.members.tests.test_api::test_it_keeps_list_query_counts_flat",),
    "api:member-list": ("muster.members.tests.test_api::test_it_keeps_list_query_counts_flat",),
    "api:qualification-list": ("muster.training.tests.test_api::test_it_keeps_list_query_counts_flat",),
    "api:course-list": ("muster.training.tests.test_api::test_it_keeps_list_query_counts_flat",),
    "api:training-session-list": ("muster.training.tests.test_api::test_it_keeps_list_query_counts_flat",),
    "api:itemtype-list": (
        "muster.custody.tests.test_api::test_it_keeps_list_query_counts_flat",
        "muster.custody.tests.test_api_overrides::test_it_keeps_the_item_type_list_query_count_flat_with_qualifications",
    ),
    "api:armory-list": ("muster.custody.tests.test_api::test_it_keeps_list_query_counts_flat",),
    "api:item-list": ("muster.custody.tests.test_api::test_it_keeps_list_query_counts_flat",),
    "api:ledger-list": ("muster.custody.tests.test_api::test_it_keeps_list_query_counts_flat",),
    "api:recall-list": ("muster.custody.tests.test_api_recalls::test_it_keeps_the_recall_list_query_count_flat",),
    "api:loss-case-list": (
        "muster.custody.tests.test_api_losses::test_it_lists_loss_cases_in_a_fixed_number_of_queries",
    ),
    "api:count-list": ("muster.custody.tests.test_api_counts::test_it_lists_counts_in_a_fixed_number_of_queries",),
}

# Routes that show no rows, each with the reason. A route that starts showing a list must leave this table.
EXCLUDED: dict[str, str] = {
    # Redirects, sign-in, the API's own machinery.
    "favicon.ico": "a redirect to the static icon",
    "my-dashboard": "a redirect to the unit dashboard (guarded) or the key register (guarded)",
    "login": "the sign-in form",
    "logout": "signs out and redirects",
    "otp-verify": "the second-factor form",
    "otp-enrol": "the second-factor set-up form (one QR code)",
    "otp-reset": "POST only: resets one account's second factor",
    "api:schema": "the OpenAPI document: describes the routes, lists no rows",
    "api:docs": "Swagger UI's page: a script that reads the schema",
    "api:api-root": "the router's index of collection URLs",
    "api:token": "POST only: issues a token",
    # Forms: GET shows a form (at most one event, the one just recorded), POST changes one thing and redirects or
    # re-renders the form with its error.
    "custody-issue": "the issue form (with the event just recorded)",
    "custody-return": "the return form (with the event just recorded)",
    "custody-transfer": "the handover form (with the event just recorded)",
    "loss-report": "the loss report form for one item",
    "maintenance-send": "the send-to-workshop form for one item",
    "maintenance-receive": "the receive-from-workshop form for one item",
    "lot-receive": "the delivery form",
    "lot-issue": "a movement form for one lot",
    "lot-return": "a movement form for one lot",
    "lot-settle": "a movement form for one lot",
    "lot-expend": "a movement form for one lot",
    "lot-loss": "a movement form for one lot",
    "lot-recall": "a movement form for one lot",
    "lot-recover": "the recovery form for one lot loss case",
    "training-schedule": "the scheduling form",
    "unit-custody-policy": "one unit's policy: a fixed table, one row per setting",
    # POST-only actions: they answer with a redirect to a guarded page, or re-render it with the form's error.
    "member-status": "POST only; re-renders member-page (guarded)",
    "member-vetting": "POST only; re-renders member-page (guarded)",
    "member-discipline": "POST only; re-renders member-page (guarded)",
    "member-prior-service": "POST only; re-renders member-page (guarded)",
    "member-handover-pin": "POST only; re-renders member-page (guarded)",
    "count-scan": "POST only; answers with count-page's scan list (guarded on count-page)",
    "count-submit": "POST only; re-renders count-page (guarded)",
    "count-sign": "POST only; re-renders count-page (guarded)",
    "count-resolve": "POST only; re-renders one discrepancy or count-page (guarded)",
    "counter-scan": "POST only; answers with the counter's panel (guarded on counter)",
    "counter-pin": "POST only; answers with the counter's panel (guarded on counter)",
    "training-enroll": "POST only; re-renders training-session (guarded)",
    "training-results": "POST only; re-renders training-session (guarded)",
    "training-cancel": "POST only; re-renders training-session (guarded)",
    "api:custody-issue": "POST only: one ledger event",
    "api:custody-return": "POST only: one ledger event",
    "api:custody-transfer": "POST only: one ledger event",
    "api:member-status": "POST only: one status change",
    "api:prior-service": "POST only: one grant",
    "api:training-session-enroll": "POST only: answers with the session (its roster: training-session-detail, guarded)",
    "api:training-session-results": "POST only: answers with the session (training-session-detail, guarded)",
    "api:training-session-cancel": "POST only: answers with the session (training-session-detail, guarded)",
    "api:maintenance-send": "POST only: one ledger event",
    "api:maintenance-receive": "POST only: one ledger event",
    "api:loss-case-report": "POST only: one loss case",
    "api:loss-case-recover": "POST only: one loss case",
    "api:count-scan": "POST only: one scan",
    "api:count-submit": "POST only: answers with the count (count-detail, guarded)",
    "api:count-sign": "POST only: answers with the count (count-detail, guarded)",
    "api:discrepancy-resolve": "POST only: one discrepancy",
    "api:lot-receive": "POST only: one ledger event",
    "api:lot-issue": "POST only: one ledger event",
    "api:lot-return": "POST only: one ledger event",
    "api:lot-expend": "POST only: one ledger event",
    "api:lot-settle": "POST only: one settlement",
    "api:lot-loss": "POST only: one loss case",
    "api:lot-recall": "POST only: one lot",
    "api:loss-case-recover-lot": "POST only: one ledger event",
    # One object and its own fields (foreign keys joined in the same query): nothing that grows.
    "event-receipt": "one ledger event's receipt",
    "api-ledger-receipt": "one ledger event's receipt",
    "loss-page": "one loss case",
    "api:unit-custody-policy": "one unit's policy: a fixed set of settings",
    "api:change-detail": "one change record",
    "api:unit-detail": "one unit",
    "api:member-detail": "one member",
    "api:qualification-detail": "one qualification",
    "api:armory-detail": "one armory",
    "api:item-detail": "one item",
    "api:recall-detail": "one recall",
    "api:ledger-detail": "one ledger event",
    "api:loss-case-detail": "one loss case",
    "ledger-checkpoint-file": "one checkpoint's file",
    "ledger-public-key": "one key",
    "ledger-export": "a streamed file: one keyset-paged read of the ledger, not a page of rows",
}


def guarded_routes() -> dict[str, list[str]]:
    """route → the ids of its rows in the four tables."""
    found: dict[str, list[str]] = {}
    for name in GUARD_MODULES:
        for guard in importlib.import_module(name).GUARDS:
            found.setdefault(guard.route, []).append(guard.id)
    return found


def test_every_route_is_guarded_or_excluded_with_a_reason():
    routes = route_names()
    guarded = guarded_routes()
    covered = set(guarded) | set(COVERED_ELSEWHERE)
    excluded = {**EXCLUDED}
    for name in GUARD_MODULES:  # a feature's table may exclude its own routes beside its guards
        excluded.update(getattr(importlib.import_module(name), "EXCLUDED", {}))
    missing = sorted(routes - covered - set(excluded))
    stale = sorted((covered | set(excluded)) - routes)
    both = sorted(covered & set(excluded))
    assert not missing, f"Routes without a query-count guard (add a Guard row, or an EXCLUDED reason): {missing}"
    assert not stale, f"Guards or exclusions naming routes that no longer exist: {stale}"
    assert not both, f"Routes both guarded and excluded: {both}"
    assert all(reason.strip() for reason in excluded.values())


def test_every_guard_row_is_unique_and_every_named_guard_exists():
    ids = [guard_id for ids in guarded_routes().values() for guard_id in ids]
    assert len(ids) == len(set(ids)), sorted({guard_id for guard_id in ids if ids.count(guard_id) > 1})
    for tests in COVERED_ELSEWHERE.values():
        for test in tests:
            module, name = test.split("::")
            assert callable(getattr(importlib.import_module(module), name, None)), f"no test {test}"
