"""Custody reads beyond items and the ledger: recalls (items to take back) and the report of commander overrides."""

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import permissions, serializers

from muster.core.api import ScopedViewSet, error_responses, holds_role
from muster.core.api_input import ID_PARAMETER
from muster.custody import filters, queries
from muster.custody.api import ItemBriefSerializer, LedgerEventSerializer, with_parties
from muster.custody.models import LedgerEvent, Recall
from muster.members.models import Account


class RecallSerializer(serializers.ModelSerializer):
    item = ItemBriefSerializer(read_only=True)
    home_armory = serializers.CharField(source="item.home_armory.code", read_only=True)
    member = serializers.SlugRelatedField(
        slug_field="member_no", read_only=True, help_text="The holder when the recall was raised"
    )
    member_name = serializers.CharField(source="member.full_name", read_only=True)
    resolved_by_event = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="Seq of the return event that resolved it; null while open"
    )

    class Meta:
        model = Recall
        fields = [
            "id", "item", "home_armory", "member", "member_name", "reason", "detail", "raised_at", "resolved_at",
            "resolved_by_event",
        ]  # fmt: skip
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="Recalls of items homed in the caller's units (open ones unless ?state=resolved|all)",
        responses={200: RecallSerializer, **error_responses(400, 401)},
    ),
    retrieve=extend_schema(
        summary="One recall", parameters=[ID_PARAMETER], responses={200: RecallSerializer, **error_responses(401, 404)}
    ),
)
class RecallViewSet(ScopedViewSet):
    serializer_class = RecallSerializer
    filterset_class = filters.RecallFilterSet

    def scoped_queryset(self, account):
        return (
            queries.visible_recalls(account)
            .select_related("item__item_type", "item__home_armory", "member")
            .order_by("-raised_at", "-pk")
        )

    def filter_queryset(self, queryset):
        # A single recall is found whatever its state; the "open by default" filter is for lists.
        return super().filter_queryset(queryset) if self.action == "list" else queryset


class OverrideNoteSerializer(serializers.Serializer):
    commander = serializers.CharField(allow_null=True, help_text="Username of the countersigning commander")
    codes = serializers.ListField(child=serializers.CharField(), help_text="The refusals overridden")
    reason = serializers.CharField()


class OverrideRowSerializer(serializers.Serializer):
    """One issue made on a commander's override: the ledger event, and the countersign spelled out."""

    event = LedgerEventSerializer(source="*", read_only=True)
    override = serializers.SerializerMethodField()

    @extend_schema_field(OverrideNoteSerializer)
    def get_override(self, event) -> dict:
        override = event.data.get("override", {})
        usernames = self.context.get("usernames", {})
        return {
            "commander": usernames.get(override.get("commander")),
            "codes": override.get("codes", []),
            "reason": override.get("reason", ""),
        }


@extend_schema_view(
    list=extend_schema(
        summary="Issues made on a commander's override (commanders and auditors), newest first",
        description="403: not_commander_or_auditor.",
        responses={200: OverrideRowSerializer, **error_responses(400, 401, 403)},
    ),
)
class OverrideReportViewSet(ScopedViewSet):
    permission_classes = [
        permissions.IsAuthenticated,
        holds_role(
            queries.OVERRIDE_READERS,
            code="not_commander_or_auditor",
            message="The overrides report is for commanders and auditors.",
        ),
    ]
    serializer_class = OverrideRowSerializer
    model = LedgerEvent

    def scoped_queryset(self, account):
        return with_parties(queries.visible_override_events(account)).order_by("-seq")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["usernames"] = getattr(self, "_usernames", {})
        return context

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            # One read for the commanders' names of the whole page.
            ids = {event.data["override"].get("commander") for event in page}
            self._usernames = dict(Account.objects.filter(pk__in=ids).values_list("pk", "username"))
        return page
