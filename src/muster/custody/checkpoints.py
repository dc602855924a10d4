"""Signed checkpoints of the ledger: Ed25519 over the canonical encoding of (size, head hash, time).

The private key lives in a file outside the database (MUSTER_LEDGER_KEY_FILE, default var/ledger-signing.key), so
someone who can rewrite the database cannot also forge checkpoints. The checkpoint file format and the signed
bytes are specified in docs/ledger.md; tools/verify_ledger.py checks them without Django.
"""

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.custody.ledger import canonical_bytes, format_time
from muster.custody.models import LedgerCheckpoint, LedgerEvent, LedgerHead
from muster.members import scope
from muster.members.models import Account, Role

logger = logging.getLogger("muster.ledger")

FORMAT = "muster-ledger-checkpoint"
VERSION = 1

# Who reads checkpoints (sizes and hashes: nothing about people) and makes one on demand: those who answer for the
# books. The whole-ledger export holds every unit's events, so it is for the same roles on a top unit only.
READERS = frozenset({Role.COMMANDER, Role.AUDITOR})


def key_path() -> Path:
    return Path(settings.MUSTER_LEDGER_KEY_FILE)


def generate_key(path: Path | None = None, *, overwrite: bool = False) -> Path:
    """Create the signing key (mode 0600). Refuses to replace an existing key unless told to."""
    path = path or key_path()
    if path.exists() and not overwrite:
        raise Refused(
            f"A signing key already exists at {path}; it stays (checkpoints made with it rely on it).",
            code="key_exists",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return path


def load_private_key(path: Path | None = None) -> Ed25519PrivateKey:
    path = path or key_path()
    if not path.exists():
        raise Invalid(f"No ledger signing key at {path}; create one with `muster ledger keygen`.", code="no_key")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:  # not PEM, encrypted, unreadable
        raise Invalid(f"{path} does not hold an Ed25519 private key ({exc}).", code="wrong_key_type") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise Invalid(f"{path} does not hold an Ed25519 private key.", code="wrong_key_type")
    return key


def public_key_hex(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def key_id(public_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:16]


def signed_bytes(*, size: int, head_hash: str, created_at: str) -> bytes:
    return canonical_bytes(
        {"format": FORMAT, "v": VERSION, "size": size, "head_hash": head_hash, "created_at": created_at}
    )


@retry_transient
@transaction.atomic
def make_checkpoint() -> LedgerCheckpoint:
    """Sign the ledger's current size and head hash. Reads the head under lock so the pair is consistent."""
    key = load_private_key()
    head = LedgerHead.objects.select_for_update().get(pk=1)
    created_at = timezone.now()
    message = signed_bytes(size=head.seq, head_hash=head.hash, created_at=format_time(created_at))
    checkpoint = LedgerCheckpoint.objects.create(
        size=head.seq,
        head_hash=head.hash,
        created_at=created_at,
        key_id=key_id(public_key_hex(key.public_key())),
        signature=key.sign(message).hex(),
    )
    public_hex = public_key_hex(key.public_key())
    transaction.on_commit(lambda: publish(checkpoint, public_hex))
    return checkpoint


def file_name(checkpoint: LedgerCheckpoint) -> str:
    return f"muster-checkpoint-{checkpoint.size}-{checkpoint.created_at:%Y%m%dT%H%M%S%fZ}.json"


def publish(checkpoint: LedgerCheckpoint, public_hex: str) -> Path | None:
    """Write the checkpoint's file into MUSTER_CHECKPOINT_DIR, if set: whole or not at all (a temporary name, then
    a rename). After the commit, and never failing the checkpoint: a missing folder is logged for the operators."""
    folder = settings.MUSTER_CHECKPOINT_DIR
    if not folder:
        return None
    target = Path(folder) / file_name(checkpoint)
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(json.dumps(to_document(checkpoint, public_hex), indent=2) + "\n")
        os.replace(partial, target)
    except OSError:
        logger.exception("checkpoint %s could not be written to %s", checkpoint.size, folder)
        return None
    return target


def to_document(checkpoint: LedgerCheckpoint, public_hex: str) -> dict:
    return {
        "format": FORMAT,
        "v": VERSION,
        "size": checkpoint.size,
        "head_hash": checkpoint.head_hash,
        "created_at": format_time(checkpoint.created_at),
        "key_id": checkpoint.key_id,
        "public_key": public_hex,
        "signature": checkpoint.signature,
    }


def write_file(checkpoint: LedgerCheckpoint, path: Path) -> None:
    public_hex = public_key_hex(load_private_key().public_key())
    path.write_text(json.dumps(to_document(checkpoint, public_hex), indent=2) + "\n")


@dataclass
class CheckpointCheck:
    ok: bool
    message: str


def read_file(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Invalid(f"Cannot read checkpoint {path}: {exc}", code="checkpoint_unreadable") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("v") != VERSION:
        raise Invalid(f"{path} is not a Muster ledger checkpoint (version {VERSION}).", code="checkpoint_unreadable")
    return document


def trusted_key(given: str | None = None) -> str:
    """The public key a checkpoint must be signed by: the one given (64 hex digits or a file holding them), else this
    server's own (from its key file, which is not in the database). A key taken from the checkpoint itself proves
    nothing: whoever forged the checkpoint signed it with their own key."""
    if given:
        text = Path(given).read_text().strip() if Path(given).is_file() else given.strip()
        try:
            if len(bytes.fromhex(text)) != 32:
                raise ValueError
        except ValueError:
            raise Invalid("The public key must be 64 hexadecimal digits (or a file holding them).",
                          code="public_key_invalid") from None  # fmt: skip
        return text.lower()
    return public_key_hex(load_private_key().public_key())


def check(document: dict, *, trusted_public_hex: str) -> CheckpointCheck:
    """Is the checkpoint genuinely signed by the trusted key, and do the first `size` events of this ledger end in
    `head_hash`?"""
    public_hex = trusted_public_hex.lower()
    if str(document.get("public_key", "")).lower() != public_hex:
        return CheckpointCheck(False, "the checkpoint was signed by a different key than the trusted one")
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        message = signed_bytes(
            size=document["size"], head_hash=document["head_hash"], created_at=document["created_at"]
        )
        public.verify(bytes.fromhex(document["signature"]), message)
    except (InvalidSignature, ValueError, KeyError):
        return CheckpointCheck(False, "the checkpoint's signature is not valid")
    size, head_hash = document["size"], document["head_hash"]
    if size == 0:
        return CheckpointCheck(True, "checkpoint of the empty ledger")
    stored = LedgerEvent.objects.filter(seq=size).values_list("hash", flat=True).first()
    if stored is None:
        held = LedgerEvent.objects.count()
        return CheckpointCheck(False, f"the ledger holds {held} events but was signed at {size}: history was truncated")
    if stored != head_hash:
        return CheckpointCheck(False, f"event {size} no longer has the signed hash: history up to it was rewritten")
    return CheckpointCheck(True, f"checkpoint at {size} signed {document['created_at']} by key {key_id(public_hex)}")


def may_read(account: Account) -> bool:
    return (
        account.is_authenticated
        and account.is_active
        and (scope.is_global(account) or bool(scope.unit_paths(account, READERS)))
    )


def may_export(account: Account) -> bool:
    """The export covers every unit: superusers, and commanders and auditors of a top unit (one without a parent)."""
    if not may_read(account):
        return False
    return scope.is_global(account) or scope.units(account, READERS).filter(parent=None).exists()


def require_reader(account: Account) -> None:
    if not may_read(account):
        raise NotPermitted("Ledger checkpoints are for commanders and auditors.", code="not_ledger_reader")


def make_checkpoint_for(*, actor: Account) -> LedgerCheckpoint:
    """A checkpoint on demand, from the web or the API."""
    require_reader(actor)
    return make_checkpoint()


def public_key_or_none() -> str | None:
    """This server's public key, or None before `muster ledger keygen`."""
    try:
        return public_key_hex(load_private_key().public_key())
    except Invalid:
        return None


def document_of(checkpoint: LedgerCheckpoint) -> dict:
    """The checkpoint file of a stored checkpoint (to carry off the server)."""
    public_hex = public_key_or_none()
    if public_hex is None or key_id(public_hex) != checkpoint.key_id:
        raise Refused(
            "This checkpoint was signed with a key this server no longer holds; its file cannot be rebuilt here.",
            code="checkpoint_key_gone",
        )
    return to_document(checkpoint, public_hex)
