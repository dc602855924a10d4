"""`muster seed`: bulk scale data whose ledger verifies, with the triggers back on afterwards."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from muster.custody import ledger
from muster.custody.models import Item, LedgerEvent
from muster.members.models import Member


def test_it_builds_a_data_set_that_verifies(purged_ledger, capsys):
    call_command("seed", "--members", "200", "--items", "300", "--events", "2000")
    out = capsys.readouterr().out
    assert "seeded" in out and "ledger ok: 2000 events checked, 300 items match" in out
    assert Member.objects.count() == 200
    held = Item.objects.filter(holder_kind="member")
    assert held.count() > 50
    assert LedgerEvent.objects.filter(kind="return").exists()
    # Believable due dates: most of what members hold today is due back later; a few items are late.
    late = held.filter(due_at__lt=timezone.now()).count()
    assert 0 < late < held.count() * 0.15
    for item in held:  # the due date an item carries is the one its last (issue) event recorded, hash and all
        assert LedgerEvent.objects.filter(item=item).order_by("-seq").values_list("due_at", flat=True)[0] == item.due_at
    with pytest.raises(IntegrityError), transaction.atomic():  # the append-only triggers are back
        LedgerEvent.objects.filter(seq=1).update(reason="x")
    assert ledger.verify().ok


def test_it_refuses_a_database_with_data_and_impossible_sizes(world, capsys):
    with pytest.raises(CommandError) as refusal:
        call_command("seed", "--members", "10", "--items", "10", "--events", "20")
    assert "empty database" in str(refusal.value)
    with pytest.raises(CommandError):
        call_command("seed", "--members", "10", "--items", "10", "--events", "5")
