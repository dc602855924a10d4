"""Security audit trail: every login, logout, failed login, authorization refusal, rule refusal, personal-data export,
password change, ended session and handed-out API token is written to core.AuditEvent and to the `muster.audit`
log; a caller over a request rate once a minute per rate (`record_throttled`).

The table is append-only (database triggers, core.audit_triggers). A record made while a request is being answered
names that request's client address and path even when the caller passes no request (a service deep inside the
request: core.middleware.AuditMiddleware keeps the current request for it).
"""

import contextvars
import ipaddress
import logging
import math

from django.conf import settings
from django.contrib.auth import signals
from django.core.cache import cache
from django.dispatch import receiver
from ipware.ip import get_client_ip

from muster.core.models import AuditEvent

log = logging.getLogger("muster.audit")

# Control characters (a newline above all) in a user-supplied username or detail would forge log lines.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}

_current_request: contextvars.ContextVar = contextvars.ContextVar("muster_audit_request", default=None)


def _one_line(text: str) -> str:
    return text.translate(_CONTROL)


def client_ip(request) -> str | None:
    """The client's address, with django-ipware and the AXES_IPWARE_* settings that MUSTER_PROXY_COUNT sets; django-
    axes calls this very function (AXES_CLIENT_IP_CALLABLE), so the lockouts, the audit trail and the API throttles
    name the same address. Without a proxy: REMOTE_ADDR. Behind N proxies: the first address of an X-Forwarded-For
    header holding N entries. A header with more or fewer (a client adding its own) is not trusted: then the
    nearest hop's address (REMOTE_ADDR), which a client cannot forge, is used."""
    if request is None:
        return None
    address, _ = get_client_ip(
        request,
        proxy_order=settings.AXES_IPWARE_PROXY_ORDER,
        proxy_count=settings.AXES_IPWARE_PROXY_COUNT,
        proxy_trusted_ips=settings.AXES_IPWARE_PROXY_TRUSTED_IPS,
        request_header_order=settings.AXES_IPWARE_META_PRECEDENCE_ORDER,
    )
    if address is None:
        address = request.META.get("REMOTE_ADDR") or None
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def current_request():
    """The request being answered in this thread (None in the worker, the CLI and outside a request)."""
    return _current_request.get()


def bind_request(request) -> contextvars.Token:
    return _current_request.set(request)


def release_request(token: contextvars.Token) -> None:
    _current_request.reset(token)


def _storable(text: str) -> str:
    return text.replace("\x00", "\\x00")


def record(kind: str, *, request=None, account=None, username: str = "", detail: str = "") -> AuditEvent:
    request = request if request is not None else current_request()
    account = account if account is not None and getattr(account, "is_authenticated", False) else None
    username = username or (account.get_username() if account else "")
    # PostgreSQL stores no NUL character in text: one typed into a username or a path is written out as \x00.
    username, detail = _storable(username), _storable(detail)
    event = AuditEvent.objects.create(
        kind=kind,
        account=account,
        username=username[:150],
        ip=client_ip(request),
        path=(_storable(request.path)[:300] if request is not None else ""),
        detail=detail[:500],
    )
    log.info(
        "%s user=%s ip=%s path=%s %s",
        kind,
        _one_line(username) or "-",
        event.ip or "-",
        _one_line(event.path) or "-",
        _one_line(detail),
        extra={
            "audit": {
                "kind": kind,
                "user": username,
                "ip": event.ip,
                "path": event.path,
                "detail": detail,
                "event": event.pk,
            }
        },
    )
    return event


# The attribute of a request listing the rates that refused it, [(scope, rate, count key), ...]: core.throttling's
# throttles add to it.
THROTTLE_DENIALS = "_muster_throttle_denials"
# A caller over a rate is recorded once a minute per rate, however many 429s it is answered meanwhile.
THROTTLED_EVERY_SECONDS = 60


def record_throttled(request, *, wait: float | None = None) -> AuditEvent | None:
    """Record a request answered 429 as a `throttled` AuditEvent naming the rates it went over (ASVS 16.3.3) — unless
    each of its counts (one per account, or per address for a caller not signed in, and rate) was recorded within
    THROTTLED_EVERY_SECONDS: a caller hammering a rate writes one row a minute, not one per request. The marks live
    in the cache, like the counts (per server process, or in Redis)."""
    denials = getattr(request, THROTTLE_DENIALS, None) or []
    if not denials:  # a throttle not of core.throttling: counted per account or address all the same
        user = getattr(request, "user", None)
        ident = f"account-{user.pk}" if user and user.is_authenticated else f"address-{client_ip(request)}"
        denials = [("request", "", f"throttle_request_{ident}")]
    fresh = [cache.add(f"muster-audit-{key}", True, THROTTLED_EVERY_SECONDS) for _, _, key in denials]
    if not any(fresh):
        return None
    rates = ", ".join(f"{scope} rate {rate}".strip() for scope, rate, _ in denials)
    retry = f", retry after {math.ceil(wait)} s" if wait is not None else ""
    detail = f"throttled: over the {rates}{retry} (one record a minute)"
    return record(AuditEvent.Kind.THROTTLED, request=request, account=getattr(request, "user", None), detail=detail)


@receiver(signals.user_logged_in, dispatch_uid="muster-audit-login")
def _logged_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        from muster.core import sessions

        sessions.started(request, user)
    record(AuditEvent.Kind.LOGIN, request=request, account=user)


@receiver(signals.user_logged_out, dispatch_uid="muster-audit-logout")
def _logged_out(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        from muster.core import sessions

        sessions.forget(request)
    record(AuditEvent.Kind.LOGOUT, request=request, account=user)


@receiver(signals.user_login_failed, dispatch_uid="muster-audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    record(AuditEvent.Kind.LOGIN_FAILED, request=request, username=str(credentials.get("username", "")))
