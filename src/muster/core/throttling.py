"""Request rates: the API's (DRF throttling; REST_FRAMEWORK in settings.py) and the web pages' (WebRateMiddleware;
MUSTER_WEB_THROTTLE_RATES), one algorithm for both (DRF's SimpleRateThrottle, counts in Django's cache);
docs/security.md *Rate limits*.

Three throttles on every API view, each answering 429 {"code": "throttled", "detail"} with a Retry-After header:

  AccountRateThrottle    a signed-in caller (token or session): MUSTER_API_RATE per account
  AnonymousRateThrottle  a caller not signed in (the token endpoint, a wrong token): MUSTER_API_RATE_ANONYMOUS per
                         address
  RouteRateThrottle      the token endpoint (MUSTER_API_RATE_TOKEN per address) and the PDF receipts
                         (MUSTER_API_RATE_DOCUMENTS per account): picked by the route's name (ROUTE_SCOPES), so the
                         views need no `throttle_scope` of their own

The web pages (every path but /api/), before their view runs (WebRateMiddleware), each answering a 429 page with a
Retry-After header:

  web            every page: MUSTER_WEB_RATE per account
  web_documents  the pages that answer a file (WEB_DOCUMENT_ROUTES, and any page asked for ?export=, the CSV and
                 XLSX reports): MUSTER_WEB_RATE_DOCUMENTS per account, on top of `web`
  web_anonymous  a caller not signed in, and the steps of signing in whoever asks (WEB_SIGN_IN_ROUTES):
                 MUSTER_WEB_RATE_ANONYMOUS per address

The rates and the switches (MUSTER_API_THROTTLING, MUSTER_WEB_THROTTLING) are read at each request (the test suite
switches throttling off and on). The address is core.audit.client_ip's, the same axes and the audit trail use.
"""

import math

from django.conf import settings
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle

from muster.core import audit
from muster.core.audit import client_ip

# Route name → scope of DEFAULT_THROTTLE_RATES.
ROUTE_SCOPES = {
    "api:token": "token",
    "api-ledger-receipt": "documents",
    "api-member-hand-receipt": "documents",
}


class _MusterThrottle(SimpleRateThrottle):
    def __init__(self):  # the rate is looked up per request (get_rate), not once at import
        pass

    def enabled(self) -> bool:
        return settings.MUSTER_API_THROTTLING

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]

    def get_ident(self, request):
        return client_ip(request) or "unknown"

    def allow_request(self, request, view):
        if not self.enabled():
            return True
        self.scope = self.scope_for(request)
        if self.scope is None:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        allowed = super().allow_request(request, view)
        if not allowed:  # for the audit trail's record of the 429 (core.audit.record_throttled)
            denials = getattr(request, audit.THROTTLE_DENIALS, None) or []
            denials.append((self.scope, self.rate, self.key))
            setattr(request, audit.THROTTLE_DENIALS, denials)
        return allowed

    def scope_for(self, request) -> str | None:
        return self.scope

    def get_cache_key(self, request, view):
        user = request.user
        ident = f"account-{user.pk}" if user and user.is_authenticated else f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AccountRateThrottle(_MusterThrottle):
    scope = "account"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None  # AnonymousRateThrottle's
        return super().get_cache_key(request, view)


class AnonymousRateThrottle(_MusterThrottle):
    scope = "anonymous"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None  # AccountRateThrottle's
        return super().get_cache_key(request, view)


class RouteRateThrottle(_MusterThrottle):
    scope = None

    def scope_for(self, request) -> str | None:
        match = getattr(request, "resolver_match", None)
        return ROUTE_SCOPES.get(match.view_name) if match is not None else None


# --- the web pages -------------------------------------------------------------------------------------------------

# Pages that answer a file, by route name: the PDFs (receipts, hand receipts, label sheets, badges) and the ledger's
# files. A page asked for ?export= (core.views.download: the CSV and XLSX reports) counts as one too.
WEB_DOCUMENT_ROUTES = frozenset({
    "event-receipt",
    "member-hand-receipt",
    "armory-labels",
    "unit-badges",
    "ledger-export",
    "ledger-checkpoint-file",
    "ledger-public-key",
})  # fmt: skip
# The steps of signing in are counted per address whoever asks: a session that has the password but not yet the
# second factor is signed in, and must not be able to spend its account's own rate (and so lock the owner out).
WEB_SIGN_IN_ROUTES = frozenset({"login", "otp-verify", "otp-enrol"})


class WebRateThrottle(_MusterThrottle):
    """One scope of MUSTER_WEB_THROTTLE_RATES, counted apart from the API's rates."""

    def __init__(self, scope: str):
        self.scope = scope

    def enabled(self) -> bool:
        return settings.MUSTER_WEB_THROTTLING

    def get_rate(self):
        return settings.MUSTER_WEB_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        if self.scope == "web_anonymous":
            return self.cache_format % {"scope": self.scope, "ident": f"address-{self.get_ident(request)}"}
        return super().get_cache_key(request, view)


def web_throttles(request) -> list[WebRateThrottle]:
    """The rates a web request counts against, by its route (request.resolver_match)."""
    match = request.resolver_match
    user = getattr(request, "user", None)
    if match.view_name in WEB_SIGN_IN_ROUTES or not (user and user.is_authenticated):
        return [WebRateThrottle("web_anonymous")]
    throttles = [WebRateThrottle("web")]
    if match.view_name in WEB_DOCUMENT_ROUTES or "export" in request.GET:
        throttles.append(WebRateThrottle("web_documents"))
    return throttles


class WebRateMiddleware:
    """Request rates on the web pages: counted once the URL is resolved (process_view, so the route's name picks
    the scope) and before the view runs; over a rate, a 429 page with Retry-After, and the view is not called. The
    API's paths are left to its own throttles; static files never get here (WhiteNoise answers them first), nor does
    a path that matches no route."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not settings.MUSTER_WEB_THROTTLING or request.path_info.startswith("/api/"):
            return None
        # Every rate counts the request (as DRF checks every throttle): the documents' refusal still uses up `web`.
        refused = [throttle for throttle in web_throttles(request) if not throttle.allow_request(request, None)]
        if not refused:
            return None
        waits = [wait for wait in (throttle.wait() for throttle in refused) if wait is not None]
        return too_many_requests(request, retry_after=max(1, math.ceil(max(waits, default=1))))


def too_many_requests(request, *, retry_after: int):
    """The 429 page (an htmx request gets it too: its status, which base.html's htmx config does not swap in),
    recorded on the audit trail as the API's 429s are (once a minute per caller and rate)."""
    audit.record_throttled(request, wait=retry_after)
    response = render(request, "429.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response
