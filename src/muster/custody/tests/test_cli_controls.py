"""`muster count`, `muster loss` and `muster maintenance`: the same rules as the API, refusals as exit codes
(2 invalid, 3 refused, 4 not permitted, 5 not found) that change nothing."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from muster.custody import counts, losses, lot_losses, maintenance, services
from muster.custody.models import Armory, Count, CountScan, Discrepancy, Item, LedgerEvent, LossCase
from muster.custody.testing import make_item, make_item_type, make_lot
from muster.custody.tests.test_cli import call

pytestmark = pytest.mark.django_db


def call_with_input(text: str, *args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdin=io.StringIO(text), stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def shelf(world):
    """Three rifles A-0..A-2 in ARM-A."""
    return [make_item(world.armory_a, world.alice, serial=f"A-{n}") for n in range(3)]


@pytest.fixture
def workshop(world):
    return Armory.objects.create(code="WS-A", name="Gunsmith A", unit=world.unit_a, kind=Armory.Kind.WORKSHOP)


def lost(world, item, actor=None) -> LossCase:
    return losses.open_case(
        item=item, kind="lost", circumstances="Dropped on the march", place="Route 4",
        occurred_at=timezone.now() - timedelta(hours=1), actor=actor or world.frank,
    )  # fmt: skip


# --- count ---------------------------------------------------------------------------------------------------------


def test_it_counts_an_armory_from_start_to_signature(world, shelf):
    code, out, _ = call("count", "start", "ARM-A", "--as", "alice")
    assert code == 0, out
    count = Count.objects.get()
    assert out.startswith(f"count {count.pk} of ARM-A started by alice: 3 item(s) expected")
    code, out, _ = call("count", "scan", str(count.pk), "A-0", "A-1", "ZZ-9", "--as", "alice")
    assert code == 0
    assert [(scan.code, scan.item_id) for scan in CountScan.objects.order_by("pk")] == [
        ("A-0", shelf[0].pk), ("A-1", shelf[1].pk), ("ZZ-9", None)
    ]  # fmt: skip
    assert "ZZ-9  matches no item" in out and out.rstrip().endswith(f"3 code(s) scanned into count {count.pk}")
    code, out, _ = call("count", "submit", str(count.pk), "--as", "alice")
    assert code == 0
    missing = Discrepancy.objects.get(count=count, kind="missing")
    unknown = Discrepancy.objects.get(count=count, kind="unknown")
    assert f"count {count.pk} of ARM-A submitted: 2 discrepancies to resolve (muster count resolve ID" in out
    assert "then a second signature" in out
    assert f"#{missing.pk:<6} missing" in out and "A-2" in out and "'ZZ-9'" in out
    code, _, err = call("count", "sign", str(count.pk), "--as", "frank")
    assert (code, err.split(":")[0]) == (3, "discrepancies_unresolved")
    assert Count.objects.get(pk=count.pk).status == "submitted"
    code, out, _ = call("count", "resolve", str(missing.pk), "--scan", "A-2", "--explanation",
                        "On the cleaning bench, scanned back", "--as", "alice")  # fmt: skip
    assert code == 0, out
    assert f"#{missing.pk:<6} missing     AK-74M assault rifle #A-2  → found (scanned back) by alice" in out
    assert out.rstrip().endswith(f"1 discrepancies of count {count.pk} still to resolve")
    code, out, _ = call("count", "resolve", str(unknown.pk), "--explanation", "Label of the scrapped rifle ZZ-9",
                        "--as", "frank")  # fmt: skip
    assert code == 0 and f"count {count.pk} is ready for its second signature (muster count sign {count.pk})" in out
    code, out, _ = call("count", "sign", str(count.pk), "--as", "frank")
    assert code == 0
    count.refresh_from_db()
    assert (count.status, count.signed_by) == ("closed", world.frank)
    assert out.strip() == f"count {count.pk} of ARM-A signed by frank; closed"
    missing.refresh_from_db()
    assert (missing.resolution, missing.resolved_by, missing.found_scan.code) == ("found", world.alice, "A-2")


@pytest.fixture
def missing(world, shelf) -> Discrepancy:
    """A submitted count of ARM-A by alice in which A-2 was not scanned."""
    count = counts.start(armory=world.armory_a, actor=world.alice)
    for code in ("A-0", "A-1"):
        counts.scan(count=count, code=code, actor=world.alice)
    (discrepancy,) = counts.submit(count=count, actor=world.alice)
    return discrepancy


def test_it_resolves_a_missing_item_as_a_loss_case(world, missing):
    why = "Not on the rack, not issued, not in the workshop"
    code, out, _ = call("count", "resolve", str(missing.pk), "--loss-case", "--place", "Arms room A, rack 3",
                        "--explanation", why, "--as", "dave")  # fmt: skip
    assert code == 0, out
    case = LossCase.objects.get(item=missing.item)
    assert f"→ loss case {case.pk} by dave" in out
    missing.refresh_from_db()
    assert (missing.resolution, missing.loss_case, case.kind, case.place) == (
        "loss_case", case, "unaccounted", "Arms room A, rack 3",
    )  # fmt: skip


def test_without_a_second_signature_the_last_resolution_closes_the_count(world, missing):
    from muster.custody.policy import set_unit_policy

    set_unit_policy(unit=world.unit_a, actor=world.dave, second_signature=False)
    code, out, _ = call("count", "resolve", str(missing.pk), "--scan", "A-2", "--explanation",
                        "On the cleaning bench, scanned back", "--as", "frank")  # fmt: skip
    assert code == 0 and out.rstrip().endswith(f"count {missing.count_id} of ARM-A is closed")
    assert Count.objects.get(pk=missing.count_id).status == "closed"


@pytest.mark.parametrize(
    ("args", "expected_code", "error"),
    [
        (["--explanation", "It is back on the rack", "--as", "dave"], 3, "found_needs_rescan"),
        (["--explanation", "", "--scan", "A-2", "--as", "dave"], 2, "explanation_missing"),
        (["--explanation", "ok", "--loss-case", "--as", "dave"], 2, "explanation_missing"),
        (["--explanation", "On the cleaning bench", "--scan", "A-0", "--as", "dave"], 2, "scan_not_the_item"),
        (["--explanation", "On the cleaning bench", "--place", "Rack 3", "--as", "dave"], 2, "--place goes with"),
        (["--explanation", "On the cleaning bench", "--scan", "A-2", "--as", "erin"], 4, "not_counter"),
        (["--explanation", "On the cleaning bench", "--scan", "A-2", "--as", "bob"], 4, "not_counter"),
        (["--explanation", "On the cleaning bench", "--scan", "A-2", "--as", "carol"], 5, "discrepancy_not_found"),
        (["--explanation", "On the cleaning bench", "--scan", "A-2"], 4, "--as"),
    ],
)
def test_it_refuses_a_resolution_and_changes_nothing(world, missing, args, expected_code, error):
    code, _, err = call("count", "resolve", str(missing.pk), *args)
    assert code == expected_code and error in err, err
    missing.refresh_from_db()
    assert (missing.resolution, missing.resolved_by) == ("", None)
    assert not LossCase.objects.exists() and not CountScan.objects.filter(rescan=True).exists()


def test_it_refuses_an_unknown_or_resolved_discrepancy(world, missing):
    assert call("count", "resolve", "nine", "--explanation", "On the cleaning bench", "--as", "dave")[0] == 5
    counts.resolve(discrepancy=missing, actor=world.dave, explanation="On the cleaning bench", scanned_code="A-2")
    code, _, err = call("count", "resolve", str(missing.pk), "--explanation", "Found it again", "--scan", "A-2",
                        "--as", "frank")  # fmt: skip
    assert (code, err.split(":")[0]) == (3, "already_resolved")
    missing.refresh_from_db()
    assert missing.resolved_by == world.dave and CountScan.objects.filter(rescan=True).count() == 1


def test_it_reads_scanned_codes_from_standard_input_one_per_line(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    code, out, _ = call_with_input("A-0\n\n  A-1  \nA-2\n", "count", "scan", str(count.pk), "--as", "alice")
    assert code == 0
    assert [scan.code for scan in CountScan.objects.order_by("pk")] == ["A-0", "A-1", "A-2"]
    assert "3 code(s) scanned" in out


def test_it_keeps_the_codes_read_before_a_refusal(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    code, _, err = call_with_input("A-0\n", "count", "scan", str(count.pk), "--as", "frank")
    assert code == 4 and "not_the_counter" in err
    assert not CountScan.objects.exists()


@pytest.mark.parametrize(
    ("args", "expected_code", "error"),
    [
        (["start", "ARM-A", "--as", "erin"], 4, "not_counter"),
        (["start", "ARM-A", "--as", "bob"], 4, "not_counter"),
        (["start", "ARM-A", "--as", "carol"], 5, "armory_not_found"),
        (["start", "ARM-A"], 4, "--as"),
    ],
)
def test_it_refuses_to_start_a_count(world, shelf, args, expected_code, error):
    code, _, err = call("count", *args)
    assert code == expected_code and error in err
    assert not Count.objects.exists()


def test_it_refuses_a_second_count_and_commands_on_counts_out_of_scope(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    code, _, err = call("count", "start", "ARM-A", "--as", "frank")
    assert (code, err.split(":")[0]) == (3, "count_in_progress")
    for action in (["scan", str(count.pk), "A-0"], ["submit", str(count.pk)], ["sign", str(count.pk)]):
        code, _, err = call("count", *action, "--as", "carol")
        assert (code, err.split(":")[0]) == (5, "count_not_found"), action
    assert call("count", "submit", "nine", "--as", "alice")[0] == 5
    count.refresh_from_db()
    assert (count.status, Count.objects.count(), CountScan.objects.count()) == ("in_progress", 1, 0)


def test_it_refuses_a_submission_by_another_and_a_signature_by_the_counter(world, shelf):
    count = counts.start(armory=world.armory_a, actor=world.alice)
    code, _, err = call("count", "submit", str(count.pk), "--as", "frank")
    assert (code, err.split(":")[0]) == (4, "not_the_counter")
    code, _, err = call("count", "sign", str(count.pk), "--as", "frank")
    assert (code, err.split(":")[0]) == (3, "count_not_submitted")
    counts.submit(count=count, actor=world.alice)
    code, _, err = call("count", "sign", str(count.pk), "--as", "alice")
    assert (code, err.split(":")[0]) == (3, "same_signer")
    code, _, err = call("count", "sign", str(count.pk), "--as", "erin")
    assert (code, err.split(":")[0]) == (4, "not_counter")
    count.refresh_from_db()
    assert (count.status, count.signed_by) == ("submitted", None)


# --- loss ----------------------------------------------------------------------------------------------------------


def test_it_opens_a_loss_case_and_prints_it(world, shelf):
    services.issue(item=shelf[0], member=world.bob_member, actor=world.alice)
    when = timezone.localtime(timezone.now() - timedelta(hours=3)).replace(microsecond=0, tzinfo=None)
    code, out, _ = call("loss", "open", "A-0", "--kind", "stolen", "--circumstances", "Taken from the car",
                        "--where", "Depot gate", "--when", when.isoformat(), "--as", "frank")  # fmt: skip
    assert code == 0, out
    case = LossCase.objects.get(item=shelf[0])
    assert (case.kind, case.place, case.occurred_at, case.last_member) == (
        "stolen", "Depot gate", timezone.make_aware(when), world.bob_member
    )  # fmt: skip
    assert LedgerEvent.objects.filter(item=shelf[0], kind="loss").exists()
    assert out.startswith(f"{case.pk:>5} ") and "open" in out and "last with Bob Baker" in out


@pytest.mark.parametrize(
    ("args", "expected_code", "error"),
    [
        (["--kind", "lost", "--as", "bob"], 4, "not_loss_reporter"),
        (["--kind", "lost", "--as", "erin"], 4, "not_loss_reporter"),
        (["--kind", "lost", "--as", "carol"], 5, "item_not_found"),
        (["--kind", "mislaid", "--as", "frank"], 2, "unknown_kind"),
        (["--kind", "lost", "--when", "yesterday", "--as", "frank"], 2, "when_not_datetime"),
        (["--kind", "lost", "--when", "2999-01-01T00:00", "--as", "frank"], 2, "occurred_in_future"),
    ],
)
def test_it_refuses_to_open_a_case_and_changes_nothing(world, shelf, args, expected_code, error):
    code, _, err = call("loss", "open", "A-0", "--circumstances", "gone", "--where", "Route 4", *args)
    assert (code, err.split(":")[0]) == (expected_code, error)
    assert not LossCase.objects.exists() and not LedgerEvent.objects.filter(kind="loss").exists()


def test_it_refuses_a_second_case_for_the_same_item(world, shelf):
    lost(world, shelf[0])
    code, _, err = call("loss", "open", "A-0", "--kind", "lost", "--circumstances", "again", "--where", "x",
                        "--as", "dave")  # fmt: skip
    assert (code, err.split(":")[0]) == (3, "item_already_lost")
    assert LossCase.objects.count() == 1


def test_it_records_the_police_report_and_recovers_the_item(world, shelf):
    services.issue(item=shelf[0], member=world.bob_member, actor=world.alice)
    case = lost(world, shelf[0])
    assert call("loss", "report", str(case.pk), "--police-report", "UA-118", "--as", "dave")[0] == 0
    case.refresh_from_db()
    assert case.police_report_no == "UA-118" and case.authorities_notified_at is not None
    code, out, _ = call("loss", "recover", str(case.pk), "--armory", "ARM-A", "--notes", "Handed in",
                        "--condition", "needs_repair", "--as", "alice")  # fmt: skip
    assert code == 0
    case.refresh_from_db()
    item = Item.objects.get(pk=shelf[0].pk)
    assert (case.status, case.closed_by, item.holder_armory, item.condition) == (
        "recovered", world.alice, world.armory_a, "needs_repair"
    )  # fmt: skip
    assert "recovered" in out


@pytest.mark.parametrize(
    ("args", "expected_code", "error"),
    [
        (["--armory", "ARM-A", "--notes", "back", "--as", "frank"], 4, "not_armorer"),
        (["--armory", "ARM-B", "--notes", "back", "--as", "carol"], 5, "loss_case_not_found"),
        (["--armory", "ARM-B", "--notes", "back", "--as", "alice"], 5, "armory_not_found"),
        (["--armory", "ARM-A", "--notes", " ", "--as", "alice"], 2, "notes_missing"),
        (["--armory", "ARM-A", "--notes", "back", "--condition", "shiny", "--as", "alice"], 2, "unknown_condition"),
    ],
)
def test_it_refuses_a_recovery_and_changes_nothing(world, shelf, args, expected_code, error):
    case = lost(world, shelf[0])
    code, _, err = call("loss", "recover", str(case.pk), *args)
    assert (code, err.split(":")[0]) == (expected_code, error)
    case.refresh_from_db()
    assert case.is_open and not LedgerEvent.objects.filter(kind="recover").exists()


def test_it_refuses_a_report_out_of_scope_or_by_an_auditor(world, shelf):
    case = lost(world, shelf[0])
    assert call("loss", "report", str(case.pk), "--police-report", "X", "--as", "carol")[0] == 5
    assert call("loss", "report", str(case.pk), "--police-report", "X", "--as", "erin")[0] == 4
    case.refresh_from_db()
    assert case.police_report_no == ""


def test_it_lists_open_cases_in_the_actors_scope(world, shelf):
    case = lost(world, shelf[0])
    closed = lost(world, shelf[1])
    losses.recover(case=closed, armory=world.armory_a, actor=world.alice, notes="Found")
    foreign = lost(world, make_item(world.armory_b, world.carol, serial="B-1"), actor=world.carol)
    code, out, _ = call("loss", "list", "--as", "alice")
    assert code == 0
    assert [int(line.split()[0]) for line in out.splitlines()[:-1]] == [case.pk]
    assert out.splitlines()[-1] == "1 case(s)"
    _, out, _ = call("loss", "list", "--all")
    assert sorted(int(line.split()[0]) for line in out.splitlines()[:-1]) == sorted([case.pk, closed.pk, foreign.pk])
    _, out, _ = call("loss", "list", "--status", "recovered", "--as", "rita")
    assert [int(line.split()[0]) for line in out.splitlines()[:-1]] == [closed.pk]
    assert call("loss", "list", "--armory", "ARM-B")[1].splitlines()[-1] == "1 case(s)"
    lot = make_lot(world.armory_b, world.carol, quantity=100, number="B-LOT")
    lot_case = lot_losses.report_loss(lot=lot, quantity=3, kind="lost", circumstances="Box split open.",
                                      occurred_at=timezone.now(), place="Store B", armory=world.armory_b,
                                      actor=world.carol)  # fmt: skip
    _, out, _ = call("loss", "list", "--armory", "ARM-B")  # a lot's case is homed with its lot
    assert sorted(int(line.split()[0]) for line in out.splitlines()[:-1]) == sorted([foreign.pk, lot_case.pk])
    code, _, err = call("loss", "list", "--status", "gone")
    assert (code, err.split(":")[0]) == (2, "unknown_status")


# --- maintenance ---------------------------------------------------------------------------------------------------


def test_it_sends_an_item_to_the_workshop_and_takes_it_back(world, shelf, workshop):
    code, out, _ = call("maintenance", "send", "A-0", "--workshop", "WS-A", "--reason", "Trigger", "--as", "alice")
    assert code == 0
    out_event = LedgerEvent.objects.get(item=shelf[0], kind="maintenance_out")
    assert out.startswith(f"#{out_event.seq} maintenance_out ") and out.rstrip().endswith("→ WS-A")
    assert Item.objects.get(pk=shelf[0].pk).holder_armory == workshop
    code, out, _ = call("maintenance", "receive", "A-0", "--condition", "serviceable", "--notes", "Spring",
                        "--as", "alice")  # fmt: skip
    assert code == 0
    item = Item.objects.get(pk=shelf[0].pk)
    assert (item.holder_armory, item.last_inspected_on) == (world.armory_a, timezone.localdate())
    assert LedgerEvent.objects.get(item=item, kind="maintenance_in").data["inspected"] is True


def test_it_takes_an_item_back_without_an_inspection(world, shelf, workshop):
    maintenance.send(item=shelf[0], workshop=workshop, actor=world.alice, reason="Sling")
    code, _, _ = call("maintenance", "receive", "A-0", "--condition", "needs_repair", "--notes", "Parts on order",
                      "--not-inspected", "--as", "alice")  # fmt: skip
    assert code == 0
    item = Item.objects.get(pk=shelf[0].pk)
    assert (item.condition, item.last_inspected_on) == ("needs_repair", None)


@pytest.mark.parametrize(
    ("args", "expected_code", "error"),
    [
        (["--workshop", "WS-A", "--reason", "x", "--as", "frank"], 4, "not_armorer"),
        (["--workshop", "WS-A", "--reason", "x", "--as", "carol"], 5, "item_not_found"),
        (["--workshop", "ARM-B", "--reason", "x", "--as", "alice"], 5, "armory_not_found"),
        (["--workshop", "ARM-A", "--reason", "x", "--as", "alice"], 2, "not_a_workshop"),
        (["--workshop", "WS-A", "--reason", " ", "--as", "alice"], 2, "reason_missing"),
    ],
)
def test_it_refuses_to_send_and_changes_nothing(world, shelf, workshop, args, expected_code, error):
    code, _, err = call("maintenance", "send", "A-0", *args)
    assert (code, err.split(":")[0]) == (expected_code, error)
    assert Item.objects.get(pk=shelf[0].pk).holder_armory == world.armory_a


@pytest.mark.parametrize(
    ("args", "expected_code", "error", "sent"),
    [
        (["--condition", "serviceable", "--as", "alice"], 3, "item_not_in_maintenance", False),
        (["--condition", "shiny", "--as", "alice"], 2, "unknown_condition", True),
        (["--condition", "serviceable", "--as", "frank"], 4, "not_armorer", True),
        (["--condition", "serviceable", "--armory", "WS-A", "--as", "alice"], 2, "not_a_store", True),
    ],
)
def test_it_refuses_to_receive_and_changes_nothing(world, shelf, workshop, args, expected_code, error, sent):
    if sent:
        maintenance.send(item=shelf[0], workshop=workshop, actor=world.alice, reason="Trigger")
    code, _, err = call("maintenance", "receive", "A-0", "--notes", "done", *args)
    assert (code, err.split(":")[0]) == (expected_code, error)
    assert Item.objects.get(pk=shelf[0].pk).holder_armory == (workshop if sent else world.armory_a)
    assert not LedgerEvent.objects.filter(kind="maintenance_in").exists()


def test_it_lists_the_items_due_for_inspection(world, shelf):
    monthly = make_item_type("PKM machine gun")
    monthly.inspection_interval_days = 30
    monthly.save()
    due = make_item(world.armory_a, world.alice, item_type=monthly, serial="PKM-1")
    make_item(world.armory_b, world.carol, item_type=monthly, serial="PKM-2")
    code, out, _ = call("maintenance", "due", "--as", "alice")
    assert code == 0
    assert out.splitlines() == [
        f"ARM-A        {due}  last inspected never, every 30 days",
        "1 item(s) due for inspection",
    ]
    assert call("maintenance", "due")[1].splitlines()[-1] == "2 item(s) due for inspection"
