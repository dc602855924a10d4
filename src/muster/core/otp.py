"""Two-factor sign-in with TOTP (django-otp): who must use it, enrolment, code checks and the commander's reset.

After the password, an account that must verify (see `must_verify`) reaches nothing but the pages that complete the
second step (core.middleware.TwoFactorMiddleware). Each code works once (django-otp keeps the last time step used),
wrong codes slow the next try exponentially (OTP_TOTP_THROTTLE_FACTOR), and every success, failure, enrolment and
reset is written as an AuditEvent.

Code checks commit on their own: a wrong code must count against the device (and be audited) even though the caller
then refuses the request, so the failure is raised only after the transaction has ended.
"""

import re
from base64 import b32encode
from math import ceil

import segno
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from muster.core import audit
from muster.core.errors import DomainError, Invalid, NotFound, NotPermitted, Refused
from muster.members import scope
from muster.members.models import Account, Role, RoleAssignment

# Roles that carry or oversee weapons and records, or record handovers: their accounts must have a second factor.
# Members sign in with a password alone (docs/security.md, *Two-factor sign-in*).
TOTP_ROLES = frozenset({Role.COMMANDER, Role.ARMORER, Role.DUTY_OFFICER, Role.AUDITOR})
DEVICE_NAME = "Authenticator app"
# A code counts in its own 30-second step only (ASVS 6.5.5): no step of tolerance either way.
TOLERANCE = 0


class Kind:
    """AuditEvent kinds written here (each fits AuditEvent.kind's 16 characters)."""

    ENROLLED = "otp_enrolled"
    VERIFIED = "otp_verified"
    FAILED = "otp_failed"
    RESET = "otp_reset"


# --- who must give a code ------------------------------------------------------------------------------------------


def required_by_role(account: Account) -> bool:
    """The site requires a second factor of this account (superusers and the TOTP_ROLES on any unit)."""
    if not settings.MUSTER_REQUIRE_TOTP:
        return False
    return bool(scope.is_global(account) or scope.unit_paths(account, TOTP_ROLES))


def confirmed_device(account: Account) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=account, confirmed=True).order_by("pk").first()


def must_verify(account: Account) -> bool:
    """A session of this account must pass the second factor: the role requires it, or the account has enrolled
    (someone who set up an authenticator voluntarily is asked for it too)."""
    return required_by_role(account) or TOTPDevice.objects.filter(user=account, confirmed=True).exists()


# --- enrolment -----------------------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def start_enrolment(*, account: Account) -> TOTPDevice:
    """The account's device awaiting confirmation, created with a fresh secret if it has none. Refused once the
    account has a confirmed device: a new one replaces it only after a commander's reset, so nobody holding just
    the password can swap the second factor for their own."""
    if not account.is_active:
        raise NotPermitted(f"Account {account.username} is disabled.", code="account_disabled")
    if TOTPDevice.objects.filter(user=account, confirmed=True).exists():
        raise Refused("Two-factor sign-in is already set up for this account.", code="otp_already_enrolled")
    device = TOTPDevice.objects.filter(user=account, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=account, name=DEVICE_NAME, confirmed=False, tolerance=TOLERANCE)


def secret_text(device: TOTPDevice) -> str:
    """The secret as an authenticator app takes it when typed: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def qr_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// URL as an SVG QR code in a data: URI (the CSP allows data: images; no second request)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def confirm_enrolment(*, account: Account, code: str, request=None) -> TOTPDevice:
    """Confirm the pending device with a code from the app; the account must give codes from then on."""
    device, failure = _check(account=account, code=code, request=request, confirmed=False, purpose="enrolment")
    if failure:
        raise failure
    return device


# --- sign-in -------------------------------------------------------------------------------------------------------


def verify_code(*, account: Account, code: str, request=None, purpose: str = "sign-in") -> TOTPDevice:
    """Check a code against the account's confirmed device. Raises Invalid otp_invalid (wrong or used code),
    Refused otp_throttled (too soon after wrong codes) or Refused otp_not_enrolled."""
    device, failure = _check(account=account, code=code, request=request, confirmed=True, purpose=purpose)
    if failure:
        raise failure
    return device


def _check(*, account, code, request, confirmed, purpose) -> tuple[TOTPDevice | None, DomainError | None]:
    with transaction.atomic(durable=True):
        # Locked, so two racing attempts cannot both use one code or both skip the throttle.
        device = TOTPDevice.objects.select_for_update().filter(user=account, confirmed=confirmed).order_by("pk").first()
        if device is None:
            if confirmed:
                return None, Refused("This account has not set up two-factor sign-in.", code="otp_not_enrolled")
            return None, Refused("Open the set-up page again to get a new secret.", code="otp_enrolment_missing")
        allowed, info = device.verify_is_allowed()
        if not allowed:
            wait = max(1, ceil((info["locked_until"] - timezone.now()).total_seconds()))
            _audit(Kind.FAILED, request, account, f"{purpose}: refused, {info['failure_count']} wrong codes in a row")
            throttled = Refused(f"Too many wrong codes: wait {wait} seconds and try again.", code="otp_throttled")
            throttled.recorded = True  # the `otp_failed` record above: the faces do not add a `rule_refused` one
            return device, throttled
        if not _verified(device, code):
            _audit(Kind.FAILED, request, account, f"{purpose}: wrong code ({device.throttling_failure_count} in a row)")
            return device, Invalid("That code is wrong or was already used.", code="otp_invalid")
        if not confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=account, confirmed=False).delete()
            _audit(Kind.ENROLLED, request, account, "authenticator app set up")
        _audit(Kind.VERIFIED, request, account, purpose)
        return device, None


def _verified(device: TOTPDevice, code: str) -> bool:
    """Only the app's exact digits count ("123 456" is fine); anything else is a wrong code and slows the next try."""
    digits = re.sub(r"\s", "", code or "")
    if not re.fullmatch(rf"\d{{{device.digits}}}", digits):
        device.throttle_increment(commit=True)
        return False
    device.tolerance = TOLERANCE  # whatever the device was created with (the admin's form offers 1)
    return device.verify_token(digits)  # counts a failure, or records the time step so the code cannot be reused


def _audit(kind: str, request, account: Account, detail: str) -> None:
    audit.record(kind, request=request, account=account, detail=detail)


# --- recovery: a commander resets another account's device -------------------------------------------------------


def _account_unit_paths(account: Account) -> set[str]:
    """The units an account serves: where it holds roles, and its member's unit."""
    paths = set(RoleAssignment.objects.filter(account=account).values_list("unit__path", flat=True))
    if account.member_id:
        paths.add(account.member.unit.path)
    return paths


def resettable_accounts(actor: Account) -> QuerySet[Account]:
    """Accounts serving in a unit the actor commands (every account for a superuser)."""
    query = scope.units_q(actor, {Role.COMMANDER}, field="roles__unit__path") | scope.units_q(
        actor, {Role.COMMANDER}, field="member__unit__path"
    )
    return Account.objects.filter(query).distinct()


def find_account_to_reset(actor: Account, username: str) -> Account:
    """403 unless the actor commands some unit (or is a superuser); then 404 unless the account is in their units."""
    if not (scope.is_global(actor) or scope.unit_paths(actor, {Role.COMMANDER})):
        raise NotPermitted("Only a commander may reset another account's two-factor sign-in.", code="not_commander")
    account = resettable_accounts(actor).filter(username=username.strip()).select_related("member__unit").first()
    if account is None:
        raise NotFound(f"No account named {username!r} in your units.", code="account_not_found")
    return account


def may_reset(actor: Account, account: Account) -> bool:
    """A superuser may; a commander may when they command every unit the account serves (a reset weakens the
    account wherever it holds a role). Only a superuser resets a superuser."""
    if scope.is_global(actor):
        return True
    if account.is_superuser:
        return False
    commanded = scope.unit_paths(actor, {Role.COMMANDER})
    served = _account_unit_paths(account)
    return bool(served) and all(any(path.startswith(top) for top in commanded) for path in served)


@transaction.atomic(durable=True)
def reset_device(*, account: Account, actor: Account, request=None) -> int:
    """Remove the account's authenticator (confirmed or pending): it must set one up again at its next sign-in. Its
    API token goes too (it was issued with the lost factor). Returns how many devices were removed. Nobody but a
    superuser resets their own."""
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")
    if actor.pk == account.pk and not scope.is_global(actor):
        raise NotPermitted("Another commander must reset your two-factor sign-in.", code="reset_own_totp")
    if not may_reset(actor, account):
        raise NotPermitted(
            f"{actor.username} does not command every unit {account.username} serves.", code="not_commander"
        )
    devices = TOTPDevice.objects.filter(user=account)
    if not devices.exists():
        raise Refused(f"{account.username} has no two-factor device to reset.", code="no_totp_device")
    removed, _ = devices.delete()
    from muster.members.credentials import revoke_token

    token = revoke_token(account=account, actor=actor)
    detail = f"two-factor device of {account.username} removed" + ("; API token deleted" if token else "")
    audit.record(Kind.RESET, request=request, account=actor, detail=detail)
    return removed


def device_summary(account: Account) -> dict:
    """What a page shows about an account's second factor."""
    device = confirmed_device(account)
    return {
        "enrolled": device is not None,
        "since": device.created_at if device else None,
        "last_used": device.last_used_at if device else None,
        "required": required_by_role(account),
    }
