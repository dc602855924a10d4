"""Custody controls in the API: loss cases and maintenance (send, receive, the inspection queue); counts are in
api_counts.

Thin, like custody.api_actions: serializers check the shape, the scoped querysets below find things within the caller's
units (else 404), the services in losses.py, maintenance.py and counts.py decide and raise the domain errors.
The lookups at the top are shared with the `muster loss` and `muster count` commands.
"""

import django_filters
from django.db.models import Q
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, parsers, permissions, serializers, status
from rest_framework.response import Response

from muster.core.api import HoldsRole, ScopedViewSet, error_responses, holds_role, require_role
from muster.core.api_input import ID_PARAMETER, AwareDateTimeField, JSONBodySerializer, code_field, id_field
from muster.core.errors import NotPermitted
from muster.custody import counts, losses, maintenance, queries
from muster.custody.api import ApiItemFilterSet, ItemBriefSerializer, ItemSerializer, LedgerEventSerializer
from muster.custody.api_actions import CustodyActionView, ItemRefField
from muster.custody.models import Item, LossCase
from muster.members import scope
from muster.members.models import Account, Role

_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409)
_LIST_ERRORS = error_responses(400, 401)
_RETRIEVE_ERRORS = error_responses(401, 404)

LossReporters = holds_role(
    losses.REPORTERS,
    code="not_loss_reporter",
    message="Loss cases are handled by armorers, commanders and duty officers.",
)
Armorers = holds_role({Role.ARMORER}, code="not_armorer", message="This needs the armorer role.")
Counters = holds_role(counts.COUNTERS, code="not_counter", message="Counts are made by armorers and duty officers.")
Signers = holds_role(
    counts.SIGNERS, code="not_counter", message="Counts are signed by armorers, commanders and duty officers."
)


def require_role_somewhere(account: Account, permission: type[HoldsRole]) -> None:
    """The commands' counterpart of a permission class above: 403 / exit 4 before any lookup or input check."""
    if not (scope.is_global(account) or scope.unit_paths(account, permission.roles)):
        raise NotPermitted(permission.message, code=permission.code)


# --- loss cases ----------------------------------------------------------------------------------------------------


class LossCaseSerializer(serializers.ModelSerializer):
    item = ItemBriefSerializer(read_only=True, allow_null=True, help_text="The item; null for a lot quantity")
    lot = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True, help_text="The lot; null for an item")
    lot_number = serializers.CharField(source="lot.lot_number", read_only=True, allow_null=True, default=None)
    quantity = serializers.IntegerField(read_only=True, allow_null=True, help_text="Of a lot: how much was lost")
    home_armory = serializers.SerializerMethodField()
    last_member = serializers.SlugRelatedField(
        slug_field="member_no",
        read_only=True,
        allow_null=True,
        help_text="The member who held it when it was lost (frozen); null: it was in an armory",
    )
    last_armory = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True, help_text="The armory it was lost from; null: a member"
    )
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    opened_event = serializers.PrimaryKeyRelatedField(read_only=True, help_text="Seq of the `loss` ledger event")
    closed_event = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="Seq of the `recover` ledger event; null while the case is open"
    )

    class Meta:
        model = LossCase
        fields = [
            "id",
            "item",
            "lot",
            "lot_number",
            "quantity",
            "recovered_quantity",
            "home_armory",
            "kind",
            "status",
            "last_member",
            "last_armory",
            "circumstances",
            "occurred_at",
            "place",
            "police_report_no",
            "opened_at",
            "opened_by",
            "opened_event",
            "deadline",
            "authorities_notified_at",
            "escalated_at",
            "closed_at",
            "closed_by",
            "closed_event",
            "recovery_notes",
        ]
        read_only_fields = fields

    def get_home_armory(self, case: LossCase) -> str:
        return (case.item or case.lot).home_armory.code


class LossCaseFilterSet(django_filters.FilterSet):
    armory = django_filters.CharFilter(method="homed_in", label="Home armory code of the item or lot")

    class Meta:
        model = LossCase
        fields = ["status", "kind"]

    def homed_in(self, queryset, name, value):
        return queryset.filter(Q(item__home_armory__code=value) | Q(lot__home_armory__code=value))


class OpenCaseSerializer(JSONBodySerializer):
    item = ItemRefField(help_text="The item's id (number) or serial number (string)")
    item_type = id_field(required=False, help_text="Needed when a serial repeats")
    # Text checked by the service (400 unknown_kind); the schema lists the kinds (see core.api_input.code_field).
    kind = code_field(
        LossCase.Kind.values,
        component="LossKindCode",
        max_length=16,
        help_text="What happened (400 unknown_kind otherwise)",
    )
    circumstances = serializers.CharField(max_length=5000)
    occurred_at = AwareDateTimeField(help_text="When it happened, as far as known")
    place = serializers.CharField(max_length=300)
    police_report_no = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


class ReportSerializer(JSONBodySerializer):
    police_report_no = serializers.CharField(max_length=64, help_text="The police (or authority) report number")


class RecoverSerializer(JSONBodySerializer):
    armory = serializers.CharField(max_length=32, help_text="Code of the armory the item comes back into")
    condition = serializers.ChoiceField(choices=Item.Condition.choices, required=False, help_text="Default: unchanged")
    notes = serializers.CharField(max_length=2000, help_text="How and where it was recovered")


def with_case_parties(cases):
    return cases.select_related(
        "item__item_type",
        "item__home_armory",
        "lot__item_type",
        "lot__home_armory",
        "last_member",
        "last_armory",
        "opened_by",
        "closed_by",
    )


def _detail_response(request, serializer_class, queryset, route: str, pk: int, code: int) -> Response:
    """The object as its detail endpoint shows it; a Location header when it was just created."""
    data = serializer_class(queryset.get(pk=pk), context={"request": request}).data
    created = code == status.HTTP_201_CREATED
    headers = {"Location": reverse(route, kwargs={"pk": pk})} if created else None
    return Response(data, status=code, headers=headers)


def case_response(request, pk: int, code: int = status.HTTP_200_OK) -> Response:
    return _detail_response(
        request, LossCaseSerializer, with_case_parties(LossCase.objects), "api:loss-case-detail", pk, code
    )


@extend_schema_view(
    list=extend_schema(
        summary="Loss cases of items homed in the caller's units, newest first",
        responses={200: LossCaseSerializer, **_LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One loss case", parameters=[ID_PARAMETER], responses={200: LossCaseSerializer, **_RETRIEVE_ERRORS}
    ),
)
class LossCaseViewSet(ScopedViewSet):
    serializer_class = LossCaseSerializer
    filterset_class = LossCaseFilterSet
    parser_classes = [parsers.JSONParser]

    def get_permissions(self):
        roles = [LossReporters] if self.action == "create" else []
        return [permission() for permission in [permissions.IsAuthenticated, *roles]]

    def scoped_queryset(self, account):
        return with_case_parties(queries.visible_loss_cases(account)).order_by("-opened_at", "-pk")

    @extend_schema(
        summary="Report an item lost, stolen, damaged or unaccounted for (armorers, commanders, duty officers)",
        description="Writes a `loss` ledger event; the item stays with its last custodian, who may draw nothing "
        "more until the case closes. 400: invalid, circumstances_missing, occurred_in_future, serial_ambiguous. "
        "403: not_loss_reporter. 404: item_not_found. 409: item_already_lost.",
        request=OpenCaseSerializer,
        responses={201: LossCaseSerializer, **_WRITE_ERRORS},
    )
    def create(self, request):
        body = OpenCaseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        item = CustodyActionView(request=request).find_item(data)  # the same id-or-serial lookup as issue
        case = losses.open_case(
            item=item,
            kind=data["kind"],
            circumstances=data["circumstances"],
            occurred_at=data["occurred_at"],
            place=data["place"],
            police_report_no=data["police_report_no"],
            actor=request.user,
        )
        return case_response(request, case.pk, status.HTTP_201_CREATED)


class CaseActionView(generics.GenericAPIView):
    """POST /loss-cases/{id}/<action>: the case is looked up among the caller's (else 404), then the role."""

    parser_classes = [parsers.JSONParser]
    serializer_class = LossCaseSerializer
    queryset = LossCase.objects.none()  # for the schema; lookups go through find_loss_case

    def validated(self, serializer_class) -> dict:
        body = serializer_class(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data


class ReportView(CaseActionView):
    permission_classes = [permissions.IsAuthenticated, LossReporters]

    @extend_schema(
        operation_id="loss_cases_report",
        tags=["loss-cases"],
        parameters=[ID_PARAMETER],
        summary="Record the report to the police or authorities (stops the escalation clock)",
        description="400: invalid, report_no_missing. 403: not_loss_reporter. 404: loss_case_not_found. "
        "409: case_closed.",
        request=ReportSerializer,
        responses={200: LossCaseSerializer, **_WRITE_ERRORS},
    )
    def post(self, request, pk):
        case = queries.find_loss_case(request.user, pk)
        unit = losses.home_of(case).unit  # the item's home unit, or the lot's: a lot's case has no item
        require_role(
            request.user,
            unit,
            losses.REPORTERS,
            code="not_loss_reporter",
            detail=f"Only staff of {unit.code} handle this case.",
        )
        data = self.validated(ReportSerializer)
        losses.record_report_to_authorities(case=case, police_report_no=data["police_report_no"], actor=request.user)
        return case_response(request, case.pk)


class RecoverView(CaseActionView):
    permission_classes = [permissions.IsAuthenticated, Armorers]

    @extend_schema(
        operation_id="loss_cases_recover",
        tags=["loss-cases"],
        parameters=[ID_PARAMETER],
        summary="The item is back: a `recover` ledger event brings it into an armory and closes the case",
        description="400: invalid, notes_missing, unknown_condition. 403: not_armorer (of the receiving armory's "
        "unit). 404: loss_case_not_found, armory_not_found. 409: case_closed.",
        request=RecoverSerializer,
        responses={200: LossCaseSerializer, **_WRITE_ERRORS},
    )
    def post(self, request, pk):
        case = queries.find_loss_case(request.user, pk)
        data = self.validated(RecoverSerializer)
        armory = queries.find_armory(request.user, data["armory"])
        losses.recover(
            case=case, armory=armory, actor=request.user, notes=data["notes"], condition=data.get("condition")
        )
        return case_response(request, case.pk)


# --- maintenance ---------------------------------------------------------------------------------------------------


class SendSerializer(JSONBodySerializer):
    item = ItemRefField(help_text="The item's id (number) or serial number (string)")
    item_type = id_field(required=False, help_text="Needed when a serial repeats")
    workshop = serializers.CharField(max_length=32, help_text="Code of the workshop (an armory of kind workshop)")
    reason = serializers.CharField(max_length=2000, help_text="What needs doing")


class ReceiveSerializer(JSONBodySerializer):
    item = ItemRefField(help_text="The item's id (number) or serial number (string)")
    item_type = id_field(required=False, help_text="Needed when a serial repeats")
    condition = serializers.ChoiceField(choices=Item.Condition.choices, help_text="Its condition after the work")
    notes = serializers.CharField(max_length=2000, allow_blank=True, help_text="What was done")
    armory = serializers.CharField(required=False, max_length=32, help_text="Store it comes back to (default: home)")
    inspected = serializers.BooleanField(default=True, help_text="Counts as an inspection (sets last_inspected_on)")


class MaintenanceSendView(CustodyActionView):
    permission_classes = [permissions.IsAuthenticated, Armorers]
    request_serializer = SendSerializer

    @extend_schema(
        operation_id="custody_maintenance_send",
        tags=["custody"],
        summary="Send an item from its store to a workshop",
        description="Nothing is issued from a workshop (409 item_in_maintenance). 409: item_not_in_armory, "
        "item_in_maintenance, item_lost. 400: invalid, not_a_workshop, reason_missing. 403: not_armorer. "
        "404: item_not_found, armory_not_found (the workshop).",
        request=SendSerializer,
        responses={201: LedgerEventSerializer, **_WRITE_ERRORS},
    )
    def post(self, request):
        data = self.validated(request)
        item = self.find_item(data)
        workshop = queries.find_armory(request.user, data["workshop"])
        return self.created(maintenance.send(item=item, workshop=workshop, actor=request.user, reason=data["reason"]))


class MaintenanceReceiveView(CustodyActionView):
    permission_classes = [permissions.IsAuthenticated, Armorers]
    request_serializer = ReceiveSerializer

    @extend_schema(
        operation_id="custody_maintenance_receive",
        tags=["custody"],
        summary="Take an item back from the workshop into a store, with its condition after the work",
        description="409: item_not_in_maintenance. 400: invalid, not_a_store, unknown_condition. 403: not_armorer "
        "(of the receiving store). 404: item_not_found, armory_not_found.",
        request=ReceiveSerializer,
        responses={201: LedgerEventSerializer, **_WRITE_ERRORS},
    )
    def post(self, request):
        data = self.validated(request)
        item = self.find_item(data)
        armory = queries.find_armory(request.user, data["armory"]) if data.get("armory") else None
        event = maintenance.receive(
            item=item,
            actor=request.user,
            condition=data["condition"],
            notes=data["notes"],
            armory=armory,
            inspected=data["inspected"],
        )
        return self.created(event)


class InspectionDueSerializer(ItemSerializer):
    """An item due for inspection: never inspected, or last inspected longer ago than its type's interval."""

    inspection_interval_days = serializers.IntegerField(source="item_type.inspection_interval_days", read_only=True)

    class Meta(ItemSerializer.Meta):
        fields = [*ItemSerializer.Meta.fields, "last_inspected_on", "inspection_interval_days"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="Items due for inspection among those the caller sees (never inspected first)",
        responses={200: InspectionDueSerializer, **_LIST_ERRORS},
    ),
)
class InspectionReportViewSet(ScopedViewSet):
    serializer_class = InspectionDueSerializer
    filterset_class = ApiItemFilterSet

    def scoped_queryset(self, account):
        items = queries.visible_items(account).select_related(
            "item_type", "home_armory", "holder_armory", "holder_member"
        )
        return maintenance.due_for_inspection(items)
