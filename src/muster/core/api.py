"""API error mapping and shared API pieces.

One place turns every error into an HTTP answer with a stable body:
  400 {"code": "invalid", "detail", "errors": {field: [messages]}}   serializer / filter validation
  400 {"code", "detail"}                                             an Invalid domain error (e.g. due_in_past)
  401 / 403 / 404 / 409 {"code", "detail"}                           authentication, role, scope, rule refusal
"""

import re

import django_filters
from django import forms
from django.db import DataError
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import pagination, permissions, serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    NotAuthenticated,
    PermissionDenied,
    ValidationError,
)
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from muster.core import otp
from muster.core.errors import DomainError, Invalid, NotFound, NotPermitted
from muster.members import scope
from muster.members.services import issue_token

_SUMMARY_LIMIT = 3


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, Http404) and request is not None and context.get("view") is not None:
        exc = _unauthenticated_instead(exc, request, context["view"])
    if isinstance(exc, (NotPermitted, PermissionDenied)) and request is not None:
        from muster.core.audit import record
        from muster.core.models import AuditEvent

        record(
            AuditEvent.Kind.REFUSED,
            request=request,
            account=request.user,
            detail=getattr(exc, "code", "") or str(getattr(exc, "detail", "")),
        )
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
    token (sent as `Authorization: Token <key>`). Missing code: 400 otp_required; wrong or reused code: 401
    otp_invalid; too many wrong codes: 429 otp_throttled; two-factor not set up yet: 403 otp_not_enrolled (set it up
    on the web first). Tokens are otherwise issued only by `muster user token` on the server."""

    serializer_class = TokenRequestSerializer
    # DRF's ObtainAuthToken opts out of throttling (throttle_classes = ()): the endpoint open to strangers is the one
    # that most needs its rates (per address, and the tighter "token" rate, core.throttling).
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES

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


def _json_type_error(field, value) -> str | None:
    """Why `value`, as parsed from a JSON body, is not of the type the field's schema gives, or None."""
    if value is None or isinstance(field, serializers.ChoiceField):
        return None  # null: the field's own allow_null decides; a choice: its choices decide
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        # A field that reads its input itself (PinField) says so in its own words.
        own = type(field).to_internal_value is not serializers.CharField.to_internal_value
        return None if own else "Not a valid string."
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    if isinstance(field, serializers.IntegerField) and (isinstance(value, bool) or not isinstance(value, int)):
        return "A valid integer is required."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        return next(filter(None, (_json_type_error(field.child, item) for item in value)), None)
    return None


# A request body read with the types JSON gives it, as the schema states them: text fields take strings, whole-number
# fields integers, yes/no fields true or false. DRF's fields also take 5 for "5", "5" or 5.0 for 5 and "yes" or 1 for
# true, which the schema calls invalid. (A comment, not a docstring: the schema would show it on every request body.)
class JSONBodySerializer(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for name, field in self.fields.items():
                message = None if field.read_only or name not in data else _json_type_error(field, data[name])
                if message:
                    errors[name] = [message]
            if errors:
                raise ValidationError(errors)
        return super().to_internal_value(data)


class NonEmptyListSchema(OpenApiSerializerFieldExtension):
    """Lists in request bodies that must not be empty (allow_empty=False), which drf-spectacular leaves unsaid:
    minItems 1. For lists of values (ListField); NonEmptyManySchema does lists of objects."""

    target_class = "rest_framework.fields.ListField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request" and not getattr(self.target, "allow_empty", True) and schema.get("type") == "array":
            schema.setdefault("minItems", 1)
        return schema


class NonEmptyManySchema(NonEmptyListSchema):
    target_class = "rest_framework.serializers.ListSerializer"


class NonBlankTextSchema(OpenApiSerializerFieldExtension):
    """Text fields in request bodies that must not be blank: DRF trims the value first, so "   " is refused as
    blank although it meets the minLength 1 drf-spectacular writes. The schema says it: at least one character that
    is not white space (pattern \\S). Registered for every CharField (and subclass) by being defined."""

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        trimmed = getattr(field, "trim_whitespace", False) and not getattr(field, "allow_blank", True)
        if direction == "request" and trimmed and schema.get("type") == "string" and "pattern" not in schema:
            schema["pattern"] = r"\S"
        return schema


def code_field(values, *, component: str, **kwargs) -> serializers.CharField:
    """A text field whose schema lists the codes it takes (`values`, as the enum component `component`), read as
    plain text so that the service checks it and answers an unknown one with its own code (unknown_kind,
    unknown_status). Named here: an enum drf-spectacular names after the field ("kind") would collide with the other
    "kind" enums and get a hashed name."""
    if component not in _CODE_FIELDS:  # one class per component: the schema generator tells components by it
        field_class = type(component, (serializers.CharField,), {"__module__": __name__})
        _CODE_FIELDS[component] = extend_schema_field(
            {"type": "string", "enum": list(values)}, component_name=component
        )(field_class)
    return _CODE_FIELDS[component](**kwargs)


_CODE_FIELDS: dict[str, type[serializers.CharField]] = {}


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its offset: a bare local time is ambiguous across time zones."""

    default_error_messages = {"naive": "Give a time zone offset, e.g. 2025-06-01T18:00:00+03:00 or ...T15:00:00Z."}

    def enforce_timezone(self, value):
        if value.tzinfo is None:
            self.fail("naive")
        return super().enforce_timezone(value)


# --- query parameters: read strictly, so that what the schema calls invalid answers 400 ---------------------------

_DIGITS = re.compile(r"[0-9]+")


def query_value(request, name: str) -> str | None:
    """The query parameter `name` as given, or None when absent; 400 when it is given more than once (which of the
    values would count is anybody's guess)."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ValidationError({name: ["Give this parameter once."]})
    return values[0] if values else None


def check_query(request, names) -> None:
    """400 when one of the query parameters `names` is given more than once, or given blank (read by a serializer,
    a blank value would count as absent, although the schema does not allow it)."""
    for name in names:
        if query_value(request, name) == "":
            raise ValidationError({name: ["This field may not be blank."]})


def query_int(request, name: str, *, minimum: int) -> int | None:
    """A whole-number query parameter (ASCII digits, at least `minimum`), or None when absent; else 400."""
    value = query_value(request, name)
    if value is None:
        return None
    if not _DIGITS.fullmatch(value) or int(value) < minimum:
        raise ValidationError({name: [f"A whole number of at least {minimum} is required."]})
    return int(value)


class StrictLimitOffsetPagination(pagination.LimitOffsetPagination):
    """?limit= and ?offset= as the schema declares them: whole numbers, limit ≥ 1 and offset ≥ 0, else 400 (DRF's
    own class quietly falls back to the defaults). A limit above `max_limit` is cut to it."""

    max_limit = 1000

    def get_limit(self, request):
        limit = query_int(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        return query_int(request, self.offset_query_param, minimum=0) or 0

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["description"] += f" At most {self.max_limit} (a larger limit is cut to it)."
        limit["schema"]["minimum"] = 1
        offset["schema"]["minimum"] = 0
        return [limit, offset]


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter as the API reads it: a filter given twice, a blank value for a filter that is not free text
    (a number, a date, a choice, true/false), or a true/false filter given anything but `true` or `false` answers
    400. django-filter itself ignores all three, as the web lists' forms want (they send blank fields)."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            errors = {}
            for name, flt in filterset_class.base_filters.items():
                values = request.query_params.getlist(name)
                if len(values) > 1:
                    errors[name] = ["Give this parameter once."]
                elif values and values[0] == "" and not isinstance(flt, django_filters.CharFilter):
                    errors[name] = ["This field may not be blank."]
                elif values and isinstance(flt, django_filters.BooleanFilter) and values[0] not in ("true", "false"):
                    errors[name] = ["Give true or false."]
            if errors:
                raise ValidationError(errors)
        return super().filter_queryset(request, queryset, view)


def path_id(value) -> int | None:
    """An id from a path as an int, or None, which finds nothing (404 like an unknown id, not 500)."""
    return int(value) if isinstance(value, str) and _DIGITS.fullmatch(value) else None


# The ids are 64-bit (BigAutoField): a larger number cannot even be sent to the database (SQLite raises
# OverflowError on a foreign key lookup), so it is refused as input, and the schema says so.
ID_MAX = 2**63 - 1


def id_field(**kwargs) -> serializers.IntegerField:
    """An object's id in a request body: a whole number from 1 to ID_MAX."""
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)


@extend_schema_field({"type": "integer", "minimum": -ID_MAX - 1, "maximum": ID_MAX})
class IdFilter(django_filters.NumberFilter):
    """A filter on an id, given as a whole number (an id that names nothing finds nothing; one beyond 64 bits, 400)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=-ID_MAX - 1, max_value=ID_MAX, **kwargs)


# A numeric id in a path. The routes take any text there (a non-number then answers 404 like an unknown id, in
# JSON, instead of missing the route and getting Django's HTML page), so the schema says what the id is.
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The object's id")
# Lookups in routers' detail URLs: anything but a slash (DRF's default also refuses dots, which sends an id such as
# "1.5" or a code with a dot to Django's HTML 404 page instead of the view's JSON one).
LOOKUP_VALUE_REGEX = "[^/]+"


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
