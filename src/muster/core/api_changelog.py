"""The change log in the API: GET /api/v1/changes/ (filters as on /changes/) and /api/v1/changes/{id}/.

Commanders and auditors only (403 for other roles); each sees the records of their units and the site-wide ones, and
a record of another unit answers 404. Cursor pagination: the log only grows, so pages never shift under a reader.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.pagination import CursorPagination

from muster.core import changelog
from muster.core.api import ErrorSerializer, ScopedViewSet, error_responses, holds_role
from muster.core.api_input import ID_PARAMETER, query_int, query_value
from muster.core.filters_changelog import ChangeRecordFilterSet
from muster.core.models import ChangeRecord


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2, "items": {}},
        "description": "{field: [before, after]}; null where a field had or has no value",
    }
)
class ChangesField(serializers.JSONField):
    pass


class ChangeRecordSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True, help_text="Username of who made the change")
    unit = serializers.SlugRelatedField(
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text="Code of the unit the change concerns; null if site-wide",
    )
    changes = ChangesField(read_only=True)

    class Meta:
        model = ChangeRecord
        fields = [
            "id", "at", "action", "object_type", "object_id", "object_repr", "related_type", "related_id", "unit",
            "actor", "changes", "request_id",
        ]  # fmt: skip
        read_only_fields = fields


class ChangeLogPagination(CursorPagination):
    """?limit= as the schema declares it (a whole number ≥ 1, cut to 500), else 400; ?cursor= once, as a page's
    `next` or `previous` link gives it (any other answers 404 Invalid cursor, as DRF has it)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def get_page_size(self, request):
        limit = query_int(request, self.page_size_query_param, minimum=1)
        return self.page_size if limit is None else min(limit, self.max_page_size)

    def decode_cursor(self, request):
        query_value(request, self.cursor_query_param)  # given twice: 400
        return super().decode_cursor(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] += f" At most {self.max_page_size} (a larger limit is cut to it)."
        return parameters


CanReadChanges = holds_role(
    changelog.READERS, code="not_change_reader", message="The change log is for commanders and auditors."
)


@extend_schema_view(
    list=extend_schema(
        summary="Changes to non-custody records in the caller's units (commanders, auditors), newest first",
        # The record types are a callable's choices, which the schema generator leaves out: spelled out here.
        parameters=[
            OpenApiParameter(
                "object_type", OpenApiTypes.STR, enum=list(changelog.LOGGED_TYPES), description="Record type"
            )
        ],
        responses={
            200: ChangeRecordSerializer,
            **error_responses(400, 401, 403),
            404: OpenApiResponse(ErrorSerializer, description="Invalid cursor: not one of this list's page links"),
        },
    ),
    retrieve=extend_schema(
        summary="One change record",
        parameters=[ID_PARAMETER],
        responses={200: ChangeRecordSerializer, **error_responses(401, 403, 404)},
    ),
)
class ChangeRecordViewSet(ScopedViewSet):
    """Changes to roster, vetting, disciplinary, training and configuration records, newest first."""

    serializer_class = ChangeRecordSerializer
    filterset_class = ChangeRecordFilterSet
    pagination_class = ChangeLogPagination
    permission_classes = [CanReadChanges]

    def scoped_queryset(self, account):
        return changelog.visible_changes(account).select_related("unit")
