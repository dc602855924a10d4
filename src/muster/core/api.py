"""API error mapping and shared API pieces.

One place turns every error into an HTTP answer with a stable body:
  400 {"code": "invalid", "detail", "errors": {field: [messages]}}   serializer / filter validation
  400 {"code", "detail"}                                             an Invalid domain error (e.g. due_in_past)
  401 / 403 / 404 / 409 {"code", "detail"}                           authentication, role, scope, rule refusal
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from muster.core import otp
from muster.core.errors import DomainError, Invalid, NotPermitted
from muster.members import scope
from muster.members.services import issue_token

_SUMMARY_LIMIT = 3


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, (NotPermitted, PermissionDenied)) and request is not None:
        from muster.core.audit import record
        from muster.core.models import AuditEvent

        record(
            AuditEvent.Kind.REFUSED,
            request=request,
            account=request.user,
            detail=getattr(exc, "code", "") or str(getattr(exc, "detail", "")),
        )
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


def _summarise(errors: dict) -> str:
    """A one-line message naming the first few fields at fault, for people reading logs or a CLI."""
    parts = []
    for field, messages in list(errors.items())[:_SUMMARY_LIMIT]:
        first = messages[0] if isinstance(messages, list) and messages else messages
        label = "" if field == api_settings.NON_FIELD_ERRORS_KEY else f"{field}: "
        parts.append(f"{label}{first}")
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
ValidationErrorSerializer = inline_serializer(
    name="ValidationError",
    fields={
        "code": serializers.CharField(help_text='"invalid" for field errors, or a domain code such as due_in_past'),
        "detail": serializers.CharField(),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Messages per field; absent for domain errors",
        ),
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
        help_text="The 6-digit code of the account's authenticator app: required for commanders, armorers, auditors "
        "and superusers, and for any account that has set up two-factor sign-in",
    )


# How the token endpoint answers a second factor that is missing, wrong or not set up (core.otp's error codes).
_OTP_STATUS = {
    "otp_invalid": status.HTTP_401_UNAUTHORIZED,
    "otp_throttled": status.HTTP_429_TOO_MANY_REQUESTS,
    "otp_not_enrolled": status.HTTP_403_FORBIDDEN,
}


class ObtainTokenView(ObtainAuthToken):
    """Exchange a username, password and (for accounts with two-factor sign-in) a TOTP code for the account's API
    token (sent as `Authorization: Token <key>`). Missing code: 400 otp_required; wrong or reused code: 401
    otp_invalid; too many wrong codes: 429 otp_throttled; two-factor not set up yet: 403 otp_not_enrolled (set it up
    on the web first). Tokens are otherwise issued only by `muster user token` on the server."""

    serializer_class = TokenRequestSerializer

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        request=TokenRequestSerializer,
        responses={
            status.HTTP_200_OK: inline_serializer(name="Token", fields={"token": serializers.CharField()}),
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
        return Response({"token": issue_token(account=account, actor=account).key})

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


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its offset: a bare local time is ambiguous across time zones."""

    default_error_messages = {"naive": "Give a time zone offset, e.g. 2025-06-01T18:00:00+03:00 or ...T15:00:00Z."}

    def enforce_timezone(self, value):
        if value.tzinfo is None:
            self.fail("naive")
        return super().enforce_timezone(value)


class ScopedViewSet(viewsets.ReadOnlyModelViewSet):
    """A read-only viewset whose rows come from `scoped_queryset(account)`, so rows out of scope answer 404.

    Set `model` when the serializer is not a ModelSerializer of the rows (schema generation needs it)."""

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
