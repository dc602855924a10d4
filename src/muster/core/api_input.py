"""Reading API input strictly, as the OpenAPI schema says it is.

DRF and django-filter read leniently: a text field takes 5 for "5", a yes/no field "yes" for true, and a query
parameter given twice, blank or malformed is quietly ignored or falls back to a default. What the schema calls
invalid should answer 400, and the schema should say what a field refuses (drf-spectacular leaves an empty list or
blank text unsaid). Hence: request bodies (JSONBodySerializer, code_field, AwareDateTimeField, id_field), query
parameters (query_value, check_query, query_int, StrictLimitOffsetPagination, StrictFilterBackend, IdFilter) and
ids in paths (path_id, ID_PARAMETER, LOOKUP_VALUE_REGEX). Kept apart from core.api (error answers, ScopedViewSet,
roles) for size.

The OpenApiSerializerFieldExtension subclasses register with drf-spectacular by being defined: core.api imports
this module, so they are in place wherever an API view is.
"""

import re

import django_filters
from django import forms
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import pagination, serializers
from rest_framework.exceptions import ValidationError


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
    minItems 1; and uniqueItems where the field class says `unique_items = True` (its serializer refuses a repeat).
    For lists of values (ListField); NonEmptyManySchema does lists of objects."""

    target_class = "rest_framework.fields.ListField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request" and not getattr(self.target, "allow_empty", True) and schema.get("type") == "array":
            schema.setdefault("minItems", 1)
        if direction == "request" and getattr(self.target, "unique_items", False) and schema.get("type") == "array":
            schema["uniqueItems"] = True
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
