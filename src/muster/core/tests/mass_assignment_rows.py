"""The mass-assignment table: one row per write route (web form POST, API POST/PUT/PATCH) — who calls it, a valid
request, the forbidden fields to add, and what the request may change. test_mass_assignment.py runs it and fails
when a write route has no row. The API rows are in mass_assignment_rows_api.py.

Objects come from the access matrix's world (test_access_matrix.build_objects, unit A's "own" scope: bob's item,
the item in the armory, a loss case, counts, a lot ...), copied into a namespace `t` per case; `prepare` adds what a
request needs beyond it (a device, a session that has started, an item in the workshop), inside the case's savepoint.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from muster.core import otp
from muster.core.testing import PASSWORD
from muster.core.tests.access_table import PIN, url
from muster.custody import counts, maintenance
from muster.custody.models import Armory
from muster.members.models import Member
from muster.training import services as training

NEW_PIN = "5937"


@dataclass(frozen=True)
class Write:
    name: str  # the route's name, as in the access table
    caller: str  # the world's account that may make this request ("anon": the request signs in as bob)
    url: Callable  # t -> path
    body: Callable  # t -> a valid request
    extras: tuple[Callable, ...]  # Poison -> forbidden fields (merged; a key of the valid body is left out)
    method: str = "POST"
    prefix: str = ""  # a prefixed Django form: each forbidden field is sent plain and prefixed
    nested: str = ""  # the body's list of rows (e.g. "results"): each row gets the forbidden fields too
    prepare: Callable | None = None  # (world, t) -> None
    check: Callable | None = None  # (world, t) -> None, after the valid request
    changes: frozenset = frozenset()  # member columns this action itself sets (status, vetting_valid_until)
    account_changes: frozenset = frozenset()  # the caller's account columns this action itself sets (password)
    refuses: str = ""  # the endpoint refuses unknown fields: the 400 code it answers with
    legit: tuple[str, ...] = ()  # forbidden elsewhere, a field this request takes (due_at on an issue): not sent
    alone_answers: tuple[int, ...] = ()  # what the request answers without its input, besides 2xx/3xx, 400, 409
    variant: str = ""  # when a route has two rows

    @property
    def api(self) -> bool:
        return self.name.startswith("api:") or self.name.startswith("api-")

    @property
    def id(self) -> str:
        return f"{self.name}-{self.method}{'-' + self.variant if self.variant else ''}"


def write(name, caller, build_url, body, *extras, **options) -> Write:
    return Write(name, caller, build_url, body, extras, **options)


# --- forbidden fields, by kind of record ----------------------------------------------------------------------------


def item_issued(p):  # an item going out: it must not come to rest anywhere but where the service puts it
    return p.item("armory")


def item_back(p):
    return p.item("member")


def member(p):
    return p.member()


def lot(p):
    return {**p.lot(), **p.item("member")}


def loss_case(p):
    return p.loss_case()


def count(p):
    return p.count()


def pin(p):
    return p.pin()


def training_record(p):
    return p.training()


def policy(p):
    return p.policy()


def credentials(p):
    return p.credentials()


def checkpoint(p):
    return p.checkpoint()


# --- what some requests need first ----------------------------------------------------------------------------------


def in_workshop(world, t):
    maintenance.send(item=t.item, workshop=t.workshop, actor=world.alice, reason="Sights loose")


def empty_store(world, t):
    t.store = Armory.objects.create(code="MA-STORE", name="Store for a count", unit=t.unit)


def discrepancy_resolved(world, t):
    counts.resolve(discrepancy=t.discrepancy, actor=world.dave, explanation="Found on the bench.",
                   scanned_code=t.discrepancy.item.serial_number)  # fmt: skip


def found_by_scan(t) -> dict:
    """A missing item is found only when scanned back onto the count: its serial, from the item in hand."""
    return {"explanation": "Found on the bench.", "scanned_code": t.discrepancy.item.serial_number}


def started_session(world, t):
    """A session that started two hours ago with the member on its roster, for its results."""
    session = training.schedule_session(
        course=t.course, unit=t.unit, starts_at=timezone.now() - timedelta(hours=2), place="Range", actor=world.dave
    )
    training.enroll(session=session, members=[t.member], actor=world.dave)
    t.started = session
    t.trainee = session.trainees.get()


def confirmed_device(world, t):
    t.device = TOTPDevice.objects.create(user=world.alice, name=otp.DEVICE_NAME, confirmed=True)


def pending_device(world, t):
    t.device = otp.start_enrolment(account=world.alice)


def code_of(device) -> str:
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


# --- checks of what the action itself decides -----------------------------------------------------------------------


def member_row(t) -> Member:
    return Member.objects.get(pk=t.member.pk)


def suspended(world, t):
    assert member_row(t).status == "suspended", member_row(t).status


def vetted(world, t):
    row = member_row(t)
    found = (row.status, row.vetting_valid_until)
    assert found == ("active", vetted_until()), found


def vetted_until():  # the validity the vetting rows record (computed per run: the date moves)
    return timezone.localdate() + timedelta(days=400)


def newest(model, **filters):
    return model.objects.filter(**filters).order_by("-pk").first()


def case_opened_by(caller):
    def check(world, t):
        from muster.custody.models import LossCase

        case = newest(LossCase)
        found = (case.status, case.opened_by_id, case.closed_at)
        assert found == ("open", getattr(world, caller).pk, None), found

    return check


def case_still_open(world, t):
    t.loss_case.refresh_from_db()
    found = (t.loss_case.status, t.loss_case.closed_by_id, t.loss_case.closed_at)
    assert found == ("open", None, None), found


def count_state(attr: str, status: str, *, signer: str = ""):
    """The count (`attr` of t; "" for the newest) is in `status`, counted by alice, signed by `signer`."""

    def check(world, t):
        from muster.custody.count_models import Count

        made = Count.objects.get(pk=getattr(t, attr).pk) if attr else newest(Count)
        expected = (status, world.alice.pk, getattr(world, signer).pk if signer else None)
        found = (made.status, made.counter_id, made.signed_by_id)
        assert found == expected, f"count {made.pk}: {found} instead of {expected}"

    return check


def resolved_by_dave(world, t):
    t.discrepancy.refresh_from_db()
    found = (t.discrepancy.resolution, t.discrepancy.resolved_by_id)
    assert found == ("found", world.dave.pk), found


def session_status(attr: str, status: str):
    """The session (`attr` of t; "" for the newest) is in `status`."""

    def check(world, t):
        from muster.training.models import TrainingSession

        session = TrainingSession.objects.get(pk=getattr(t, attr).pk) if attr else newest(TrainingSession)
        assert session.status == status, session.status

    return check


def recalled_by(caller):
    def check(world, t):
        t.lot.refresh_from_db()
        assert t.lot.recalled_by_id == getattr(world, caller).pk, t.lot.recalled_by_id

    return check


def pin_set_by(caller):
    def check(world, t):
        from muster.custody.models import HandoverPin

        row = HandoverPin.objects.get(member=t.member)
        found = (row.set_by_id, row.failures, row.locked_until)
        assert found == (getattr(world, caller).pk, 0, None), found

    return check


# --- bodies ---------------------------------------------------------------------------------------------------------


def today() -> str:
    return timezone.localdate().isoformat()


def an_hour_ago() -> str:
    return timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")


def loss_form(t):
    return {"kind": "lost", "circumstances": "Not found after the exercise.", "occurred_at": an_hour_ago(),
            "place": "Range 2"}  # fmt: skip


MEMBER = "member.member_no"
LOT = "lot.pk"

WEB: list[Write] = [
    # --- sign in and out
    write("login", "anon", url("login"), lambda t: {"username": "bob", "password": PASSWORD}, credentials, member),
    write("logout", "bob", url("logout"), lambda t: {}, credentials, member),
    write("otp-verify", "alice", url("otp-verify"), lambda t: {"code": code_of(t.device)}, credentials,
          prepare=confirmed_device),
    write("otp-enrol", "alice", url("otp-enrol"), lambda t: {"code": code_of(t.device)}, credentials,
          prepare=pending_device),
    write("otp-reset", "dave", url("otp-reset", "otp_account.username"), lambda t: {}, credentials,
          prepare=confirmed_device),
    # --- the member page (commanders), the PIN (the member)
    write("member-status", "dave", url("member-status", MEMBER),
          lambda t: {"to_status": "suspended", "reason": "Absent without leave."}, member, prefix="status",
          changes=frozenset({"status"}), check=suspended),
    write("member-vetting", "dave", url("member-vetting", MEMBER),
          lambda t: {"vetted_on": today(), "outcome": "passed", "valid_until": vetted_until().isoformat()}, member,
          prefix="vetting", changes=frozenset({"vetting_valid_until"}), check=vetted),
    write("member-discipline", "dave", url("member-discipline", MEMBER),
          lambda t: {"occurred_on": today(), "kind": "warning", "note": "Late for duty."}, member, prefix="discipline"),
    write("member-prior-service", "dave", url("member-prior-service", MEMBER),
          lambda t: {"qualification": t.qualification.pk, "granted_on": today(),
                     "expires_on": (timezone.localdate() + timedelta(days=90)).isoformat(), "evidence": "Cert 17"},
          member, training_record, prefix="prior"),
    write("member-handover-pin", "bob", url("member-handover-pin", MEMBER),
          lambda t: {"new_pin": NEW_PIN, "repeat_pin": NEW_PIN}, pin, member, prefix="pin", check=pin_set_by("bob")),
    # --- custody at the desk
    write("custody-issue", "alice", url("custody-issue"),
          lambda t: {"serial": t.item.serial_number, "member_no": t.member.member_no}, item_issued, member,
          legit=("due_at",)),
    write("custody-return", "alice", url("custody-return"), lambda t: {"serial": t.held.serial_number}, item_back),
    write("custody-transfer", "alice", url("custody-transfer"),
          lambda t: {"serial": t.held.serial_number, "to_member_no": t.receiver.member_no, "giver_pin": PIN,
                     "receiver_pin": PIN}, item_issued, member, legit=("due_at",)),
    write("counter-scan", "alice", url("counter-scan"), lambda t: {"code": t.member.member_no}, item_issued, member),
    write("counter-pin", "alice", url("counter-pin"),
          lambda t: {"member": t.member.member_no, "item": t.item.pk, "pin": PIN}, item_issued),
    # --- loss cases, maintenance, counts
    write("loss-report", "alice", url("loss-report", "item.pk"), loss_form, loss_case, item_back,
          check=case_opened_by("alice")),
    write("loss-page", "alice", url("loss-page", "loss_case.pk"),
          lambda t: {"action": "report", "police_report_no": "PR-2024-17"}, loss_case, check=case_still_open,
          alone_answers=(404,)),  # no `action`: the page has no such form
    write("loss-page", "alice", url("loss-page", "loss_case.pk"),
          lambda t: {"action": "recover", "armory": t.armory.pk, "condition": "serviceable", "notes": "Found."},
          loss_case, item_issued, variant="recover", alone_answers=(404,)),
    write("maintenance-send", "alice", url("maintenance-send", "item.pk"),
          lambda t: {"workshop": t.workshop.pk, "reason": "Sights loose"}, item_issued),
    write("maintenance-receive", "alice", url("maintenance-receive", "item.pk"),
          lambda t: {"condition": "serviceable", "notes": "Sights fixed.", "inspected": "on"}, item_issued,
          prepare=in_workshop),
    write("armory-counts", "alice", url("armory-counts", "store.code"), lambda t: {"reason": "spot check"}, count,
          prepare=empty_store, check=count_state("", "in_progress")),
    write("count-scan", "alice", url("count-scan", "count.pk"), lambda t: {"code": t.item.serial_number}, count),
    write("count-submit", "alice", url("count-submit", "count.pk"), lambda t: {}, count,
          check=count_state("count", "submitted")),
    write("count-sign", "dave", url("count-sign", "submitted_count.pk"), lambda t: {}, count,
          prepare=discrepancy_resolved, check=count_state("submitted_count", "closed", signer="dave")),
    write("count-resolve", "dave", url("count-resolve", "submitted_count.pk", "discrepancy.pk"),
          found_by_scan, count, loss_case, check=resolved_by_dave),
    # --- lots
    write("lot-receive", "alice", url("lot-receive"),
          lambda t: {"item_type": t.lot.item_type_id, "lot_number": "MA-NEW", "armory": t.armory.pk, "quantity": 5},
          lot),
    write("lot-issue", "alice", url("lot-issue", LOT), lambda t: {"member_no": t.member.member_no, "quantity": 5},
          lot, legit=("due_at",)),
    write("lot-return", "alice", url("lot-return", LOT), lambda t: {"member_no": t.member.member_no, "quantity": 5},
          lot),
    write("lot-settle", "alice", url("lot-settle", LOT),
          lambda t: {"member_no": t.member.member_no, "returned": 40, "expended": 0}, lot, loss_case),
    write("lot-expend", "alice", url("lot-expend", LOT),
          lambda t: {"member_no": t.member.member_no, "quantity": 5, "justification": "incident",
                     "reference": "IR-17"}, lot),
    write("lot-loss", "alice", url("lot-loss", LOT),
          lambda t: {**loss_form(t), "from_armory": t.armory.pk, "quantity": 5}, lot, loss_case),
    write("lot-recall", "alice", url("lot-recall", LOT), lambda t: {"reason": "Faulty primers."}, lot,
          check=recalled_by("alice")),
    write("lot-recover", "alice", url("lot-recover", "lot_case.pk"),
          lambda t: {"quantity": 5, "armory": t.armory.pk, "notes": "Found in the store."}, lot, loss_case),
    # --- training (commanders)
    write("training-schedule", "dave", url("training-schedule"),
          lambda t: {"course": t.course.pk, "unit": t.unit.code, "starts_at": "2031-05-01T09:00", "place": "Range 2"},
          training_record, check=session_status("", "planned")),
    write("training-enroll", "dave", url("training-enroll", "session.pk"),
          lambda t: {"member_numbers": t.member.member_no}, training_record, member, prefix="roster"),
    write("training-results", "dave", url("training-results", "started.pk"),
          lambda t: {f"attended_{t.trainee.pk}": "on", f"passed_{t.trainee.pk}": "on", f"note_{t.trainee.pk}": "Ok"},
          training_record, member, prefix="results", prepare=started_session,
          check=session_status("started", "completed")),
    write("training-cancel", "dave", url("training-cancel", "session.pk"), lambda t: {"reason": "Range closed."},
          training_record, prefix="cancel", check=session_status("session", "cancelled")),
    # --- the unit's custody policy (commanders)
    write("unit-custody-policy", "dave", url("unit-custody-policy", "unit.code"),
          lambda t: {"default_loan_hours": 24}, policy),
    # --- the ledger integrity page (commanders and auditors sign a checkpoint)
    write("ledger-integrity", "dave", url("ledger-integrity"), lambda t: {}, checkpoint, credentials),
]  # fmt: skip
