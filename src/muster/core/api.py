"""API error mapping and shared API pieces.

One place turns every error into an HTTP answer with a stable body:
  400 {"code": "invalid", "detail", "errors": {field: [messages]}}   serializer / filter validation
  400 {"code", "detail"}                                             an Invalid domain error (e.g. due_in_past)
  401 / 403 / 404 / 409 {"code", "detail"}                           authentication, role, scope, rule refusal
  429 {"code": "throttled", "detail"}                                over a request rate (core.throttling)

Refusals are recorded in the audit trail here (403 `refused`, 409 `rule_refused`, 429 `throttled`: _audit_refusal).

Reading input as strictly as the schema states it (bodies, query parameters, ids) is core.api_input's.
"""

from django.db import DataError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    NotAuthenticated,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from muster.core import authentication, otp
from muster.core.api_input import LOOKUP_VALUE_REGEX, StrictFilterBackend, StrictLimitOffsetPagination
from muster.core.errors import DomainError, Invalid, NotFound, NotPermitted, Refused
from muster.members import scope
from muster.members.services import issue_token

_SUMMARY_LIMIT = 3


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, Http404) and request is not None and context.get("view") is not None:
        exc = _unauthenticated_instead(exc, request, context["view"])
    if request is not None:
        _audit_refusal(exc, request)
    if isinstance(exc, DataError) and _NUL in str(exc):
        exc = _nul_refusal(context)
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(exc.as_dict(), status=exc.http_status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        errors = (
            response.data if isinstance(response.data, dict) else {api_settings.NON_FIELD_ERRORS_KEY: response.data}
        )
        response.data = {"code": "invalid", "detail": _summarise(errors), "errors": errors}
    elif isinstance(exc, Http404):
        # Unknown and out-of-scope objects answer alike, so the body says nothing about which it was.
        response.data = {"code": "not_found", "detail": "Not found."}
    elif isinstance(exc, APIException):
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        codes = exc.get_codes()
        response.data = {"code": codes if isinstance(codes, str) else "error", "detail": detail}
    return response


def _audit_refusal(exc, request) -> None:
    """The audit trail's record of a refusal (docs/security.md *Logs*): `refused` for a missing role (403),
    `rule_refused` for a rule's refusal (409) unless its service recorded it, `throttled` for a request over its
    rate (429, at most once a minute per caller and rate: core.audit.record_throttled)."""
    from muster.core.audit import record, record_throttled
    from muster.core.models import AuditEvent

    if isinstance(exc, (NotPermitted, PermissionDenied)):
        detail = getattr(exc, "code", "") or str(getattr(exc, "detail", ""))
        record(AuditEvent.Kind.REFUSED, request=request, account=request.user, detail=detail)
    elif isinstance(exc, Refused) and not exc.recorded:
        record(AuditEvent.Kind.RULE_REFUSED, request=request, account=request.user, detail=f"{exc.code}: {exc.detail}")
    elif isinstance(exc, Throttled):
        record_throttled(request, wait=exc.wait)


# PostgreSQL stores no NUL character in text, and psycopg refuses to send one ("... cannot contain NUL (0x00)
# bytes") before the query leaves. The API's text fields and filters refuse NUL themselves; a lookup by a code or
# number from the path, or by a value a view hands straight to a lookup, reaches the database with it.
_NUL = "NUL (0x00)"


def _nul_refusal(context) -> DomainError:
    """A NUL character met the database: in a path, nothing has that code or number (404, as on SQLite, which
    finds nothing); anywhere else, the input is malformed (400)."""
    if any("\x00" in str(value) for value in (context.get("kwargs") or {}).values()):
        return NotFound("Not found.", code="not_found")
    return Invalid("Text may not contain NUL characters.", code="invalid")


def _first_message(messages, path=()) -> tuple[tuple, str]:
    """The first message of a field's errors, and where it sits: nested objects give {field: [...]}, lists of objects
    give [{}, {field: [...]}] (an entry per object)."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            return _first_message(value, (*path, key))
    if isinstance(messages, list) and messages:
        if all(isinstance(item, str) for item in messages):
            return path, messages[0]
        for index, item in enumerate(messages):
            if item:
                return _first_message(item, (*path, index))
    return path, str(messages)


def _unauthenticated_instead(exc, request, view):
    """DRF picks the renderer (?format=) before it authenticates the caller, and answers an unknown format 404: to a
    caller without valid credentials on a view that needs them, the answer is 401 like everywhere else, so that a
    stranger learns nothing from the API but that they must sign in."""
    try:
        if request.user.is_authenticated:
            return exc
        view.check_permissions(request)
        return exc  # a view open to everyone (the token endpoint)
    except (NotAuthenticated, AuthenticationFailed) as denial:
        header = view.get_authenticate_header(request)
        if header:
            denial.auth_header = header
        else:
            denial.status_code = status.HTTP_403_FORBIDDEN
        return denial
    except PermissionDenied:
        return exc


def _summarise(errors: dict) -> str:
    """A one-line message naming the first few fields at fault, for people reading logs or a CLI."""
    parts = []
    for field, messages in list(errors.items())[:_SUMMARY_LIMIT]:
        path, first = _first_message(messages)
        name = ".".join(str(part) for part in [field, *path] if part != api_settings.NON_FIELD_ERRORS_KEY)
        parts.append(f"{name}: {first}" if name else str(first))
    more = " …" if len(errors) > _SUMMARY_LIMIT else ""
    return "Invalid input — " + "; ".join(str(part) for part in parts) + more


# Documentation of the error bodies, for extend_schema on every endpoint.
ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "code": serializers.CharField(help_text="Stable machine-readable code, e.g. item_not_in_armory"),
        "detail": serializers.CharField(help_text="What went wrong, for people"),
    },
)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"oneOf": [{"type": "array", "items": {}}, {"type": "object"}]},
        "description": "Messages per field: a list of strings; for a nested object, its own fields' messages; for a "
        "list of objects, one entry per object (empty where it was fine). Absent for domain errors.",
    }
)
class FieldErrorsField(serializers.JSONField):
    pass


ValidationErrorSerializer = inline_serializer(
    name="ValidationError",
    fields={
        "code": serializers.CharField(help_text='"invalid" for field errors, or a domain code such as due_in_past'),
        "detail": serializers.CharField(),
        "errors": FieldErrorsField(required=False),
    },
)

_ERROR_DESCRIPTIONS = {
    400: ("Invalid input", ValidationErrorSerializer),
    401: ("Not authenticated (no or bad token / session)", ErrorSerializer),
    403: ("The caller lacks the role for this action", ErrorSerializer),
    404: ("Not found, or outside the caller's units", ErrorSerializer),
    409: ("A custody or roster rule refuses the request", ErrorSerializer),
    429: ("Too many attempts: wait and try again", ErrorSerializer),
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(response=_ERROR_DESCRIPTIONS[code][1], description=_ERROR_DESCRIPTIONS[code][0])
        for code in statuses
    }


class TokenRequestSerializer(AuthTokenSerializer):
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=16,
        write_only=True,
        help_text="The 6-digit code of the account's authenticator app: required for commanders, armorers, duty "
        "officers, auditors and superusers, and for any account that has set up two-factor sign-in",
    )


# How the token endpoint answers a second factor that is missing, wrong or not set up (core.otp's error codes).
_OTP_STATUS = {
    "otp_invalid": status.HTTP_401_UNAUTHORIZED,
    "otp_throttled": status.HTTP_429_TOO_MANY_REQUESTS,
    "otp_not_enrolled": status.HTTP_403_FORBIDDEN,
}


class ObtainTokenView(ObtainAuthToken):
    """Exchange a username, password and (for accounts with two-factor sign-in) a TOTP code for the account's API
    token (sent as `Authorization: Token <key>`) and when it expires. A token lasts MUSTER_API_TOKEN_DAYS from its
    creation; until then this answers the same token, after that a new one. Missing code: 400 otp_required; wrong
    or reused code: 401 otp_invalid; too many wrong codes: 429 otp_throttled; two-factor not set up yet: 403
    otp_not_enrolled (set it up on the web first). Tokens are otherwise issued only by `muster user token` on the
    server."""

    serializer_class = TokenRequestSerializer
    # The body's credentials are the only ones read here: an expired (or any) token a client sends along out of habit
    # must not stand between it and a new one (else 401 token_expired, core.authentication).
    authentication_classes = ()
    # DRF's ObtainAuthToken opts out of throttling (throttle_classes = ()): the endpoint open to strangers is the one
    # that most needs its rates (per address, and the tighter "token" rate, core.throttling).
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        request=TokenRequestSerializer,
        responses={
            status.HTTP_200_OK: inline_serializer(
                name="Token",
                fields={
                    "token": serializers.CharField(),
                    "expires": serializers.DateTimeField(
                        help_text="When the token stops working (MUSTER_API_TOKEN_DAYS after it was made): then "
                        "401 token_expired, and this endpoint hands out a new one"
                    ),
                },
            ),
            **error_responses(400, 401, 403, 429),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)  # the password first: nothing is said about the account before
        account = serializer.validated_data["user"]
        refusal = self.second_factor_refusal(request, account, serializer.validated_data.get("otp", "").strip())
        if refusal is not None:
            return refusal
        token = issue_token(account=account, actor=account)
        expires = serializers.DateTimeField().to_representation(authentication.expires_at(token))
        return Response({"token": token.key, "expires": expires})

    @staticmethod
    def second_factor_refusal(request, account, code: str) -> Response | None:
        if not otp.must_verify(account):
            return None
        if otp.confirmed_device(account) is None:
            detail = "Set up two-factor sign-in on the web first."
            return Response({"code": "otp_not_enrolled", "detail": detail}, status=_OTP_STATUS["otp_not_enrolled"])
        if not code:
            raise Invalid("This account signs in with a TOTP code: send it as `otp`.", code="otp_required")
        try:
            otp.verify_code(account=account, code=code, request=request, purpose="API token")
        except DomainError as exc:
            response = Response(exc.as_dict(), status=_OTP_STATUS.get(exc.code, exc.http_status))
            if response.status_code == status.HTTP_401_UNAUTHORIZED:
                response["WWW-Authenticate"] = "Token"
            return response
        return None


class ScopedViewSet(viewsets.ReadOnlyModelViewSet):
    """A read-only viewset whose rows come from `scoped_queryset(account)`, so rows out of scope answer 404.

    Set `model` when the serializer is not a ModelSerializer of the rows (schema generation needs it)."""

    filter_backends = [StrictFilterBackend]
    pagination_class = StrictLimitOffsetPagination
    lookup_value_regex = LOOKUP_VALUE_REGEX

    def scoped_queryset(self, account):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            model = getattr(self, "model", None) or self.serializer_class.Meta.model
            return model.objects.none()
        return self.scoped_queryset(self.request.user)


class HoldsRole(permissions.BasePermission):
    """The caller holds one of `roles` on some unit (a superuser always). Which unit is the view's business."""

    roles: frozenset[str] = frozenset()
    message = "This needs a role the caller does not hold."
    code = "not_permitted"

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and bool(
            scope.is_global(request.user) or scope.unit_paths(request.user, self.roles)
        )


def holds_role(roles, *, code: str, message: str) -> type[HoldsRole]:
    """A permission class answering 403 {code, message} unless the caller holds one of `roles` somewhere."""
    return type(f"Holds_{code}", (HoldsRole,), {"roles": frozenset(roles), "code": code, "message": message})


def require_role(account, unit, roles, *, code: str, detail: str) -> None:
    """403 unless the caller holds one of `roles` on `unit` (or above). Checked before the input, so a caller
    without the role learns nothing from validation messages."""
    if not scope.has_role(account, unit, roles):
        raise NotPermitted(detail, code=code)
