import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from muster.core.testing import make_member
from muster.custody import ledger, services
from muster.custody.models import HolderKind, LedgerEvent
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db


def call(*args) -> tuple[int, str, str]:
    """Run a command as the CLI would; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


def test_it_issues_an_item_and_prints_the_ledger_event(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    due = (timezone.now() + timedelta(hours=8)).replace(microsecond=0)
    code, out, _ = call("issue", "AK-1", world.bob_member.member_no, "--due", due.isoformat(), "--reason", "patrol",
                        "--as", "alice")  # fmt: skip
    assert code == 0
    item.refresh_from_db()
    assert (item.holder_kind, item.holder_member, item.due_at) == (HolderKind.MEMBER, world.bob_member, due)
    event = LedgerEvent.objects.get(item=item, kind="issue")
    assert (event.actor, event.reason, event.due_at) == (world.alice, "patrol", due)
    assert out.startswith(f"#{event.seq} issue {event.hash[:12]}  AK-74M assault rifle #AK-1 → Bob Baker")
    assert f"({world.bob_member.member_no}), due back" in out
    assert ledger.verify().ok


def test_it_reads_a_due_time_without_an_offset_in_the_site_time_zone(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    due = timezone.localtime(timezone.now() + timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    code, _, _ = call("issue", "AK-1", world.bob_member.member_no, "--due", due.isoformat(), "--as", "alice")
    assert code == 0
    item.refresh_from_db()
    assert item.due_at == timezone.make_aware(due)


def test_it_refuses_a_due_time_that_is_not_a_date_time(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    code, _, err = call("issue", "AK-1", world.bob_member.member_no, "--due", "friday", "--as", "alice")
    assert code == 2
    assert "due_not_datetime" in err
    item.refresh_from_db()
    assert item.holder_kind == HolderKind.ARMORY


def test_it_refuses_to_issue_an_item_already_issued(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    events = LedgerEvent.objects.count()
    code, _, err = call("issue", "AK-1", make_member(world.unit_a).member_no, "--as", "alice")
    assert code == 3
    assert "item_not_in_armory" in err
    item.refresh_from_db()
    assert item.holder_member == world.bob_member
    assert LedgerEvent.objects.count() == events


def test_it_answers_not_found_for_an_item_of_another_unit(world):
    item = make_item(world.armory_b, world.carol, serial="B-1")
    code, _, err = call("issue", "B-1", world.bob_member.member_no, "--as", "alice")
    assert code == 5
    assert "No item with serial number 'B-1' in your units" in err
    item.refresh_from_db()
    assert item.holder_kind == HolderKind.ARMORY
    assert LedgerEvent.objects.filter(item=item).count() == 1


def test_it_answers_not_found_for_a_member_of_another_unit(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    code, _, err = call("issue", "AK-1", world.member_b.member_no, "--as", "alice")
    assert code == 5
    assert "member_not_found" in err
    item.refresh_from_db()
    assert item.holder_kind == HolderKind.ARMORY


def test_it_refuses_an_actor_who_is_not_an_armorer(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    code, _, err = call("issue", "AK-1", world.bob_member.member_no, "--as", "dave")
    assert code == 4
    assert "not_armorer" in err
    item.refresh_from_db()
    assert item.holder_kind == HolderKind.ARMORY


def test_it_refuses_to_issue_without_an_acting_account(world, monkeypatch):
    monkeypatch.delenv("MUSTER_USER", raising=False)
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    code, _, _ = call("issue", "AK-1", world.bob_member.member_no)
    assert code == 4
    item.refresh_from_db()
    assert item.holder_kind == HolderKind.ARMORY


def test_it_takes_the_acting_account_from_muster_user(world, monkeypatch):
    monkeypatch.setenv("MUSTER_USER", "alice")
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    code, _, _ = call("issue", "AK-1", world.bob_member.member_no)
    assert code == 0
    assert LedgerEvent.objects.get(item=item, kind="issue").actor == world.alice


def test_it_returns_an_item_to_its_home_armory(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    code, out, _ = call("return", "AK-1", "--reason", "end of patrol", "--as", "alice")
    assert code == 0
    item.refresh_from_db()
    assert (item.holder_kind, item.holder_armory, item.holder_member, item.due_at) == (
        HolderKind.ARMORY,
        world.armory_a,
        None,
        None,
    )
    event = LedgerEvent.objects.get(item=item, kind="return")
    assert (event.actor, event.reason, event.from_member) == (world.alice, "end of patrol", world.bob_member)
    assert out.strip() == f"#{event.seq} return {event.hash[:12]}  AK-74M assault rifle #AK-1 → ARM-A"
    assert ledger.verify().ok


def test_it_returns_into_another_armory_in_scope(world):
    item = make_item(world.armory_a, world.rita, serial="AK-1")
    services.issue(item=item, member=world.bob_member, actor=world.rita)
    code, _, _ = call("return", "AK-1", "--armory", "ARM-B", "--as", "rita")
    assert code == 0
    item.refresh_from_db()
    assert item.holder_armory == world.armory_b


def test_it_refuses_to_return_an_item_not_issued(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    code, _, err = call("return", "AK-1", "--as", "alice")
    assert code == 3
    assert "item_not_issued" in err
    assert LedgerEvent.objects.filter(item=item).count() == 1


def test_it_answers_not_found_for_an_armory_of_another_unit(world):
    item = make_item(world.armory_a, world.alice, serial="AK-1")
    services.issue(item=item, member=world.bob_member, actor=world.alice)
    code, _, err = call("return", "AK-1", "--armory", "ARM-B", "--as", "alice")
    assert code == 5
    assert "armory_not_found" in err
    item.refresh_from_db()
    assert item.holder_member == world.bob_member


def test_it_lists_what_a_member_holds(world):
    rifle = make_item(world.armory_a, world.alice, serial="AK-1")
    make_item(world.armory_a, world.alice, serial="AK-2")  # stays in the armory
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    code, out, _ = call("holdings", world.bob_member.member_no)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{world.bob_member.member_no}  Bob Baker  (A)  1 item(s)")
    assert lines[1].split() == ["SERIAL", "TYPE", "SINCE", "DUE", "BACK"]
    assert lines[2].split()[0] == "AK-1"
    assert "AK-2" not in out


def test_it_says_when_a_member_holds_nothing(world):
    code, out, _ = call("holdings", world.bob_member.member_no)
    assert (code, out.strip()) == (0, f"Bob Baker ({world.bob_member.member_no}) holds nothing.")


def test_it_answers_not_found_for_an_unknown_member_number(world):
    code, _, err = call("holdings", "NO-SUCH")
    assert code == 5
    assert "No member with number 'NO-SUCH'" in err


def test_it_lists_every_issued_item_as_csv(world):
    first = make_item(world.armory_a, world.alice, serial="AK-1")
    second = make_item(world.armory_b, world.carol, serial="B-1")
    services.issue(item=first, member=world.bob_member, actor=world.alice)
    services.issue(item=second, member=world.member_b, actor=world.carol)
    code, out, _ = call("holdings", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {(row["member_no"], row["serial_number"], row["unit"]) for row in rows} == {
        (world.bob_member.member_no, "AK-1", "A"),
        (world.member_b.member_no, "B-1", "B"),
    }
    issued = LedgerEvent.objects.get(item=first, kind="issue")
    row = next(row for row in rows if row["serial_number"] == "AK-1")
    assert (row["since"], row["due_at"], row["overdue"]) == (
        issued.recorded_at.isoformat(),
        issued.due_at.isoformat(),
        "no",
    )


def test_it_says_when_nothing_is_issued(world):
    make_item(world.armory_a, world.alice)
    code, out, _ = call("holdings")
    assert (code, out.strip()) == (0, "Nothing is issued.")
