"""`muster ledger verify` through the real command line: exit codes and what it names when the ledger is broken."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from muster.custody import services, triggers
from muster.custody.models import LedgerEvent
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_ledger(world):
    items = [make_item(world.armory_a, world.alice) for _ in range(4)]
    for item in items:
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    services.return_item(item=items[1], actor=world.alice)
    return items  # 9 events: 4 registers, 4 issues, 1 return


def run_verify(capsys) -> tuple[int, str]:
    try:
        call_command("ledger", "verify", "--progress", "never")
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, capsys.readouterr().out


def test_it_reports_events_checked_and_the_head_hash(busy_ledger, capsys):
    code, out = run_verify(capsys)
    assert code == 0
    head = LedgerEvent.objects.get(seq=9).hash
    assert out.strip() == f"ledger ok: 9 events checked, 4 items match, head {head}"


def test_it_shows_a_progress_bar_when_asked(busy_ledger, capsys):
    call_command("ledger", "verify", "--progress", "always")
    assert "9 events checked" in capsys.readouterr().out


@pytest.fixture
def without_triggers():
    """Tampering needs the append-only triggers out of the way, as an attacker with database access would."""
    triggers.uninstall(connection)
    yield
    triggers.install(connection)


def test_it_names_the_first_altered_event(busy_ledger, without_triggers, capsys):
    LedgerEvent.objects.filter(seq=6).update(reason="nothing to see")
    code, message = run_verify(capsys)
    assert code == 1
    assert "sequence 6" in message
    assert "hash does not match" in message


def test_it_names_a_deleted_event(busy_ledger, without_triggers, capsys):
    LedgerEvent.objects.filter(seq=5).delete()
    code, message = run_verify(capsys)
    assert code == 1
    assert "sequence 5" in message
    assert "gap" in message


def test_it_catches_a_holder_edited_behind_the_ledger(busy_ledger, without_triggers, world, capsys):
    from muster.custody.models import Item

    item = busy_ledger[1]  # returned to the armory
    Item.objects.filter(pk=item.pk).update(holder_kind="member", holder_armory=None, holder_member=world.bob_member)
    code, message = run_verify(capsys)
    assert code == 1
    assert f"item {item.pk} is held by member:{world.bob_member.pk}" in message
    assert "sequence 9" in message


def test_it_catches_a_recomputed_chain_that_rewrote_an_event(busy_ledger, without_triggers, capsys):
    """Editing a row and recomputing its own hash still breaks the next event's prev_hash."""
    from muster.custody import ledger

    row = LedgerEvent.objects.get(seq=7)
    fields = ledger.event_fields(
        seq=7,
        recorded_at=row.recorded_at,
        kind=row.kind,
        item_id=row.item_id,
        item_version=row.item_version,
        from_ref=f"armory:{row.from_armory_id}",
        to_ref=f"member:{row.to_member_id}",
        actor_id=row.actor_id,
        reason="forged",
        due_at=row.due_at,
        data=row.data,
        prev_hash=row.prev_hash,
    )
    LedgerEvent.objects.filter(seq=7).update(reason="forged", hash=ledger.compute_hash(fields))
    code, message = run_verify(capsys)
    assert code == 1
    assert "sequence 8" in message
    assert "prev_hash" in message
