"""The ledger integrity page: commanders and auditors see the head and the signed checkpoints, sign one on demand,
carry checkpoint files and the public key off the server; the whole-ledger export is for a top unit's readers."""

import json
import subprocess
import sys

import pytest

from muster.core.models import AuditEvent
from muster.core.testing import make_account
from muster.custody import checkpoints, services
from muster.custody.models import LedgerCheckpoint, LedgerEvent, LedgerHead
from muster.custody.testing import make_item
from muster.custody.tests.test_checkpoints import VERIFIER
from muster.members.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def signing_key(tmp_path, settings):
    settings.MUSTER_LEDGER_KEY_FILE = str(tmp_path / "signing.key")
    checkpoints.generate_key()
    return checkpoints.public_key_hex(checkpoints.load_private_key().public_key())


@pytest.fixture
def history(world):
    rifle = make_item(world.armory_a, world.alice)
    services.issue(item=rifle, member=world.bob_member, actor=world.alice)
    return rifle


def test_a_commander_signs_a_checkpoint_and_downloads_its_file_and_the_key(client, world, history, signing_key):
    client.force_login(world.dave)
    page = client.get("/ledger/")
    assert page.status_code == 200
    html = page.content.decode()
    head = LedgerHead.objects.get(pk=1)
    assert head.hash in html and signing_key in html
    assert 'data-testid="ledger-export"' not in html  # dave commands company A, not the whole tree

    response = client.post("/ledger/", follow=True)
    checkpoint = LedgerCheckpoint.objects.get()
    assert (checkpoint.size, checkpoint.head_hash) == (head.seq, head.hash)
    assert f"Checkpoint signed: {head.seq} events" in response.content.decode()

    download = client.get(f"/ledger/checkpoints/{checkpoint.pk}.json")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    document = json.loads(download.content)
    assert checkpoints.check(document, trusted_public_hex=signing_key).ok
    key = client.get("/ledger/public-key.txt")
    assert key.content.decode().strip() == signing_key


def test_without_a_key_the_page_says_how_and_signing_changes_nothing(client, world, settings, tmp_path):
    settings.MUSTER_LEDGER_KEY_FILE = str(tmp_path / "missing.key")
    client.force_login(world.erin)
    assert "muster ledger keygen" in client.get("/ledger/").content.decode()
    response = client.post("/ledger/", follow=True)
    assert "no_key" in response.content.decode()
    assert not LedgerCheckpoint.objects.exists()
    assert client.get("/ledger/public-key.txt").status_code == 400


def test_a_checkpoint_signed_with_a_key_the_server_no_longer_holds_has_no_file(client, world, history, signing_key):
    checkpoint = checkpoints.make_checkpoint()
    LedgerCheckpoint.objects.filter(pk=checkpoint.pk).update(key_id="f" * 16)
    client.force_login(world.dave)
    response = client.get(f"/ledger/checkpoints/{checkpoint.pk}.json")
    assert response.status_code == 409 and "checkpoint_key_gone" in response.content.decode()


@pytest.mark.parametrize("who", ["bob", "alice", "frank", "rita"])
def test_other_roles_are_refused(client, world, who):
    client.force_login(getattr(world, who))
    assert client.get("/ledger/").status_code == 403
    assert client.post("/ledger/").status_code == 403
    assert not LedgerCheckpoint.objects.exists()


def test_a_top_units_auditor_exports_the_ledger_and_the_verifier_accepts_it(client, world, history, signing_key,
                                                                          tmp_path):  # fmt: skip
    top_auditor = make_account("tara", roles=[(Role.AUDITOR, world.region)])
    client.force_login(world.dave)
    assert client.get("/ledger/export.jsonl").status_code == 403
    client.force_login(top_auditor)
    response = client.get("/ledger/export.jsonl")
    assert response.status_code == 200
    export = tmp_path / "ledger.jsonl"
    export.write_bytes(b"".join(response.streaming_content))
    lines = export.read_text().splitlines()
    assert json.loads(lines[0])["events"] == LedgerEvent.objects.count() == len(lines) - 1
    assert AuditEvent.objects.filter(kind="export", account=top_auditor, detail="ledger export (JSONL)").exists()

    checkpoint_file = tmp_path / "checkpoint.json"
    checkpoint_file.write_text(json.dumps(checkpoints.document_of(checkpoints.make_checkpoint())))
    result = subprocess.run(
        [sys.executable, str(VERIFIER), str(export), "--checkpoint", str(checkpoint_file), "--public-key", signing_key],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signed by the trusted key" in result.stdout


@pytest.mark.parametrize(("who", "shown"), [("dave", True), ("alice", False), ("bob", False)])
def test_the_navbar_offers_the_page_to_its_readers_only(client, world, who, shown):
    client.force_login(getattr(world, who))
    html = client.get("/").content.decode()
    assert ('data-testid="nav-ledger"' in html) is shown
