"""The change log in the API: GET /api/v1/changes/ (filters as on /changes/) and /api/v1/changes/{id}/.

Commanders and auditors only (403 for other roles); each sees the records of their units and the site-wide ones, and
a record of another unit answers 404. Cursor pagination: the log only grows, so pages never shift under a reader.
"""

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers
from rest_framework.pagination import CursorPagination

from muster.core import changelog
from muster.core.api import ScopedViewSet, error_responses, holds_role
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
        slug_field="code", read_only=True, help_text="Code of the unit the change concerns; null if site-wide"
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
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


CanReadChanges = holds_role(
    changelog.READERS, code="not_change_reader", message="The change log is for commanders and auditors."
)


@extend_schema_view(
    list=extend_schema(
        summary="Changes to non-custody records in the caller's units (commanders, auditors), newest first",
        responses={200: ChangeRecordSerializer, **error_responses(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="One change record", responses={200: ChangeRecordSerializer, **error_responses(401, 403, 404)}
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
