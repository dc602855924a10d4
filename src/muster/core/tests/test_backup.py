"""Backup while running, restore, and the round trip ends with verify passing and the same head hash."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from muster.custody import ledger, services
from muster.custody.models import Item, LedgerEvent
from muster.custody.testing import make_item


def test_a_backup_restores_to_the_same_ledger_head(world, purged_ledger, tmp_path, capsys):
    items = [make_item(world.armory_a, world.alice) for _ in range(3)]
    services.issue(item=items[0], member=world.bob_member, actor=world.alice)
    head_at_backup, events_at_backup = ledger.verify().head_hash, LedgerEvent.objects.count()
    target = tmp_path / "muster.backup"
    call_command("backup", str(target))
    assert f"ledger of {events_at_backup} events" in capsys.readouterr().out

    services.issue(item=items[1], member=world.bob_member, actor=world.alice)  # after the backup: to be undone
    call_command("restore", str(target), "--yes")
    out = capsys.readouterr().out
    result = ledger.verify()
    assert result.ok and result.head_hash == head_at_backup
    assert head_at_backup in out
    assert LedgerEvent.objects.count() == events_at_backup
    assert Item.objects.get(pk=items[1].pk).holder_kind == "armory"


def test_backup_never_overwrites_and_restore_refuses_junk(db, tmp_path):
    existing = tmp_path / "old.backup"
    existing.write_text("precious")
    with pytest.raises(CommandError) as refusal:
        call_command("backup", str(existing))
    assert refusal.value.returncode == 2
    assert existing.read_text() == "precious"
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(CommandError) as refusal:
        call_command("restore", str(junk), "--yes")
    assert refusal.value.returncode == 2


def test_restore_asks_for_confirmation(db, tmp_path):
    with pytest.raises(CommandError) as refusal:
        call_command("restore", str(tmp_path / "x"))  # no terminal to ask on: refused
    assert "--yes" in str(refusal.value)
