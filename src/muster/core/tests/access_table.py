"""The access-control table: every route (web page, API operation) × role × own / other unit → expected answer.

test_access_matrix.py runs it and fails when a route has no row here. Expectations are strings with one letter per
role, in the order of ROLES:

  O  ok: the gate let the caller through (200/201/204, a redirect that is not to the login page, 400 or 409)
  L  login: 302 to /login/ for a web page, 401 for the API
  F  forbidden: 403 (the caller lacks the role)
  N  not found: 404 (the object is not in the caller's units, or not theirs)
  R  rejected: 400 — the form only offers the caller's own units, so another unit's is an invalid choice

Scopes: "own" uses unit A's objects about bob (his member record, the item he holds, its issue event, its recall),
"other" uses unit B's objects, "peer" uses unit A's objects about another member of A (Paula), for the routes where a
plain member may see their own things but not a peer's. A check without an `other` expectation concerns no object
of a unit (lists, forms, catalogues) and runs once.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import reverse

ROLES = ("anon", "bob", "alice", "dave", "frank", "erin")  # none, member, armorer, commander, duty officer, auditor


@dataclass(frozen=True)
class Expect:
    own: str
    other: str | None = None
    peer: str | None = None

    def scopes(self) -> list[str]:
        return ["own"] + [name for name in ("other", "peer") if getattr(self, name)]

    def letter(self, scope: str, role: str) -> str:
        return getattr(self, scope)[ROLES.index(role)]


@dataclass(frozen=True)
class Check:
    method: str
    expect: Expect
    body: Callable | None = None  # objs -> dict
    bugs: dict = field(default_factory=dict)  # (role, scope) -> "BUG: ..." — known failures, xfail(strict=True)


@dataclass(frozen=True)
class Row:
    name: str
    url: Callable  # objs -> str
    checks: tuple[Check, ...]


def url(name: str, *attrs: str, query: str = "") -> Callable:
    """A URL builder: reverse(name) with args read from the scope's objects ("member.member_no"), plus a query
    string formatted with them ("unit={o.unit.code}")."""

    def build(objs) -> str:
        args = []
        for path in attrs:
            value = objs
            for part in path.split("."):
                value = getattr(value, part)
            args.append(value)
        path = reverse(name, args=args)
        return f"{path}?{query.format(o=objs)}" if query else path

    return build


def row(name: str, build: Callable, **checks) -> Row:
    """row("member-page", url(...), GET=Expect(...), POST=(Expect(...), body))."""
    made = []
    for method, spec in checks.items():
        if isinstance(spec, Check):
            made.append(spec)
        elif isinstance(spec, tuple):
            made.append(Check(method, *spec))
        else:
            made.append(Check(method, spec))
    return Row(name, build, tuple(made))


# --- policies (anon bob alice dave frank erin) ---------------------------------------------------------------------

PUBLIC = Expect("OOOOOO")
SIGNED_IN = Expect("LOOOOO")
STAFF = Expect("LFOOOO")
ARMORERS = Expect("LFOFFF")
COMMANDERS = Expect("LFFOFF")
COMMANDERS_AUDITORS = Expect("LFFOFO")
# The transfer form: members (for what they hold) and the recorders (armorers, duty officers).
TRANSFER_FORM = Expect("LOOFOF")
LOGOUT = Expect("LLLLLL")  # logging out (or being logged out already) ends on the login page

SELF_OR_STAFF = Expect("LOOOOO", "LNNNNN", peer="LNOOOO")
STAFF_OBJECT = Expect("LNOOOO", "LNNNNN")  # a member sees no armory or session: not found, not forbidden
STAFF_IN_UNIT = Expect("LFOOOO", "LFNNNN")  # a staff-only page narrowed to a unit (?unit=)
UNIT_OBJECT = Expect("LOOOOO", "LNNNNN")
MEMBER_COMMANDER = Expect("LFFOFF", "LNNNNN", peer="LNFOFF")
MEMBER_RECORD_READER = Expect("LFFOFO", "LNNNNN", peer="LNFOFO")
PIN_SETTER = Expect("LOOOFF", "LNNNNN", peer="LNOOFF")  # the member, or an armorer or commander of their unit
BADGE_PRINTER = Expect("LNOOFF", "LNNNNN")
SESSION_RECORDER = Expect("LNFOFF", "LNNNNN")  # the instructor (nobody here) or a commander of the session's unit
ARMORER_ACTION = Expect("LFOFFF", "LFNFFF")  # role anywhere first (403), then the item is looked up (404)
TRANSFER_WEB = Expect("LOOFOF", "LNNFNF", peer="LNOFOF")
TRANSFER_API = Expect("LOOFOF", "LNNNNN", peer="LNOFOF")  # any account may ask; the service checks the recorder
SCHEDULE_API = Expect("LFFOFF", "LNNNNN")
SCHEDULE_WEB = Expect("LFFOFF", "LFFRFF")
# Loss cases, maintenance, counts. Reporters: armorers, commanders, duty officers; counters: armorers, duty officers;
# signers: armorers, commanders, duty officers. The counter (alice) signs nothing of her own count (409 same_signer).
HELD_REPORTERS = Expect("LFOOOF", "LNNNNN", peer="LNOOOF")  # bob sees the item he holds, may not report it
HELD_ARMORERS = Expect("LFOFFF", "LNNNNN", peer="LNOFFF")
OBJECT_REPORTERS = Expect("LNOOOF", "LNNNNN")
OBJECT_COUNTERS = Expect("LNOFOF", "LNNNNN")
OBJECT_SIGNERS = Expect("LNOOOF", "LNNNNN")
THE_COUNTER = Expect("LNOFFF", "LNNNNN")  # only the account that started the count scans and submits it
REPORTER_ACTION = Expect("LFOOOF", "LFNNNF")
COUNTER_ACTION = Expect("LFOFOF", "LFNFNF")
SIGNER_ACTION = Expect("LFOOOF", "LFNNNF")

# --- bodies --------------------------------------------------------------------------------------------------------

PIN = "4071"


def issue_form(o):
    return {"serial": o.item.serial_number, "member_no": o.member.member_no}


def return_form(o):
    return {"serial": o.held.serial_number}


def transfer_form(o):
    return {"serial": o.held.serial_number, "to_member_no": o.receiver.member_no, "giver_pin": PIN, "receiver_pin": PIN}


def schedule_form(o):
    return {"course": o.course.pk, "unit": o.unit.code, "starts_at": "2031-05-01T09:00", "place": "Range 2"}


def schedule_api(o):
    return {"course": o.course.code, "unit": o.unit.code, "starts_at": "2031-05-01T09:00:00Z", "place": "Range 2"}


def issue_api(o):
    return {"item": o.item.pk, "member": o.member.member_no}


def return_api(o):
    return {"item": o.held.pk}


def transfer_api(o):
    return {"item": o.held.pk, "to_member": o.receiver.member_no, "giver_pin": PIN, "receiver_pin": PIN}


def loss_api(o):
    return {
        "item": o.item.pk, "kind": "lost", "circumstances": "Missing at the count.",
        "occurred_at": "2024-05-01T09:00:00Z", "place": "Range 2",
    }  # fmt: skip


def send_api(o):
    return {"item": o.item.pk, "workshop": o.workshop.code, "reason": "Sights loose"}


def receive_api(o):
    return {"item": o.item.pk, "condition": "serviceable", "notes": "Checked"}


def police_report(o):
    return {"action": "report", "police_report_no": "PR-2024-17"}


def explanation(o):
    return {"explanation": "Found on the cleaning bench."}


def empty(o):
    return {}


MEMBER = "member.member_no"

TABLE: list[Row] = [
    # --- web: site and login
    row("favicon.ico", lambda o: "/favicon.ico", GET=PUBLIC),
    row("login", url("login"), GET=PUBLIC),
    row("logout", url("logout"), POST=LOGOUT),
    row("home", url("home"), GET=SIGNED_IN),
    # --- web: roster
    row("member-index", url("member-index"), GET=STAFF),
    row("member-page", url("member-page", MEMBER), GET=SELF_OR_STAFF),
    row("member-status", url("member-status", MEMBER), POST=(MEMBER_COMMANDER, empty)),
    row("member-vetting", url("member-vetting", MEMBER), POST=(MEMBER_COMMANDER, empty)),
    row("member-discipline", url("member-discipline", MEMBER), POST=(MEMBER_COMMANDER, empty)),
    row("member-prior-service", url("member-prior-service", MEMBER), POST=(MEMBER_COMMANDER, empty)),
    row("member-handover-pin", url("member-handover-pin", MEMBER), POST=(PIN_SETTER, empty)),
    # --- web: custody
    row("armory-index", url("armory-index"), GET=STAFF),
    row("armory-page", url("armory-page", "armory.code"), GET=STAFF_OBJECT),
    row("item-page", url("item-page", "held.pk"), GET=SELF_OR_STAFF),
    row("custody-issue", url("custody-issue"), GET=ARMORERS, POST=(ARMORER_ACTION, issue_form)),
    row("custody-return", url("custody-return"), GET=ARMORERS, POST=(ARMORER_ACTION, return_form)),
    row("custody-transfer", url("custody-transfer"), GET=TRANSFER_FORM, POST=(TRANSFER_WEB, transfer_form)),
    row("custody-overrides", url("custody-overrides"), GET=COMMANDERS_AUDITORS),
    # --- web: papers
    row("event-receipt", url("event-receipt", "event.seq"), GET=SELF_OR_STAFF),
    row("member-hand-receipt", url("member-hand-receipt", MEMBER), GET=SELF_OR_STAFF),
    row("armory-labels", url("armory-labels", "armory.code"), GET=STAFF_OBJECT),
    row("unit-badges", url("unit-badges", "unit.code"), GET=BADGE_PRINTER),
    # --- web: training
    row("training-calendar", url("training-calendar", query="unit={o.unit.code}"), GET=STAFF_IN_UNIT),
    row("training-schedule", url("training-schedule"), GET=COMMANDERS, POST=(SCHEDULE_WEB, schedule_form)),
    row("training-session", url("training-session", "session.pk"), GET=STAFF_OBJECT),
    row("training-enroll", url("training-enroll", "session.pk"), POST=(SESSION_RECORDER, empty)),
    row("training-results", url("training-results", "session.pk"), POST=(SESSION_RECORDER, empty)),
    row("training-cancel", url("training-cancel", "session.pk"), POST=(SESSION_RECORDER, empty)),
    row("training-expiring", url("training-expiring", query="unit={o.unit.code}"), GET=STAFF_IN_UNIT),
    # --- API: documentation and tokens
    row("api:schema", url("api:schema"), GET=SIGNED_IN),
    row("api:docs", url("api:docs"), GET=SIGNED_IN),
    row("api:token", url("api:token"), POST=(PUBLIC, empty)),
    row("api:api-root", url("api:api-root"), GET=SIGNED_IN),
    # --- API: roster
    row("api:unit-list", url("api:unit-list"), GET=SIGNED_IN),
    row("api:unit-detail", url("api:unit-detail", "unit.code"), GET=UNIT_OBJECT),
    row("api:member-list", url("api:member-list"), GET=SIGNED_IN),
    row("api:member-detail", url("api:member-detail", MEMBER), GET=SELF_OR_STAFF),
    row("api:member-status", url("api:member-status", MEMBER), POST=(MEMBER_COMMANDER, empty)),
    row("api:member-status-history", url("api:member-status-history", MEMBER), GET=SELF_OR_STAFF),
    row(
        "api:member-vettings",
        url("api:member-vettings", MEMBER),
        GET=MEMBER_RECORD_READER,
        POST=(MEMBER_COMMANDER, empty),
    ),
    row(
        "api:member-disciplinary",
        url("api:member-disciplinary", MEMBER),
        GET=MEMBER_RECORD_READER,
        POST=(MEMBER_COMMANDER, empty),
    ),
    row("api:member-pin", url("api:member-pin", MEMBER), GET=SELF_OR_STAFF, POST=(PIN_SETTER, empty)),
    row("api:member-qualifications", url("api:member-qualifications", MEMBER), GET=SELF_OR_STAFF),
    row("api:prior-service", url("api:prior-service", MEMBER), POST=(MEMBER_COMMANDER, empty)),
    # --- API: training
    row("api:qualification-list", url("api:qualification-list"), GET=STAFF),
    row("api:qualification-detail", url("api:qualification-detail", "qualification.code"), GET=STAFF),
    row("api:course-list", url("api:course-list"), GET=STAFF),
    row("api:course-detail", url("api:course-detail", "course.code"), GET=STAFF),
    row(
        "api:training-session-list",
        url("api:training-session-list"),
        GET=SIGNED_IN,
        POST=(SCHEDULE_API, schedule_api),
    ),
    row("api:training-session-detail", url("api:training-session-detail", "session.pk"), GET=STAFF_OBJECT),
    row(
        "api:training-session-enroll", url("api:training-session-enroll", "session.pk"), POST=(SESSION_RECORDER, empty)
    ),
    row(
        "api:training-session-results",
        url("api:training-session-results", "session.pk"),
        POST=(SESSION_RECORDER, empty),
    ),
    row(
        "api:training-session-cancel", url("api:training-session-cancel", "session.pk"), POST=(SESSION_RECORDER, empty)
    ),
    row("api:report-expiring", url("api:report-expiring", query="unit={o.unit.code}"), GET=STAFF_IN_UNIT),
    # --- API: custody
    row("api:itemtype-list", url("api:itemtype-list"), GET=SIGNED_IN),
    row("api:itemtype-detail", url("api:itemtype-detail", "itemtype.pk"), GET=SIGNED_IN),
    row("api:armory-list", url("api:armory-list"), GET=SIGNED_IN),
    row("api:armory-detail", url("api:armory-detail", "armory.code"), GET=STAFF_OBJECT),
    row("api:item-list", url("api:item-list"), GET=SIGNED_IN),
    row("api:item-detail", url("api:item-detail", "held.pk"), GET=SELF_OR_STAFF),
    row("api:recall-list", url("api:recall-list"), GET=SIGNED_IN),
    row("api:recall-detail", url("api:recall-detail", "recall.pk"), GET=SELF_OR_STAFF),
    row("api:ledger-list", url("api:ledger-list"), GET=SIGNED_IN),
    row("api:ledger-detail", url("api:ledger-detail", "event.seq"), GET=SELF_OR_STAFF),
    row("api:custody-issue", url("api:custody-issue"), POST=(ARMORER_ACTION, issue_api)),
    row("api:custody-return", url("api:custody-return"), POST=(ARMORER_ACTION, return_api)),
    row("api:custody-transfer", url("api:custody-transfer"), POST=(TRANSFER_API, transfer_api)),
    row("api:report-overrides", url("api:report-overrides"), GET=COMMANDERS_AUDITORS),
    # --- loss cases, maintenance and counts (web)
    row("item-controls", url("item-controls", "held.pk"), GET=SELF_OR_STAFF),
    row("loss-report", url("loss-report", "held.pk"), GET=HELD_REPORTERS, POST=(HELD_REPORTERS, empty)),
    row("maintenance-send", url("maintenance-send", "held.pk"), GET=HELD_ARMORERS, POST=(HELD_ARMORERS, empty)),
    row("maintenance-receive", url("maintenance-receive", "held.pk"), GET=HELD_ARMORERS, POST=(HELD_ARMORERS, empty)),
    row("inspection-index", url("inspection-index"), GET=STAFF),
    row("loss-index", url("loss-index"), GET=STAFF),
    row("loss-page", url("loss-page", "loss_case.pk"), GET=STAFF_OBJECT, POST=(OBJECT_REPORTERS, police_report)),
    row("armory-counts", url("armory-counts", "armory.code"), GET=STAFF_OBJECT, POST=(OBJECT_COUNTERS, empty)),
    row("count-page", url("count-page", "count.pk"), GET=STAFF_OBJECT),
    row("count-scan", url("count-scan", "count.pk"), POST=(THE_COUNTER, lambda o: {"code": o.item.serial_number})),
    row("count-submit", url("count-submit", "count.pk"), POST=(THE_COUNTER, empty)),
    row("count-sign", url("count-sign", "submitted_count.pk"), POST=(OBJECT_SIGNERS, empty)),
    row(
        "count-resolve",
        url("count-resolve", "submitted_count.pk", "discrepancy.pk"),
        POST=(OBJECT_SIGNERS, explanation),
    ),
    # --- loss cases, maintenance and counts (API)
    row("api:loss-case-list", url("api:loss-case-list"), GET=SIGNED_IN, POST=(REPORTER_ACTION, loss_api)),
    row("api:loss-case-detail", url("api:loss-case-detail", "loss_case.pk"), GET=STAFF_OBJECT),
    row(
        "api:loss-case-report",
        url("api:loss-case-report", "loss_case.pk"),
        POST=(REPORTER_ACTION, lambda o: {"police_report_no": "PR-2024-17"}),
    ),
    row("api:loss-case-recover", url("api:loss-case-recover", "loss_case.pk"), POST=(ARMORER_ACTION, empty)),
    row("api:maintenance-send", url("api:maintenance-send"), POST=(ARMORER_ACTION, send_api)),
    row("api:maintenance-receive", url("api:maintenance-receive"), POST=(ARMORER_ACTION, receive_api)),
    row("api:report-inspections", url("api:report-inspections"), GET=SIGNED_IN),
    row(
        "api:count-list",
        url("api:count-list"),
        GET=SIGNED_IN,
        POST=(COUNTER_ACTION, lambda o: {"armory": o.armory.code}),
    ),
    row("api:count-detail", url("api:count-detail", "count.pk"), GET=STAFF_OBJECT),
    row(
        "api:count-scan",
        url("api:count-scan", "count.pk"),
        POST=(THE_COUNTER, lambda o: {"code": o.item.serial_number}),
    ),
    row(
        "api:count-submit",
        url("api:count-submit", "count.pk"),
        POST=Check("POST", THE_COUNTER, empty),
    ),
    row("api:count-sign", url("api:count-sign", "submitted_count.pk"), POST=(SIGNER_ACTION, empty)),
    row("api:discrepancy-resolve", url("api:discrepancy-resolve", "discrepancy.pk"), POST=(SIGNER_ACTION, explanation)),
    # --- papers (API)
    row("api-ledger-receipt", url("api-ledger-receipt", "event.seq"), GET=SELF_OR_STAFF),
    row("api-member-hand-receipt", url("api-member-hand-receipt", MEMBER), GET=SELF_OR_STAFF),
]


# --- rows kept beside their feature ---------------------------------------------------------------------------------
# A module `access_rows_<topic>.py` in this package may define ROWS (a list of Row) and `build(world, objects)`, which
# adds the objects its rows name to each scope's namespace ("own", "peer", "other"). Keeping them apart lets a
# feature's routes, bodies and objects live together.


def _feature_modules():
    import importlib
    import pkgutil
    from pathlib import Path

    package = __name__.rpartition(".")[0]
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda info: info.name):
        if info.name.startswith("access_rows_"):
            yield importlib.import_module(f"{package}.{info.name}")


FEATURE_MODULES = list(_feature_modules())
for _module in FEATURE_MODULES:
    TABLE += getattr(_module, "ROWS", [])
