"""Password checks outside the sign-in form: the audit of a successful one, and re-authentication.

`AuditedModelBackend` is Django's ModelBackend (AUTHENTICATION_BACKENDS, after axes) that also records a password
accepted where no session starts. Sign-ins (the login page, the admin's) are recorded as `login` by core.audit when
the session starts; the API token endpoint's success is recorded as `token_issued` when the token is handed out
(members.services.issue_token), so both are left alone here. A commander's countersign at the counter (custody.views
and custody.api, issue with an override) goes through `countersign`, which asks for the commander's TOTP code too
where that account signs in with one, and records `countersigned` once both are right, naming the commander and,
in the detail, the account at the counter. A re-authentication (the password typed again before changing a
credential, `reauthenticate`) is recorded by the change it allows, not here. Any other authenticate() call with a
request is recorded as a countersign too, so none goes unseen.

Failed checks are recorded by core.audit (`login_failed`, from Django's signal) and counted by django-axes, which
locks the username at that address after MUSTER_LOGIN_FAILURE_LIMIT failures, whichever of these pages they hit.
"""

import contextlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import authenticate
from django.contrib.auth.backends import ModelBackend
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from muster.core.models import AuditEvent

_PURPOSE = "_muster_reauthentication"  # set on the request by `reauthenticate`


def _session_paths() -> set[str]:
    paths = set()
    for name in ("login", "admin:login"):
        with contextlib.suppress(NoReverseMatch):  # a URLconf without the admin (tests)
            paths.add(reverse(name))
    return paths


def _token_path() -> str | None:
    try:
        return reverse("api:token")
    except NoReverseMatch:
        return None


class AuditedModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        account = super().authenticate(request, username=username, password=password, **kwargs)
        if account is not None and request is not None:
            self._record_success(request, account)
        return account

    @staticmethod
    def _record_success(request, account) -> None:
        if getattr(request, _PURPOSE, None) or request.path in _session_paths() or request.path == _token_path():
            return
        _record_countersign(request, account)


def _record_countersign(request, account) -> None:
    from muster.core import audit

    at_counter = getattr(request, "user", None)
    by = at_counter.get_username() if at_counter is not None and at_counter.is_authenticated else "-"
    audit.record(
        AuditEvent.Kind.COUNTERSIGNED, request=request, account=account, detail=f"countersign at the account {by}"
    )


def countersign(request, *, username: str, password: str, code: str = ""):
    """The commander who countersigns at the counter with their own credentials, or None when the username or
    password is wrong or the account is disabled (a failed login for axes and the audit trail, as anywhere).

    The countersign is as strong as the commander's sign-in: an account that signs in with a TOTP code must give its
    current code as well (core.otp.must_verify). Missing: Invalid `countersign_otp_required`; wrong, reused,
    throttled or never set up: core.otp.verify_code's refusal (otp_invalid, otp_throttled, otp_not_enrolled).
    `countersigned` is recorded only when every factor is right."""
    from muster.core import otp
    from muster.core.errors import Invalid

    setattr(request, _PURPOSE, "countersign")  # the password alone is not yet a countersign: recorded below
    try:
        commander = authenticate(request, username=username, password=password)
    finally:
        delattr(request, _PURPOSE)
    if commander is None:
        return None
    if otp.must_verify(commander):
        if not code.strip():
            raise Invalid(
                f"{commander.get_username()} signs in with a TOTP code: the countersign needs it too.",
                code="countersign_otp_required",
            )
        otp.verify_code(account=commander, code=code, request=request, purpose="countersign")
    _record_countersign(request, commander)
    return commander


@dataclass(frozen=True)
class Reauthentication:
    """A signed statement "account A typed its password again at T, to do P", from `reauthenticate`. Services that
    change a credential of the account accept only a genuine, fresh one for that account and purpose (`check`), so
    no face skips the password by accident."""

    account_id: int
    purpose: str
    at: datetime
    signature: str

    @staticmethod
    def sign(account_id: int, purpose: str, at: datetime) -> str:
        return salted_hmac("muster.reauthentication", f"{account_id}|{purpose}|{at.isoformat()}").hexdigest()

    def check(self, account, purpose: str) -> bool:
        expected = self.sign(self.account_id, self.purpose, self.at)
        return (
            hmac.compare_digest(expected, self.signature)
            and self.account_id == account.pk
            and self.purpose == purpose
            and timezone.now() - self.at <= VALID_FOR
        )


VALID_FOR = timedelta(minutes=5)


def reauthenticate(request, password: str, *, purpose: str) -> Reauthentication | None:
    """The signed-in account typed its own password again (before changing its password or handover PIN, or ending
    its sessions). Checked through authenticate(), so a wrong one is throttled by axes and recorded as a failed
    login like any other. Returns the signed statement, or None for a wrong (or missing) password."""
    account = request.user
    if not account.is_authenticated or not password:
        return None
    setattr(request, _PURPOSE, purpose)
    try:
        checked = authenticate(request, username=account.get_username(), password=password)
    finally:
        delattr(request, _PURPOSE)
    if checked is None or checked.pk != account.pk:
        return None
    now = timezone.now()
    return Reauthentication(account.pk, purpose, now, Reauthentication.sign(account.pk, purpose, now))
