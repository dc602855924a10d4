"""Counts in the API: start, scan, submit, sign, resolve discrepancies (split from api_controls for size).

Thin like the rest: the scoped lookups in custody.queries find the count among the caller's units (else 404), the
services in counts.py decide and raise the domain errors.
"""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import parsers, permissions, serializers, status
from rest_framework.response import Response

from muster.core.api import ScopedViewSet, error_responses, require_role
from muster.core.api_input import ID_PARAMETER, JSONBodySerializer
from muster.core.errors import NotFound
from muster.custody import counts, queries
from muster.custody.api import ItemBriefSerializer
from muster.custody.api_controls import (
    _LIST_ERRORS,
    _RETRIEVE_ERRORS,
    _WRITE_ERRORS,
    CaseActionView,
    Counters,
    Signers,
    _detail_response,
)
from muster.custody.count_models import Count, CountScan, Discrepancy

# --- counts --------------------------------------------------------------------------------------------------------


class ScanSerializer(serializers.ModelSerializer):
    item = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="Id of the item the code matched; null: none"
    )

    class Meta:
        model = CountScan
        fields = ["id", "code", "item", "scanned_at", "rescan"]
        read_only_fields = fields


class DiscrepancySerializer(serializers.ModelSerializer):
    item = ItemBriefSerializer(read_only=True, allow_null=True)
    count = serializers.PrimaryKeyRelatedField(read_only=True)
    # Blank until the discrepancy is resolved (the schema's enum would otherwise leave "" out).
    resolution = serializers.ChoiceField(
        choices=Discrepancy.Resolution.choices, allow_blank=True, read_only=True, help_text="Blank: not resolved yet"
    )
    loss_case = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The loss case it became, if any"
    )
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    found_scan = ScanSerializer(
        read_only=True, allow_null=True, help_text="The scan that found a missing item again, when it was found"
    )

    class Meta:
        model = Discrepancy
        fields = [
            "id",
            "count",
            "kind",
            "item",
            "code",
            "resolution",
            "explanation",
            "loss_case",
            "found_scan",
            "resolved_by",
            "resolved_at",
        ]
        read_only_fields = fields


class CountSerializer(serializers.ModelSerializer):
    armory = serializers.SlugRelatedField(slug_field="code", read_only=True)
    counter = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null until someone starts the count"
    )
    signed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    expected = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text="Ids of the items the ledger placed there"
    )
    scans = ScanSerializer(many=True, read_only=True)
    discrepancies = DiscrepancySerializer(many=True, read_only=True)

    class Meta:
        model = Count
        fields = [
            "id",
            "armory",
            "status",
            "reason",
            "due_at",
            "counter",
            "started_at",
            "expected",
            "submitted_at",
            "signed_by",
            "signed_at",
            "scans",
            "discrepancies",
        ]
        read_only_fields = fields


class CountFilterSet(django_filters.FilterSet):
    armory = django_filters.CharFilter(field_name="armory__code", label="Armory code")

    class Meta:
        model = Count
        fields = ["status"]


class StartSerializer(JSONBodySerializer):
    armory = serializers.CharField(max_length=32, help_text="Code of the armory to count")
    reason = serializers.CharField(required=False, default="on demand", max_length=200)


class CodeSerializer(JSONBodySerializer):
    code = serializers.CharField(max_length=80, help_text="What the scanner read (an item's serial number)")


class ResolveSerializer(JSONBodySerializer):
    explanation = serializers.CharField(max_length=5000, help_text="What was found, or what happened")
    scanned_code = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=80,
        help_text="Missing items only: the item's serial number, scanned from the item in hand (it is found only so)",
    )
    open_loss_case = serializers.BooleanField(default=False, help_text="Missing items only: open a loss case")
    place = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


def with_results(counts_qs):
    return counts_qs.select_related("armory", "counter", "signed_by").prefetch_related(
        "scans",
        Prefetch(
            "discrepancies", queryset=Discrepancy.objects.select_related("item__item_type", "resolved_by", "found_scan")
        ),
    )


def count_response(request, pk: int, code: int = status.HTTP_200_OK) -> Response:
    return _detail_response(request, CountSerializer, with_results(Count.objects), "api:count-detail", pk, code)


@extend_schema_view(
    list=extend_schema(
        summary="Counts of the caller's armories, newest first, with scans and discrepancies",
        responses={200: CountSerializer, **_LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One count", parameters=[ID_PARAMETER], responses={200: CountSerializer, **_RETRIEVE_ERRORS}
    ),
)
class CountViewSet(ScopedViewSet):
    serializer_class = CountSerializer
    filterset_class = CountFilterSet
    parser_classes = [parsers.JSONParser]

    def get_permissions(self):
        roles = [Counters] if self.action == "create" else []
        return [permission() for permission in [permissions.IsAuthenticated, *roles]]

    def scoped_queryset(self, account):
        return with_results(queries.visible_counts(account)).order_by("-started_at", "-pk")

    @extend_schema(
        summary="Start counting an armory (armorers and duty officers); fixes what should be on its shelves",
        description="A count already due there is started. 403: not_counter. 404: armory_not_found. "
        "409: count_in_progress, same_counter (they did the previous count).",
        request=StartSerializer,
        responses={201: CountSerializer, **_WRITE_ERRORS},
    )
    def create(self, request):
        body = StartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        armory = queries.find_armory(request.user, body.validated_data["armory"])
        count = counts.start(armory=armory, actor=request.user, reason=body.validated_data["reason"])
        return count_response(request, count.pk, status.HTTP_201_CREATED)


class CountActionView(CaseActionView):
    serializer_class = CountSerializer
    queryset = Count.objects.none()


class ScanView(CountActionView):
    @extend_schema(
        operation_id="counts_scan",
        tags=["counts"],
        parameters=[ID_PARAMETER],
        summary="Record one scanned code (the counter only)",
        description="400: invalid, scan_empty. 403: not_the_counter. 404: count_not_found. 409: count_not_open.",
        request=CodeSerializer,
        responses={201: ScanSerializer, **_WRITE_ERRORS},
    )
    def post(self, request, pk):
        count = queries.find_count(request.user, pk)
        code = self.validated(CodeSerializer)["code"]
        scan = counts.scan(count=count, code=code, actor=request.user)
        return Response(ScanSerializer(scan).data, status=status.HTTP_201_CREATED)


class SubmitView(CountActionView):
    @extend_schema(
        operation_id="counts_submit",
        tags=["counts"],
        parameters=[ID_PARAMETER],
        summary="Close scanning and list the discrepancies (the counter only)",
        description="Closes the count at once where the armory needs no second signature. "
        "403: not_the_counter. 404: count_not_found. 409: count_not_open.",
        request=None,
        responses={200: CountSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request, pk):
        count = queries.find_count(request.user, pk)
        counts.submit(count=count, actor=request.user)
        return count_response(request, count.pk)


class SignView(CountActionView):
    permission_classes = [permissions.IsAuthenticated, Signers]

    @extend_schema(
        operation_id="counts_sign",
        tags=["counts"],
        parameters=[ID_PARAMETER],
        summary="Sign a submitted count as the second person (armorers, commanders, duty officers)",
        description="403: not_counter. 404: count_not_found. 409: count_not_submitted, same_signer.",
        request=None,
        responses={200: CountSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request, pk):
        count = queries.find_count(request.user, pk)
        counts.sign(count=count, actor=request.user)
        return count_response(request, count.pk)


class ResolveView(CountActionView):
    permission_classes = [permissions.IsAuthenticated, Signers]
    serializer_class = DiscrepancySerializer
    queryset = Discrepancy.objects.none()

    @extend_schema(
        operation_id="counts_discrepancies_resolve",
        tags=["counts"],
        parameters=[ID_PARAMETER],
        summary="Resolve a discrepancy: found/explained, or (a missing item) a loss case",
        description="A missing item is found only by scanning it back (scanned_code), else it becomes a loss case "
        "(open_loss_case). 400: invalid, explanation_missing, not_missing, found_or_loss_case, scan_not_the_item. "
        "403: not_counter, not_loss_reporter. 404: discrepancy_not_found. 409: already_resolved, found_needs_rescan, "
        "item_already_lost.",
        request=ResolveSerializer,
        responses={200: DiscrepancySerializer, **_WRITE_ERRORS},
    )
    def post(self, request, pk):
        discrepancy = (
            Discrepancy.objects.filter(pk=queries.as_id(pk), count__in=queries.visible_counts(request.user))
            .select_related("count__armory__unit")
            .first()
        )
        if discrepancy is None:
            raise NotFound(f"No discrepancy {pk} in your units.", code="discrepancy_not_found")
        require_role(
            request.user,
            discrepancy.count.armory.unit,
            counts.SIGNERS,
            code="not_counter",
            detail=f"Only staff of {discrepancy.count.armory.unit.code} resolve its counts.",
        )
        data = self.validated(ResolveSerializer)
        counts.resolve(discrepancy=discrepancy, actor=request.user, **data)
        resolved = Discrepancy.objects.select_related("item__item_type", "resolved_by", "found_scan").get(
            pk=discrepancy.pk
        )
        return Response(DiscrepancySerializer(resolved).data)
