"""Session rules: the absolute lifetime (however active, a session ends MUSTER_SESSION_MAX_HOURS after its login),
the two-factor gate (a session that has not passed the second factor reaches only the pages that complete it), the
record of each account's sessions (core.sessions), and the audit of refused web requests (403, 404 and 409)."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, reverse
from django.utils import timezone

from muster.core import audit, otp, sessions
from muster.core.errors import refusals_shown
from muster.core.models import AuditEvent

_RECORDED = "_muster_refusal_recorded"


def _is_api(request) -> bool:
    """DRF's views answer their own refusals (core.api.exception_handler records them)."""
    match = getattr(request, "resolver_match", None)
    return request.path.startswith("/api/") or bool(match and match.view_name.startswith("api"))


class AuditMiddleware:
    """Keeps the request at hand for core.audit (a service records the client's address without being given the
    request), and records a `refused` AuditEvent when a view raises PermissionDenied (403) or Http404 (an object
    that does not exist or lies outside the caller's units), or shows a service's NotPermitted on its page (403);
    and a `rule_refused` one when a page shows a rule's refusal (a Refused, 409) in its form. A path that matches no
    route never reaches a view and is not recorded; API views answer their own refusals (core.api.exception_handler
    records them)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token, shown = audit.bind_request(request), refusals_shown.set({})
        try:
            response = self.get_response(request)
            if response.status_code in (403, 409) and not getattr(request, _RECORDED, False) and not _is_api(request):
                self.record_shown(request, response.status_code)
            return response
        finally:
            refusals_shown.reset(shown)
            audit.release_request(token)

    @staticmethod
    def record_shown(request, status: int) -> None:
        """A page that showed a refusal in its form instead of raising it (self_issue at the counter: 403; a rule's
        refusal: 409), recorded under the code of the service's error, unless the service recorded it itself."""
        refusal = (refusals_shown.get() or {}).get(status)
        if refusal is not None and refusal.recorded:
            return
        kind = AuditEvent.Kind.REFUSED if status == 403 else AuditEvent.Kind.RULE_REFUSED
        default = "forbidden" if status == 403 else "conflict"
        detail = f"{refusal.code}: {refusal.detail}" if refusal is not None else default
        audit.record(kind, request=request, account=request.user, detail=detail)

    def process_exception(self, request, exception):
        if isinstance(exception, Resolver404) or not isinstance(exception, (PermissionDenied, Http404)):
            return None
        setattr(request, _RECORDED, True)
        cause = exception.__cause__
        default = "permission_denied" if isinstance(exception, PermissionDenied) else "not_found"
        code = getattr(cause, "code", "") or default
        message = str(exception)
        detail = f"{code}: {message}" if message and message != code else code
        user = getattr(request, "user", None)
        audit.record(AuditEvent.Kind.REFUSED, request=request, account=user, detail=detail)
        return None  # Django answers 403 / 404 as before


class SessionRecordMiddleware:
    """After each request, keeps the account's session record in step: its new key after a login, a second factor or
    a password change, and (once a minute) when it was last seen (core.sessions.keep_in_step)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        sessions.keep_in_step(request)
        return response


class AbsoluteSessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            started = request.session.get("muster_login_at")
            now = timezone.now().timestamp()
            if started is None:
                request.session["muster_login_at"] = now
            elif now - started > settings.MUSTER_SESSION_ABSOLUTE_SECONDS:
                logout(request)
                if not request.path.startswith("/api/"):
                    return redirect(f"{settings.LOGIN_URL_PATH}?next={request.path}")
        return self.get_response(request)


class TwoFactorMiddleware:
    """After the password, an account that must give a TOTP code (core.otp.must_verify) reaches only the pages that
    complete the second step, and logout: web pages redirect to them, API calls on its session answer 401
    otp_required. Sessions never verified are the only ones affected; token calls carry no session."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths: frozenset[str] | None = None

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.is_verified()
            and request.path not in self.open_paths()
        ):
            enrolled = otp.confirmed_device(user) is not None
            if enrolled or otp.required_by_role(user):  # otp.must_verify, with the device looked up once
                return self.refuse(request, enrolled=enrolled)
        return self.get_response(request)

    def open_paths(self) -> frozenset[str]:
        if self._open_paths is None:  # the URLconf is not loaded when middleware is built
            names = ("otp-verify", "otp-enrol", "logout", "api:token")
            self._open_paths = frozenset(reverse(name) for name in names)
        return self._open_paths

    @staticmethod
    def refuse(request, *, enrolled: bool):
        if request.path.startswith("/api/"):
            detail = (
                "Finish signing in with your authenticator code first."
                if enrolled
                else "Set up two-factor sign-in on the web first."
            )
            response = JsonResponse({"code": "otp_required", "detail": detail}, status=401)
            response["WWW-Authenticate"] = "Token"
            return response
        target = reverse("otp-verify" if enrolled else "otp-enrol")
        if request.method in ("GET", "HEAD"):
            target = f"{target}?{urlencode({'next': request.get_full_path()})}"
        return redirect(target)
