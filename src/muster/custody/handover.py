"""Two-person handover: the member at the counter confirms with a personal PIN.

PINs are stored as keyed hashes (see _pin_hash).

`confirm` checks the PIN in its own transaction (so a wrong PIN is logged even though the handover then fails)
and returns a `Confirmation`: a short-lived, HMAC-signed statement "member M confirmed at T". The custody services
accept only a genuine, fresh confirmation for the right member, so no face can skip the check by accident.
Five wrong PINs in a row lock the PIN for 15 minutes; every attempt is logged (HandoverAttempt).
"""

import hashlib
import hmac
import itertools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted, Refused
from muster.custody.models import HandoverAttempt, HandoverPin
from muster.members import scope
from muster.members.models import Account, Member, Role

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
VALID_FOR = timedelta(minutes=5)
_PIN = re.compile(r"\d{4,8}")
PIN_MANAGERS = frozenset({Role.ARMORER, Role.COMMANDER})


@dataclass(frozen=True)
class Confirmation:
    member_id: int
    method: str
    confirmed_at: datetime
    signature: str

    @staticmethod
    def sign(member_id: int, method: str, confirmed_at: datetime) -> str:
        return salted_hmac("muster.handover", f"{member_id}|{method}|{confirmed_at.isoformat()}").hexdigest()


def _pin_hash(member_id: int, pin: str) -> str:
    """HMAC-SHA256 keyed by a server secret, not a slow password hash: a 4–8 digit PIN falls to brute force
    whatever the hash costs, so the protection is the key (a stolen database alone reveals nothing) and the
    online lockout. Changing SECRET_KEY invalidates every PIN (docs/control-rules.md)."""
    pepper = hashlib.sha256(b"muster-handover-pin|" + settings.SECRET_KEY.encode()).digest()
    return "hmac-sha256$" + hmac.new(pepper, f"{member_id}:{pin}".encode(), hashlib.sha256).hexdigest()


def _weak(pin: str) -> bool:
    digits = [int(d) for d in pin]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    return len(set(digits)) == 1 or steps in ({1}, {-1})


# What a face passes as `proof` when it does not ask a member setting their own PIN to prove it is them: the CLI (the
# server's shell is the credential). The web page and the API ask (docs/security.md, G12).
NOT_ASKED = object()
OWNER_PROOF_PURPOSE = "handover PIN"


@retry_transient
@transaction.atomic
def set_pin(*, member: Member, pin: str, actor: Account, proof=NOT_ASKED) -> HandoverPin:
    """Set or reset a member's PIN: by the member's own account, or in person by an armorer or commander.

    A member setting their own PIN proves it is them (a stolen session alone must not change it): `proof` is either
    the account's password typed again (core.auth.reauthenticate(..., purpose=OWNER_PROOF_PURPOSE)) or the current
    PIN (a Confirmation from `confirm(..., purpose="pin change")`, counted and locked like every PIN entry). Staff
    setting another member's PIN with the member present need neither. NOT_ASKED: see above."""
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")
    own = actor.member_id == member.pk
    if not own and not scope.has_role(actor, member.unit, PIN_MANAGERS):
        raise NotPermitted(
            "Only the member, or an armorer or commander of their unit, may set this PIN.", code="not_pin_manager"
        )
    if own and proof is not NOT_ASKED:
        _check_owner_proof(proof, member=member, actor=actor)
    if not _PIN.fullmatch(pin or ""):
        raise Invalid("A PIN is 4 to 8 digits.", code="pin_format")
    if _weak(pin):
        raise Invalid("Choose a PIN that is not one digit repeated or a run like 1234.", code="pin_weak")
    record, _ = HandoverPin.objects.update_or_create(
        member=member,
        defaults={
            "pin_hash": _pin_hash(member.pk, pin),
            "set_at": timezone.now(),
            "set_by": actor,
            "failures": 0,
            "locked_until": None,
        },
    )
    return record


def _check_owner_proof(proof, *, member: Member, actor: Account) -> None:
    from muster.core.auth import Reauthentication

    if isinstance(proof, Reauthentication) and proof.check(actor, OWNER_PROOF_PURPOSE):
        return
    if isinstance(proof, Confirmation):
        check(proof, member, "member")  # genuine, fresh and this member's: raises otherwise
        return
    raise Invalid("To set your own PIN, type your password (or your current PIN) as well.", code="owner_proof_required")


def confirm(*, member: Member, pin: str, actor: Account, purpose: str) -> Confirmation:
    """Check the member's PIN; return a confirmation or raise Refused (pin_not_set, pin_locked, pin_wrong).

    The attempt and the failure count are committed before a refusal is raised, so a wrong PIN always counts.
    """
    now = timezone.now()
    outcome = _attempt(member=member, pin=pin, actor=actor, purpose=purpose, now=now)
    if outcome is not None:
        raise outcome
    return Confirmation(member.pk, "pin", now, Confirmation.sign(member.pk, "pin", now))


@retry_transient
@transaction.atomic
def _attempt(*, member: Member, pin: str, actor: Account, purpose: str, now: datetime) -> Refused | None:
    record = HandoverPin.objects.select_for_update().filter(member=member).first()
    if record is None:
        return Refused(
            f"{member} has no handover PIN yet; an armorer sets one with them in person.", code="pin_not_set"
        )
    if record.locked_until and record.locked_until > now:
        return Refused(
            f"{member}'s PIN is locked after {MAX_FAILURES} wrong entries until "
            f"{timezone.localtime(record.locked_until):%H:%M}.",
            code="pin_locked",
        )
    good = hmac.compare_digest(_pin_hash(member.pk, pin or ""), record.pin_hash)
    HandoverAttempt.objects.create(member=member, at=now, succeeded=good, purpose=purpose[:32], actor=actor)
    if good:
        if record.failures:
            record.failures = 0
            record.save(update_fields=["failures"])
        return None
    record.failures += 1
    left = MAX_FAILURES - record.failures
    if left <= 0:
        record.failures, record.locked_until = 0, now + LOCKOUT
    record.save(update_fields=["failures", "locked_until"])
    return _WrongPin(member, left)


class _WrongPin(Refused):
    def __init__(self, member: Member, left: int):
        detail = (
            f"Wrong PIN for {member}; {left} more tr{'y' if left == 1 else 'ies'} before it locks."
            if left > 0
            else f"Wrong PIN for {member}; the PIN is now locked for 15 minutes."
        )
        super().__init__(detail, code="pin_wrong")


def check(confirmation: Confirmation | None, member: Member, role: str) -> dict:
    """Validate a confirmation inside a custody service; return what the ledger records about it."""
    if confirmation is None:
        raise Refused(
            f"The {role} ({member}) must confirm the handover with their PIN.", code=f"{role}_confirmation_required"
        )
    expected = Confirmation.sign(confirmation.member_id, confirmation.method, confirmation.confirmed_at)
    if not hmac.compare_digest(expected, confirmation.signature):
        raise Refused("The handover confirmation is not genuine.", code="confirmation_invalid")
    if confirmation.member_id != member.pk:
        raise Refused(
            f"The confirmation was given by another member, not the {role} {member}.", code="confirmation_wrong_member"
        )
    if timezone.now() - confirmation.confirmed_at > VALID_FOR:
        raise Refused("The PIN confirmation is more than 5 minutes old; confirm again.", code="confirmation_expired")
    return {"member": member.pk, "method": confirmation.method}
