"""Security audit trail: every login, logout, failed login, authorization refusal and personal-data export is
written to core.AuditEvent and to the `muster.audit` log."""

import logging

from django.contrib.auth import signals
from django.dispatch import receiver

from muster.core.models import AuditEvent

log = logging.getLogger("muster.audit")

# Control characters (a newline above all) in a user-supplied username or detail would forge log lines.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}


def _one_line(text: str) -> str:
    return text.translate(_CONTROL)


def client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record(kind: str, *, request=None, account=None, username: str = "", detail: str = "") -> AuditEvent:
    account = account if account is not None and getattr(account, "is_authenticated", False) else None
    username = username or (account.get_username() if account else "")
    event = AuditEvent.objects.create(
        kind=kind,
        account=account,
        username=username[:150],
        ip=client_ip(request),
        path=(request.path[:300] if request is not None else ""),
        detail=detail[:500],
    )
    log.info(
        "%s user=%s ip=%s path=%s %s",
        kind,
        _one_line(username) or "-",
        event.ip or "-",
        _one_line(event.path) or "-",
        _one_line(detail),
    )
    return event


@receiver(signals.user_logged_in, dispatch_uid="muster-audit-login")
def _logged_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        from django.utils import timezone

        request.session["muster_login_at"] = timezone.now().timestamp()
    record(AuditEvent.Kind.LOGIN, request=request, account=user)


@receiver(signals.user_logged_out, dispatch_uid="muster-audit-logout")
def _logged_out(sender, request, user, **kwargs):
    record(AuditEvent.Kind.LOGOUT, request=request, account=user)


@receiver(signals.user_login_failed, dispatch_uid="muster-audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    record(AuditEvent.Kind.LOGIN_FAILED, request=request, username=str(credentials.get("username", "")))
