"""Signed checkpoints, the export, and the standalone verifier: rewritten or truncated history is caught."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from muster.custody import checkpoints, ledger, services, tallies, triggers
from muster.custody.models import LedgerCheckpoint, LedgerEvent, LedgerHead
from muster.custody.testing import make_item

pytestmark = pytest.mark.django_db
VERIFIER = Path(__file__).resolve().parents[4] / "tools" / "verify_ledger.py"


@pytest.fixture
def signing_key(tmp_path, settings):
    settings.MUSTER_LEDGER_KEY_FILE = str(tmp_path / "signing.key")
    checkpoints.generate_key()
    return checkpoints.public_key_hex(checkpoints.load_private_key().public_key())


@pytest.fixture
def history(world):
    items = [make_item(world.armory_a, world.alice) for _ in range(3)]
    for item in items:
        services.issue(item=item, member=world.bob_member, actor=world.alice)
    services.return_item(item=items[0], actor=world.alice)
    return items  # 7 events


def checkpoint_file(tmp_path) -> Path:
    path = tmp_path / "checkpoint.json"
    checkpoints.write_file(checkpoints.make_checkpoint(), path)
    return path


def run(*args) -> tuple[int, str]:
    try:
        call_command("ledger", *[str(arg) for arg in args])
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


def rewrite_from(seq: int, reason: str) -> None:
    """What an attacker with database access does: change an event and recompute every later hash."""
    triggers.uninstall(connection)
    prev = LedgerEvent.objects.get(seq=seq - 1).hash if seq > 1 else ledger.GENESIS_HASH
    for row in LedgerEvent.objects.filter(seq__gte=seq).order_by("seq"):
        if row.seq == seq:
            row.reason = reason
        fields = ledger.event_fields(
            seq=row.seq,
            recorded_at=row.recorded_at,
            kind=row.kind,
            item_id=row.item_id,
            item_version=row.item_version,
            from_ref=ledger.holder_ref(row.from_kind, row.from_armory_id, row.from_member_id),
            to_ref=ledger.holder_ref(row.to_kind, row.to_armory_id, row.to_member_id),
            actor_id=row.actor_id,
            reason=row.reason,
            due_at=row.due_at,
            data=row.data,
            prev_hash=prev,
        )
        prev = ledger.compute_hash(fields)
        LedgerEvent.objects.filter(seq=row.seq).update(reason=row.reason, prev_hash=fields["prev_hash"], hash=prev)
    LedgerHead.objects.filter(pk=1).update(hash=prev)
    triggers.install(connection)


def test_a_checkpoint_signs_size_and_head(signing_key, history, tmp_path):
    document = json.loads(checkpoint_file(tmp_path).read_text())
    assert (document["size"], document["head_hash"]) == (7, LedgerEvent.objects.get(seq=7).hash)
    assert document["public_key"] == signing_key
    assert LedgerCheckpoint.objects.get().size == 7
    assert checkpoints.check(document, trusted_public_hex=signing_key).ok
    assert checkpoints.check(document, trusted_public_hex=signing_key.upper()).ok  # hex in either case


def test_verify_with_a_checkpoint_passes_on_an_intact_ledger_that_grew(signing_key, history, tmp_path, world, capsys):
    path = checkpoint_file(tmp_path)
    services.return_item(item=history[1], actor=world.alice)
    call_command("ledger", "verify", "--checkpoint", str(path), "--public-key", signing_key)
    assert "checkpoint at 7" in capsys.readouterr().out


def test_a_consistently_rewritten_history_passes_plain_verify_but_not_the_checkpoint(signing_key, history, tmp_path):
    path = checkpoint_file(tmp_path)
    rewrite_from(4, "nothing happened")
    assert ledger.verify().ok  # the chain alone cannot tell
    code, message = run("verify", "--checkpoint", path)
    assert code == 1
    assert "rewritten" in message


def test_a_truncated_history_is_caught_by_the_checkpoint(signing_key, history, tmp_path, world):
    path = checkpoint_file(tmp_path)
    triggers.uninstall(connection)
    LedgerEvent.objects.filter(seq=7).delete()
    LedgerHead.objects.filter(pk=1).update(seq=6, hash=LedgerEvent.objects.get(seq=6).hash)
    from muster.custody.models import Item

    Item.objects.filter(pk=history[0].pk).update(
        holder_kind="member", holder_armory=None, holder_member=world.bob_member, custody_version=2
    )
    tallies.rebuild()  # a careful forger leaves nothing the database itself could notice
    triggers.install(connection)
    assert ledger.verify().ok
    code, message = run("verify", "--checkpoint", path)
    assert code == 1
    assert "truncated" in message


def test_a_forged_checkpoint_or_a_foreign_key_is_refused(signing_key, history, tmp_path):
    path = checkpoint_file(tmp_path)
    document = json.loads(path.read_text())
    document["size"] = 6
    path.write_text(json.dumps(document))
    assert not checkpoints.check(document, trusted_public_hex=signing_key).ok
    assert run("verify", "--checkpoint", path)[0] == 1
    genuine = json.loads(checkpoint_file(tmp_path).read_text())
    outcome = checkpoints.check(genuine, trusted_public_hex="ab" * 32)
    assert not outcome.ok and "different key" in outcome.message


# Runs the verifier as its own program and fails if it pulled in Django on the way.
_NO_DJANGO = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    assert "django" not in sys.modules, "the verifier imported Django"
"""


def standalone(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", _NO_DJANGO, str(VERIFIER), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True)


def test_the_standalone_verifier_checks_an_export_and_a_checkpoint_without_django(signing_key, history, tmp_path):
    path = checkpoint_file(tmp_path)
    export = tmp_path / "ledger.jsonl"
    call_command("ledger", "export", str(export))
    result = standalone(export, "--checkpoint", path, "--public-key", signing_key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"ok: 7 events, head {LedgerEvent.objects.get(seq=7).hash}")


def test_the_standalone_verifier_catches_an_altered_export_and_a_rewritten_one(signing_key, history, tmp_path):
    path = checkpoint_file(tmp_path)
    export = tmp_path / "ledger.jsonl"
    call_command("ledger", "export", str(export))
    lines = export.read_text().splitlines()
    event = json.loads(lines[3])
    event["reason"] = "edited"
    altered = tmp_path / "altered.jsonl"
    altered.write_text("\n".join([*lines[:3], json.dumps(event), *lines[4:]]) + "\n")
    result = standalone(altered)
    assert result.returncode == 1
    assert "event 3: hash does not match" in result.stdout

    rewrite_from(4, "nothing happened")
    rewritten = tmp_path / "rewritten.jsonl"
    call_command("ledger", "export", str(rewritten))
    assert standalone(rewritten).returncode == 0  # internally consistent
    result = standalone(rewritten, "--checkpoint", path, "--public-key", signing_key)
    assert result.returncode == 1
    assert "rewritten" in result.stdout


def test_a_forger_who_signs_with_their_own_key_is_caught_by_the_pinned_key(signing_key, history, tmp_path):
    """Someone with the database and the export rewrites history, then makes a checkpoint over it with a key of their
    own. The verifier trusts only the key the auditor holds."""
    export = tmp_path / "rewritten.jsonl"
    rewrite_from(4, "nothing happened")
    call_command("ledger", "export", str(export))
    forger_key = tmp_path / "forger.key"
    checkpoints.generate_key(forger_key)
    forged = tmp_path / "forged.json"
    forger_public = checkpoints.public_key_hex(checkpoints.load_private_key(forger_key).public_key())
    last = LedgerEvent.objects.order_by("-seq").first()
    created = "2026-12-01T10:00:00.000000Z"
    signature = checkpoints.load_private_key(forger_key).sign(
        checkpoints.signed_bytes(size=last.seq, head_hash=last.hash, created_at=created)
    )
    forged.write_text(json.dumps({"format": "muster-ledger-checkpoint", "v": 1, "size": last.seq,
                                  "head_hash": last.hash, "created_at": created, "public_key": forger_public,
                                  "signature": signature.hex()}))  # fmt: skip

    pinned = standalone(export, "--checkpoint", forged, "--public-key", signing_key.upper())
    assert pinned.returncode == 1 and "different key" in pinned.stdout
    unpinned = standalone(export, "--checkpoint", forged)
    assert unpinned.returncode == 2 and "--public-key" in unpinned.stderr
    trusting = standalone(export, "--checkpoint", forged, "--trust-embedded-key")
    assert trusting.returncode == 0 and "NOT PINNED" in trusting.stdout
    # On the server, without --public-key, the server's own key is the trusted one.
    code, message = run("verify", "--checkpoint", forged)
    assert code == 1 and "different key" in message
    assert run("verify", "--checkpoint", forged, "--public-key", "xyz")[0] == 2


def test_keygen_refuses_to_replace_a_key(signing_key):
    code, message = run("keygen")
    assert code == 3
    assert "already exists" in message


def test_the_standalone_verifier_replays_lot_quantities_and_catches_an_overdrawn_holder(world, tmp_path):
    from muster.custody import lots
    from muster.custody.lots import Expenditure
    from muster.custody.testing import make_lot

    lot = make_lot(world.armory_a, world.alice, quantity=100)
    lots.issue(lot=lot, member=world.bob_member, quantity=40, actor=world.alice)
    lots.settle(lot=lot, member=world.bob_member, returned=10, expended=25, actor=world.alice,
                expenditure=Expenditure("incident", "INC-9"))  # fmt: skip
    export = tmp_path / "ledger.jsonl"
    call_command("ledger", "export", str(export))
    lines = export.read_text().splitlines()
    assert standalone(export).returncode == 0, standalone(export).stdout
    assert {json.loads(line).get("kind") for line in lines[1:]} >= {
        "lot_receive",
        "lot_issue",
        "lot_expend",
        "lot_loss",
    }

    # An export rewritten consistently (every hash recomputed) so that the member gave back more than they held.
    events = [json.loads(line) for line in lines[1:]]
    prev = "0" * 64
    for event in events:
        event.pop("hash")
        if event["kind"] == "lot_return":
            event["quantity"] = 41
        event["prev_hash"] = prev
        prev = event["hash"] = ledger.compute_hash({key: value for key, value in event.items() if key != "hash"})
    header = json.loads(lines[0]) | {"head_hash": prev}
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(json.dumps(line) for line in [header, *events]) + "\n")
    result = standalone(forged)
    assert result.returncode == 1
    assert f"member:{world.bob_member.pk} gave 41 but held 40" in result.stdout


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_every_checkpoint_is_also_written_to_the_checkpoint_folder(signing_key, history, tmp_path, settings, on_commit):
    settings.MUSTER_CHECKPOINT_DIR = str(tmp_path / "offsite")
    (tmp_path / "offsite").mkdir()
    with on_commit():
        checkpoint = checkpoints.make_checkpoint()
    written = list((tmp_path / "offsite").iterdir())
    assert [path.name for path in written] == [checkpoints.file_name(checkpoint)]
    document = json.loads(written[0].read_text())
    assert checkpoints.check(document, trusted_public_hex=signing_key).ok
    assert document["size"] == checkpoint.size == LedgerEvent.objects.count()


def test_a_missing_checkpoint_folder_is_logged_and_the_checkpoint_stands(
    signing_key, history, tmp_path, settings, caplog, on_commit
):
    settings.MUSTER_CHECKPOINT_DIR = str(tmp_path / "not-mounted")
    with on_commit():
        checkpoint = checkpoints.make_checkpoint()
    assert LedgerCheckpoint.objects.filter(pk=checkpoint.pk).exists()
    assert "could not be written" in caplog.text
