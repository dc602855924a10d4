#!/usr/bin/env python3
"""Verify a Muster ledger export without Muster or Django: standard library plus `cryptography`.

    python3 verify_ledger.py EXPORT.jsonl [--checkpoint CHECKPOINT.json --public-key HEX_OR_FILE]

Checks, in order: the hash chain (gap-free sequence, each prev_hash, each recomputed hash), custody continuity
(each item's versions and from-holders; each lot's versions, and that no holder ever gives more of a lot than it
holds), and, with --checkpoint, that the checkpoint is genuinely signed and that
the export's event at the checkpoint's size carries the signed head hash (so history up to it was neither
rewritten nor truncated). A checkpoint is checked against the public key you hold (--public-key, from `muster
ledger public-key`, kept off the server): the key written inside a checkpoint file proves nothing, since whoever
forged the checkpoint signed it with their own key. --trust-embedded-key accepts it anyway, and says so.

Exit 0 and one line "ok: …" when everything holds; exit 1 naming the first problem; exit 2 on unusable input.
The formats are specified in Muster's docs/ledger.md.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

GENESIS = "0" * 64


def canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def fail(message: str) -> None:
    print(f"BROKEN: {message}")
    sys.exit(1)


def unusable(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def verify_chain(path: Path) -> tuple[int, dict[int, str]]:
    """Return (events, {seq: hash}) after checking the chain and custody continuity."""
    hashes: dict[int, str] = {}
    holders: dict[int, tuple[str, int]] = {}
    lot_versions: dict[int, int] = {}
    balances: dict[tuple[int, str], int] = {}
    prev_hash, expected = GENESIS, 1
    with path.open(encoding="utf-8") as lines:
        try:
            header = json.loads(next(lines))
        except (StopIteration, ValueError):
            unusable(f"{path} has no export header")
        if header.get("format") != "muster-ledger-export" or header.get("v") != 1:
            unusable(f"{path} is not a Muster ledger export (version 1)")
        for number, line in enumerate(lines, start=2):
            try:
                event = json.loads(line)
                stored = event.pop("hash")
                seq, item, version = event["seq"], event["item"], event["item_version"]
            except (ValueError, KeyError, AttributeError):
                unusable(f"line {number} is not a ledger event")
            if seq != expected:
                fail(f"sequence gap at line {number}: expected {expected}, found {seq}")
            if event.get("prev_hash") != prev_hash:
                fail(f"event {seq}: prev_hash does not match the hash of event {seq - 1}")
            if hashlib.sha256(canonical(event)).hexdigest() != stored:
                fail(f"event {seq}: hash does not match its contents (the event was altered)")
            if "lot" in event:
                check_lot_event(event, lot_versions, balances)
            else:
                current, current_version = holders.get(item, (None, 0))
                if version != current_version + 1:
                    fail(f"event {seq}: item {item} version {version} follows version {current_version}")
                if event.get("from") != current:
                    fail(f"event {seq}: item {item} moved from {event.get('from')} but was held by {current}")
                holders[item] = (event["to"], version)
            hashes[seq] = stored
            prev_hash, expected = stored, seq + 1
    events = expected - 1
    if header.get("events") != events or header.get("head_hash") != prev_hash:
        fail(
            f"the header says {header.get('events')} events ending {header.get('head_hash')}, "
            f"the file holds {events} ending {prev_hash}"
        )
    return events, hashes


def check_lot_event(event: dict, versions: dict[int, int], balances: dict[tuple[int, str], int]) -> None:
    """A lot event moves `quantity` of `lot` from `from` (none: a delivery or recovery) to `to` (none: expended or
    lost); the giver must hold at least that much."""
    seq, lot, version, quantity = event["seq"], event["lot"], event["item_version"], event.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        fail(f"event {seq}: lot {lot} moves a quantity of {quantity!r}")
    if version != versions.get(lot, 0) + 1:
        fail(f"event {seq}: lot {lot} version {version} follows version {versions.get(lot, 0)}")
    giver, taker = event.get("from"), event.get("to")
    if giver is not None:
        held = balances.get((lot, giver), 0)
        if quantity > held:
            fail(f"event {seq}: lot {lot}: {giver} gave {quantity} but held {held}")
        balances[(lot, giver)] = held - quantity
    if taker is not None:
        balances[(lot, taker)] = balances.get((lot, taker), 0) + quantity
    versions[lot] = version


def verify_checkpoint(path: Path, hashes: dict[int, str], trusted: str | None) -> str:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        unusable("checking a checkpoint needs the `cryptography` package (pip install cryptography)")
    try:
        document = json.loads(path.read_text())
        size, head, created = document["size"], document["head_hash"], document["created_at"]
        public_hex, signature = document["public_key"], document["signature"]
    except (OSError, ValueError, KeyError, TypeError):
        unusable(f"{path} is not a Muster ledger checkpoint")
    if document.get("format") != "muster-ledger-checkpoint" or document.get("v") != 1:
        unusable(f"{path} is not a Muster ledger checkpoint (version 1)")
    if trusted is not None and trusted != str(public_hex).lower():
        fail("the checkpoint was signed by a different key than the trusted one")
    message = canonical(
        {"format": "muster-ledger-checkpoint", "v": 1, "size": size, "head_hash": head, "created_at": created}
    )
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        fail("the checkpoint's signature is not valid")
    if size > 0 and size not in hashes:
        fail(f"the checkpoint signs {size} events but the export holds {len(hashes)}: history was truncated")
    if size > 0 and hashes[size] != head:
        fail(f"event {size} does not carry the signed head hash: history up to it was rewritten")
    pinned = "the trusted key" if trusted is not None else "the key written in it (NOT PINNED: proves nothing of who)"
    return f"checkpoint at {size} of {created} holds, signed by {pinned}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--public-key", help="trusted Ed25519 public key: 64 hex digits, or a file holding them")
    parser.add_argument(
        "--trust-embedded-key", action="store_true", help="check a checkpoint with the key written in it (unsafe)"
    )
    options = parser.parse_args()
    if not options.export.is_file():
        unusable(f"no such file: {options.export}")
    trusted = options.public_key
    if trusted and Path(trusted).is_file():
        trusted = Path(trusted).read_text().strip()
    if trusted is not None:
        trusted = trusted.strip().lower()
        if len(trusted) != 64 or any(digit not in "0123456789abcdef" for digit in trusted):
            unusable("--public-key must be 64 hexadecimal digits (or a file holding them)")
    elif options.checkpoint and not options.trust_embedded_key:
        unusable("a checkpoint is checked against the public key you hold: give --public-key (or --trust-embedded-key)")
    events, hashes = verify_chain(options.export)
    summary = f"ok: {events} events, head {hashes.get(events, GENESIS)}"
    if options.checkpoint:
        summary += "; " + verify_checkpoint(options.checkpoint, hashes, trusted)
    print(summary)


if __name__ == "__main__":
    main()
