"""An account's credentials: its password, its API token and its signed-in sessions. Services, like members.services:
keyword-only arguments, an acting account, one transaction with the change log and the audit record inside it.

A password set or changed, by the account itself (the page /account/password/) or by a superuser (the admin,
`muster user password`), ends every other session of the account and deletes its API token: whoever held the old
password (or a token issued with it) holds nothing. A commander's reset of the authenticator deletes the token too
(core.otp.reset_device calls `revoke_token`).
"""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from muster.core import audit, changelog, sessions
from muster.core.db import retry_transient
from muster.core.errors import Invalid, NotPermitted
from muster.core.models import AccountSession, AuditEvent
from muster.members import scope
from muster.members.models import Account, RoleAssignment, Unit


def _home_unit(account: Account) -> Unit | None:
    """The unit an account's changes are logged under: its member's, else that of its first role."""
    if account.member_id:
        return account.member.unit
    first = RoleAssignment.objects.filter(account=account).select_related("unit").order_by("pk").first()
    return first.unit if first else None


def _require_active(actor: Account) -> None:
    if not actor.is_active:
        raise NotPermitted(f"Account {actor.username} is disabled.", code="account_disabled")


def _require_self_or_superuser(actor: Account, account: Account, action: str, code: str) -> None:
    _require_active(actor)
    if actor.pk != account.pk and not scope.is_global(actor):
        raise NotPermitted(f"Only {account.username} or a superuser may {action}.", code=code)


def check_password(password: str, account: Account) -> None:
    """The site's password rules (AUTH_PASSWORD_VALIDATORS); Invalid password_rejected with every reason."""
    try:
        password_validation.validate_password(password, user=account)
    except ValidationError as exc:
        raise Invalid("The password was refused: " + " ".join(exc.messages), code="password_rejected") from None


@transaction.atomic
def revoke_token(*, account: Account, actor: Account) -> bool:
    """Delete the account's API token, if it has one (logged on the account, as members.services.issue_token logs a
    new one). Returns whether there was one."""
    if not Token.objects.filter(user=account).delete()[0]:
        return False
    changelog.record(
        actor=actor,
        obj=account,
        action=changelog.UPDATE,
        before={},
        unit=_home_unit(account),
        extra={"api_token": [changelog.SECRET_SET, None]},
    )
    return True


@retry_transient
@transaction.atomic
def set_password(*, account: Account, password: str, actor: Account, keep_session: str | None = None) -> int:
    """Give the account a new password (the account itself, or a superuser). The password must pass the site's
    rules. Every session of the account but `keep_session` (the one changing it) ends, and its API token is deleted.
    Returns how many other sessions ended. The caller has checked the current password where it is the account's
    own change (core.auth.reauthenticate)."""
    _require_self_or_superuser(actor, account, "set this password", "not_password_owner")
    check_password(password, account)
    account = Account.objects.select_for_update().get(pk=account.pk)
    before = changelog.snapshot(account, ["password"])
    account.set_password(password)
    account.save(update_fields=["password"])
    changelog.record(actor=actor, obj=account, action=changelog.UPDATE, before=before, unit=_home_unit(account))
    return after_password_set(account=account, actor=actor, keep_session=keep_session)


def after_password_set(*, account: Account, actor: Account, keep_session: str | None = None) -> int:
    """What every password change brings, inside the caller's transaction: the other sessions end, the API token
    goes, and the audit trail says so. (The admin's password page saves the password itself and calls this.)"""
    token = revoke_token(account=account, actor=actor)
    ended = sessions.end_for(account, keep=keep_session)
    whose = "own password" if actor.pk == account.pk else f"password of {account.username}"
    other = "other " if keep_session else ""
    detail = f"{whose} changed; {ended} {other}session(s) ended" + ("; API token deleted" if token else "")
    audit.record(AuditEvent.Kind.PASSWORD_CHANGED, account=actor, detail=detail)
    return ended


@retry_transient
@transaction.atomic
def end_sessions(
    *, actor: Account, account: Account | None = None, keep_session: str | None = None, tokens: bool = False
) -> tuple[int, int]:
    """End the signed-in sessions of one account (the account itself, or a superuser) or, with account=None, of
    every account (superusers only), but `keep_session`. With `tokens`, delete the API tokens too. Returns (sessions
    ended, tokens deleted)."""
    _require_active(actor)
    if account is None:
        if not scope.is_global(actor):
            raise NotPermitted("Only a superuser may end every account's sessions.", code="superuser_required")
        records = AccountSession.objects.all()
        if keep_session:
            records = records.exclude(session_key=keep_session)
        ended = sessions.end(records)
        deleted = 0
        if tokens:
            for owner in Account.objects.filter(auth_token__isnull=False):
                deleted += revoke_token(account=owner, actor=actor)
        detail = f"every account's sessions ended ({ended})" + (f"; {deleted} API token(s) deleted" if tokens else "")
    else:
        _require_self_or_superuser(actor, account, "end these sessions", "not_session_owner")
        ended = sessions.end_for(account, keep=keep_session)
        deleted = int(revoke_token(account=account, actor=actor)) if tokens else 0
        whose = "own" if actor.pk == account.pk else f"{account.username}'s"
        detail = f"{ended} of {whose} session(s) ended" + (f"; {deleted} API token deleted" if deleted else "")
    audit.record(AuditEvent.Kind.SESSIONS_ENDED, account=actor, detail=detail)
    return ended, deleted


@retry_transient
@transaction.atomic
def end_session(*, actor: Account, record: AccountSession) -> int:
    """End one session of the actor's own (from the sessions page). Another account's record is not found."""
    _require_active(actor)
    if record.account_id != actor.pk:
        raise NotPermitted("That session is not yours.", code="not_session_owner")
    ended = sessions.end(AccountSession.objects.filter(pk=record.pk))
    audit.record(
        AuditEvent.Kind.SESSIONS_ENDED,
        account=actor,
        detail=f"own session ended (started {record.started_at:%Y-%m-%d %H:%M} UTC from {record.ip or 'unknown'})",
    )
    return ended
