"""The mass-assignment table's API rows (see mass_assignment_rows.py): JSON bodies, the same forbidden fields."""

from datetime import timedelta

from django.utils import timezone

from muster.core.testing import PASSWORD
from muster.core.tests.access_table import PIN, url
from muster.core.tests.mass_assignment_rows import (
    LOT,
    MEMBER,
    NEW_PIN,
    Write,
    case_opened_by,
    case_still_open,
    count,
    count_state,
    credentials,
    discrepancy_resolved,
    empty_store,
    found_by_scan,
    in_workshop,
    item_back,
    item_issued,
    loss_case,
    lot,
    member,
    pin,
    pin_set_by,
    policy,
    recalled_by,
    resolved_by_dave,
    session_status,
    started_session,
    suspended,
    today,
    training_record,
    vetted,
    vetted_until,
    write,
)


def an_hour_ago() -> str:
    return (timezone.now() - timedelta(hours=1)).isoformat()


def loss_body(t) -> dict:
    return {"kind": "lost", "circumstances": "Missing at the count.", "occurred_at": an_hour_ago(), "place": "Range 2"}


def result_rows(t) -> dict:
    return {"results": [{"member": t.member.member_no, "attended": True, "passed": True, "note": "Ok"}]}


API: list[Write] = [
    write("api:token", "anon", url("api:token"), lambda t: {"username": "bob", "password": PASSWORD}, credentials,
          member),
    # --- members
    write("api:member-status", "dave", url("api:member-status", MEMBER),
          lambda t: {"to_status": "suspended", "reason": "Absent without leave."}, member,
          changes=frozenset({"status"}), check=suspended),
    write("api:member-vettings", "dave", url("api:member-vettings", MEMBER),
          lambda t: {"vetted_on": today(), "outcome": "passed", "valid_until": vetted_until().isoformat()}, member,
          changes=frozenset({"vetting_valid_until"}), check=vetted),
    write("api:member-disciplinary", "dave", url("api:member-disciplinary", MEMBER),
          lambda t: {"occurred_on": today(), "kind": "warning", "note": "Late for duty."}, member),
    write("api:prior-service", "dave", url("api:prior-service", MEMBER),
          lambda t: {"qualification": t.qualification.code, "granted_on": today(),
                     "expires_on": (timezone.localdate() + timedelta(days=90)).isoformat(), "evidence": "Cert 17"},
          member, training_record),
    write("api:member-pin", "bob", url("api:member-pin", MEMBER),
          lambda t: {"pin": NEW_PIN, "current_password": PASSWORD}, pin, member, check=pin_set_by("bob")),
    # --- custody
    write("api:custody-issue", "alice", url("api:custody-issue"),
          lambda t: {"item": t.item.pk, "member": t.member.member_no}, item_issued, member, legit=("due_at",)),
    write("api:custody-return", "alice", url("api:custody-return"), lambda t: {"item": t.held.pk}, item_back),
    write("api:custody-transfer", "alice", url("api:custody-transfer"),
          lambda t: {"item": t.held.pk, "to_member": t.receiver.member_no, "giver_pin": PIN, "receiver_pin": PIN},
          item_issued, legit=("due_at",)),
    write("api:maintenance-send", "alice", url("api:maintenance-send"),
          lambda t: {"item": t.item.pk, "workshop": t.workshop.code, "reason": "Sights loose"}, item_issued),
    write("api:maintenance-receive", "alice", url("api:maintenance-receive"),
          lambda t: {"item": t.item.pk, "condition": "serviceable", "notes": "Sights fixed."}, item_issued,
          prepare=in_workshop),
    # --- loss cases and counts
    write("api:loss-case-list", "alice", url("api:loss-case-list"), lambda t: {"item": t.item.pk, **loss_body(t)},
          loss_case, item_back, check=case_opened_by("alice")),
    write("api:loss-case-report", "alice", url("api:loss-case-report", "loss_case.pk"),
          lambda t: {"police_report_no": "PR-2024-17"}, loss_case, check=case_still_open),
    write("api:loss-case-recover", "alice", url("api:loss-case-recover", "loss_case.pk"),
          lambda t: {"armory": t.armory.code, "notes": "Found."}, loss_case, item_issued),
    write("api:count-list", "alice", url("api:count-list"), lambda t: {"armory": t.store.code}, count,
          prepare=empty_store, check=count_state("", "in_progress")),
    write("api:count-scan", "alice", url("api:count-scan", "count.pk"), lambda t: {"code": t.item.serial_number},
          count),
    write("api:count-submit", "alice", url("api:count-submit", "count.pk"), lambda t: {}, count,
          check=count_state("count", "submitted")),
    write("api:count-sign", "dave", url("api:count-sign", "submitted_count.pk"), lambda t: {}, count,
          prepare=discrepancy_resolved, check=count_state("submitted_count", "closed", signer="dave")),
    write("api:discrepancy-resolve", "dave", url("api:discrepancy-resolve", "discrepancy.pk"),
          found_by_scan, count, loss_case, check=resolved_by_dave),
    # --- lots
    write("api:lot-receive", "alice", url("api:lot-receive"),
          lambda t: {"item_type": t.lot.item_type_id, "lot_number": "MA-NEW", "armory": t.armory.code,
                     "quantity": 5}, lot),
    write("api:lot-issue", "alice", url("api:lot-issue", LOT),
          lambda t: {"member": t.member.member_no, "quantity": 5}, lot, legit=("due_at",)),
    write("api:lot-return", "alice", url("api:lot-return", LOT), lambda t: {"member": t.member.member_no,
                                                                           "quantity": 5}, lot),
    write("api:lot-expend", "alice", url("api:lot-expend", LOT),
          lambda t: {"member": t.member.member_no, "quantity": 5, "justification": "incident", "reference": "IR-17"},
          lot),
    write("api:lot-settle", "alice", url("api:lot-settle", LOT),
          lambda t: {"member": t.member.member_no, "returned": 40, "expended": 0}, lot, loss_case),
    write("api:lot-loss", "alice", url("api:lot-loss", LOT),
          lambda t: {**loss_body(t), "armory": t.armory.code, "quantity": 5}, lot, loss_case),
    write("api:lot-recall", "alice", url("api:lot-recall", LOT), lambda t: {"reason": "Faulty primers."}, lot,
          check=recalled_by("alice")),
    write("api:loss-case-recover-lot", "alice", url("api:loss-case-recover-lot", "lot_case.pk"),
          lambda t: {"quantity": 5, "armory": t.armory.code, "notes": "Found in the store."}, lot, loss_case),
    # --- training
    write("api:training-session-list", "dave", url("api:training-session-list"),
          lambda t: {"course": t.course.code, "unit": t.unit.code, "starts_at": "2031-05-01T09:00:00Z",
                     "place": "Range 2"}, training_record, check=session_status("", "planned"),
          legit=("instructor",)),
    write("api:training-session-enroll", "dave", url("api:training-session-enroll", "session.pk"),
          lambda t: {"members": [t.member.member_no]}, training_record, member),
    write("api:training-session-results", "dave", url("api:training-session-results", "started.pk"), result_rows,
          training_record, member, nested="results", prepare=started_session,
          check=session_status("started", "completed")),
    write("api:training-session-cancel", "dave", url("api:training-session-cancel", "session.pk"),
          lambda t: {"reason": "Range closed."}, training_record, check=session_status("session", "cancelled")),
    # --- the unit's custody policy: the one endpoint that refuses a field it does not know
    write("api:unit-custody-policy", "dave", url("api:unit-custody-policy", "unit.code"),
          lambda t: {"default_loan_hours": 24}, policy, method="PUT", refuses="unknown_setting"),
]  # fmt: skip
