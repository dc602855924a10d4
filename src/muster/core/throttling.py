"""API request rates (DRF throttling; REST_FRAMEWORK in settings.py, docs/security.md *Rate limits*).

Three throttles on every API view, each answering 429 {"code": "throttled", "detail"} with a Retry-After header:

  AccountRateThrottle    a signed-in caller (token or session): MUSTER_API_RATE per account
  AnonymousRateThrottle  a caller not signed in (the token endpoint, a wrong token): MUSTER_API_RATE_ANONYMOUS per
                         address
  RouteRateThrottle      the token endpoint (MUSTER_API_RATE_TOKEN per address) and the PDF receipts
                         (MUSTER_API_RATE_DOCUMENTS per account): picked by the route's name (ROUTE_SCOPES), so the
                         views need no `throttle_scope` of their own

The rates and MUSTER_API_THROTTLING are read at each request (the test suite switches throttling off and on). The
address is core.audit.client_ip's, the same axes and the audit trail use.
"""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

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

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]

    def get_ident(self, request):
        return client_ip(request) or "unknown"

    def allow_request(self, request, view):
        if not settings.MUSTER_API_THROTTLING:
            return True
        self.scope = self.scope_for(request)
        if self.scope is None:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

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
