"""The unit dashboard and the key and seal register, as JSON: the same numbers as the web pages (custody.dashboard,
custody.key_register). Staff of the unit or a unit above it; any other unit answers 404 unit_not_found."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from muster.core.api import error_responses
from muster.core.api_input import StrictLimitOffsetPagination, query_value
from muster.core.errors import Invalid
from muster.custody import dashboard, key_register
from muster.custody.api import HolderSerializer, ItemBriefSerializer, ItemTypeBriefSerializer, holder_data
from muster.custody.api_reports import RecallSerializer
from muster.custody.count_models import Count
from muster.custody.models import Item, LedgerEvent, LossCase

# --- the dashboard ---------------------------------------------------------------------------------------------------


class StatesSerializer(serializers.Serializer):
    """Items by state. The five states exclude each other and add up to `total`."""

    total = serializers.IntegerField()
    in_armory = serializers.IntegerField(help_text="In a store, not reported lost")
    issued = serializers.IntegerField(help_text="Held by a member, not yet due back, not reported lost")
    in_maintenance = serializers.IntegerField(help_text="In a workshop, not reported lost")
    overdue = serializers.IntegerField(help_text="Held by a member past the due-back time, not reported lost")
    lost = serializers.IntegerField(help_text="With an open loss case, whoever holds it on the books")
    held_by_members = serializers.IntegerField(help_text="Held by members, lost or not: today's point of items_out")


# Plain strings for the choice fields below: the same choice sets already name their enums in the Count, LossCase
# and LedgerEvent components, and a second component using them would make drf-spectacular name them by hash.


class OpenCountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text=f"One of {', '.join(Count.Status.values)}")


class ArmoryPanelSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text='"store" or "workshop"')
    unit = serializers.CharField(source="unit.code")
    states = StatesSerializer()
    last_count_at = serializers.DateTimeField(allow_null=True, help_text="When the last count was signed")
    next_count_due = serializers.DateTimeField(
        allow_null=True, help_text="Last signed count + the armory's count period; null: never counted"
    )
    count_frequency = serializers.CharField()
    count_due = serializers.BooleanField(help_text="A count is due now (made due, or the schedule says so)")
    open_count = serializers.SerializerMethodField()

    @extend_schema_field(OpenCountSerializer(allow_null=True))
    def get_open_count(self, armory) -> dict | None:
        if armory.open_count_id is None:
            return None
        return {"id": armory.open_count_id, "status": armory.open_count_status}


class OverdueItemSerializer(serializers.ModelSerializer):
    item_type = ItemTypeBriefSerializer(read_only=True)
    home_armory = serializers.CharField(source="home_armory.code", read_only=True)
    member = serializers.CharField(source="holder_member.member_no", read_only=True, help_text="The holder")
    member_name = serializers.CharField(source="holder_member.full_name", read_only=True)

    class Meta:
        model = Item
        fields = ["id", "serial_number", "item_type", "home_armory", "member", "member_name", "due_at"]
        read_only_fields = fields


class OverdueLotSerializer(serializers.Serializer):
    """A member's quantity of a lot, past its due-back time."""

    lot_number = serializers.CharField(source="lot.lot_number")
    item_type = ItemTypeBriefSerializer(source="lot.item_type")
    home_armory = serializers.CharField(source="lot.home_armory.code")
    member = serializers.CharField(source="holder_member.member_no", help_text="The holder")
    member_name = serializers.CharField(source="holder_member.full_name")
    quantity = serializers.IntegerField()
    due_at = serializers.DateTimeField()


class LossCaseRowSerializer(serializers.ModelSerializer):
    item = ItemBriefSerializer(read_only=True, allow_null=True, help_text="The item; null for a lot quantity")
    lot_number = serializers.CharField(source="lot.lot_number", read_only=True, allow_null=True, default=None)
    quantity = serializers.IntegerField(read_only=True, allow_null=True, help_text="Of a lot: how much was lost")
    home_armory = serializers.SerializerMethodField()
    last_member = serializers.SlugRelatedField(slug_field="member_no", read_only=True, allow_null=True)
    last_armory = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    kind = serializers.CharField(read_only=True, help_text=f"One of {', '.join(LossCase.Kind.values)}")
    status = serializers.CharField(read_only=True, help_text=f"One of {', '.join(LossCase.Status.values)}")
    seconds_to_deadline = serializers.SerializerMethodField(
        help_text="Seconds left to report it to the authorities; negative: overdue by that much; null once reported"
    )

    class Meta:
        model = LossCase
        fields = [
            "id", "item", "lot_number", "quantity", "home_armory", "kind", "status", "last_member", "last_armory",
            "opened_at", "deadline", "authorities_notified_at", "seconds_to_deadline",
        ]  # fmt: skip
        read_only_fields = fields

    def get_home_armory(self, case) -> str:
        return (case.item or case.lot).home_armory.code

    def get_seconds_to_deadline(self, case) -> int | None:
        return dashboard.seconds_to_deadline(case, self.context["now"])


class DayPointSerializer(serializers.Serializer):
    date = serializers.DateField(source="day")
    out = serializers.IntegerField(help_text="Items held by members at the end of the day (today: now)")


class UnitBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()


class DashboardSerializer(serializers.Serializer):
    unit = UnitBriefSerializer()
    generated_at = serializers.DateTimeField(source="now")
    days = serializers.IntegerField(help_text="Length of items_out")
    states = StatesSerializer()
    armories = ArmoryPanelSerializer(many=True, help_text="Every armory of the unit and the units below it")
    overdue = OverdueItemSerializer(many=True, help_text=f"The {dashboard.LIST_LIMIT} most overdue")
    overdue_total = serializers.IntegerField()
    overdue_lots = OverdueLotSerializer(
        many=True, help_text=f"Members' lot quantities past due: the {dashboard.LIST_LIMIT} most overdue"
    )
    overdue_lots_total = serializers.IntegerField()
    recalls = RecallSerializer(many=True, help_text=f"The {dashboard.LIST_LIMIT} oldest open recalls")
    recalls_total = serializers.IntegerField()
    loss_cases = LossCaseRowSerializer(many=True, help_text=f"The {dashboard.LIST_LIMIT} nearest deadlines")
    loss_cases_total = serializers.IntegerField()
    items_out = DayPointSerializer(many=True, source="series", help_text="Oldest day first; the last is today")


class UnitDashboardView(APIView):
    @extend_schema(
        operation_id="units_dashboard_retrieve",
        tags=["units"],
        summary="A unit's dashboard: items by state, armories with their counts, overdue, recalls, loss cases and "
        "items out per day",
        description="Staff of the unit or a unit above it. 404: unit_not_found. 400: days_invalid.",
        parameters=[
            OpenApiParameter(
                "days", OpenApiTypes.INT, enum=list(dashboard.CHART_DAYS), description="Length of items_out (30)"
            )
        ],
        responses={200: DashboardSerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request, code):
        unit = dashboard.find_unit(request.user, code)
        days = query_value(request, "days")
        days = str(dashboard.CHART_DAYS[0]) if days is None else days
        if days not in {str(choice) for choice in dashboard.CHART_DAYS}:
            raise Invalid(f"days is one of {', '.join(map(str, dashboard.CHART_DAYS))}.", code="days_invalid")
        board = dashboard.unit_dashboard(unit, days=int(days))
        return Response(DashboardSerializer(board, context={"now": board.now, "request": request}).data)


# --- the key and seal register ---------------------------------------------------------------------------------------


class ArmoryBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class HandoverSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text='"issue", "transfer" or "return"')
    from_holder = serializers.SerializerMethodField()
    to_holder = serializers.SerializerMethodField()
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = LedgerEvent
        fields = ["seq", "kind", "recorded_at", "from_holder", "to_holder", "actor", "due_at"]
        read_only_fields = fields

    @extend_schema_field(HolderSerializer(allow_null=True))
    def get_from_holder(self, event) -> dict | None:
        return holder_data(event.from_kind, event.from_armory, event.from_member)

    @extend_schema_field(HolderSerializer)
    def get_to_holder(self, event) -> dict:
        return holder_data(event.to_kind, event.to_armory, event.to_member)


class HandoverCountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text=f"One of {', '.join(Count.Status.values)}")
    reason = serializers.CharField()
    triggered = serializers.BooleanField(help_text="Made due by that handover; false: a count was already open")


class KeySerializer(serializers.ModelSerializer):
    item_type = ItemTypeBriefSerializer(read_only=True)
    home_armory = serializers.CharField(source="home_armory.code", read_only=True)
    opens_armory = ArmoryBriefSerializer(read_only=True, allow_null=True, help_text="The armory it opens")
    holder = serializers.SerializerMethodField()
    holder_since = serializers.DateTimeField(read_only=True, help_text="Time of its last event that moved it")
    overdue = serializers.SerializerMethodField()
    last_handover_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Its last issue or transfer"
    )
    recent_handovers = HandoverSerializer(
        many=True, read_only=True, help_text=f"Its last {key_register.RECENT_HANDOVERS} issues, transfers and returns"
    )
    handover_count = serializers.SerializerMethodField(
        help_text="The count of the armory it opens that covers its last handover"
    )

    class Meta:
        model = Item
        fields = [
            "id", "serial_number", "item_type", "home_armory", "opens_armory", "holder", "holder_since", "due_at",
            "overdue", "last_handover_at", "recent_handovers", "handover_count",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(HolderSerializer)
    def get_holder(self, key) -> dict:
        return holder_data(key.holder_kind, key.holder_armory, key.holder_member)

    def get_overdue(self, key) -> bool:
        return bool(key.due_at and key.due_at < self.context["now"])

    @extend_schema_field(HandoverCountSerializer(allow_null=True))
    def get_handover_count(self, key) -> dict | None:
        if not key.count_id:
            return None
        return {"id": key.count_id, "status": key.count_status, "reason": key.count_reason,
                "triggered": key.count_triggered}  # fmt: skip


class KeyListView(generics.ListAPIView):
    serializer_class = KeySerializer
    pagination_class = StrictLimitOffsetPagination
    filter_backends: list = []

    @extend_schema(
        operation_id="keys_list",
        tags=["keys"],
        summary="The key and seal register: keys and items that open an armory, with holder, handovers and the "
        "count the last handover made due",
        description="Keys and seals homed in the caller's units (staff roles), narrowed to ?unit=<code> and the "
        "units below it. 404: unit_not_found.",
        parameters=[OpenApiParameter("unit", OpenApiTypes.STR, description="Unit code")],
        responses={200: KeySerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Item.objects.none()
        code = query_value(self.request, "unit")
        unit = dashboard.find_unit(self.request.user, code) if code is not None else None
        items = key_register.staff_items(self.request.user, unit)
        return key_register.ordered(key_register.register(items))

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)  # the settings always paginate (LimitOffsetPagination)
        return key_register.describe(page)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}
