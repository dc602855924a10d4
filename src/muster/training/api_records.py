"""Training records API: what a member holds (GET /members/{no}/qualifications/), prior service recognised by a
commander (POST /members/{no}/qualifications/prior-service) and the report of qualifications expiring soon."""

from datetime import date, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.response import Response

from muster.core.api import error_responses
from muster.core.api_input import JSONBodySerializer, StrictLimitOffsetPagination, check_query
from muster.core.errors import NotFound
from muster.members import scope
from muster.members.api import MemberRecordMixin
from muster.members.models import Member
from muster.training import queries, services
from muster.training.api import HoldsStaffRole
from muster.training.models import MemberQualification, Qualification

# A qualification expiring within this many days shows as "expiring" rather than "valid".
EXPIRING_WITHIN_DAYS = 30


class GrantSerializer(serializers.ModelSerializer):
    qualification = serializers.SlugRelatedField(slug_field="code", read_only=True)
    qualification_name = serializers.CharField(source="qualification.name", read_only=True)
    session = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The training session; null for prior service"
    )
    granted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = MemberQualification
        fields = [
            "id", "qualification", "qualification_name", "granted_on", "expires_on", "source", "session", "evidence",
            "granted_by", "recorded_at",
        ]  # fmt: skip
        read_only_fields = fields


class HeldQualificationSerializer(serializers.Serializer):
    qualification = serializers.CharField(help_text="Qualification code")
    name = serializers.CharField()
    expires_on = serializers.DateField(help_text="The latest expiry among the member's grants")
    status = serializers.ChoiceField(
        choices=["valid", "expiring", "expired"], help_text=f"expiring: within {EXPIRING_WITHIN_DAYS} days"
    )


class MemberQualificationsSerializer(serializers.Serializer):
    member = serializers.CharField(help_text="Member number")
    qualifications = HeldQualificationSerializer(many=True, help_text="One row per qualification ever held")
    grants = GrantSerializer(many=True, help_text="Every grant, latest expiry first")


class PriorServiceSerializer(JSONBodySerializer):
    qualification = serializers.SlugRelatedField(
        slug_field="code", queryset=Qualification.objects.all(), help_text="Qualification code"
    )
    granted_on = serializers.DateField()
    expires_on = serializers.DateField()
    evidence = serializers.CharField(max_length=4000, help_text="The document or record relied on")


def qualification_status(expires_on: date, today: date) -> str:
    if expires_on < today:
        return "expired"
    return "expiring" if expires_on <= today + timedelta(days=EXPIRING_WITHIN_DAYS) else "valid"


class MemberQualificationsView(MemberRecordMixin, generics.GenericAPIView):
    serializer_class = MemberQualificationsSerializer
    filter_backends = []

    @extend_schema(
        operation_id="members_qualifications",
        tags=["members"],
        summary="A member's qualifications: the latest expiry of each, and every grant",
        responses={200: MemberQualificationsSerializer, **error_responses(401, 404)},
    )
    def get(self, request, member_no: str):
        member = self.member()
        grants = list(
            member.qualifications.select_related("qualification", "granted_by").order_by("-expires_on", "-pk")
        )
        today = timezone.localdate()
        latest = {}
        for grant in grants:  # latest expiry first, so the first grant of each qualification is the one that counts
            latest.setdefault(grant.qualification_id, grant)
        held = [
            {
                "qualification": grant.qualification.code,
                "name": grant.qualification.name,
                "expires_on": grant.expires_on,
                "status": qualification_status(grant.expires_on, today),
            }
            for grant in sorted(latest.values(), key=lambda grant: grant.qualification.name)
        ]
        data = {"member": member.member_no, "qualifications": held, "grants": grants}
        return Response(MemberQualificationsSerializer(data, context={"request": request}).data)


class PriorServiceView(MemberRecordMixin, generics.GenericAPIView):
    serializer_class = GrantSerializer
    select = ("qualification", "granted_by")
    filter_backends = []

    @extend_schema(
        operation_id="members_qualifications_prior_service",
        tags=["members"],
        summary="Recognise a qualification earned before joining (commanders of the member's unit)",
        description="400: invalid, expiry_before_grant, grant_in_future, evidence_missing. 403: not_commander. "
        "404: member not in your units.",
        request=PriorServiceSerializer,
        responses={201: GrantSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request, member_no: str):
        return self.created(
            request,
            PriorServiceSerializer,
            lambda member, data: services.record_prior_service(member=member, actor=request.user, **data),
        )


class ExpiringQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=0, max_value=3650, required=False, default=30, help_text="Look this many days ahead (default 30)"
    )
    unit = serializers.CharField(max_length=32, required=False, help_text="Only this unit and its sub-units")


class ExpiringRowSerializer(serializers.Serializer):
    member = serializers.CharField(help_text="Member number")
    member_name = serializers.CharField()
    unit = serializers.CharField(help_text="The member's unit code")
    qualification = serializers.CharField(help_text="Qualification code")
    qualification_name = serializers.CharField()
    expires_on = serializers.DateField(help_text="The latest expiry of the member's grants of it")
    days_left = serializers.IntegerField()


class ExpiringReportView(generics.ListAPIView):
    permission_classes = [permissions.IsAuthenticated, HoldsStaffRole]
    serializer_class = ExpiringRowSerializer
    pagination_class = StrictLimitOffsetPagination
    filter_backends = []

    @extend_schema(
        operation_id="reports_expiring",
        tags=["reports"],
        summary="Qualifications expiring within `days` (latest grant per member and qualification), soonest first",
        description="Members of the units where the caller holds a staff role, departed members left out. "
        "403: not_staff. 404: unit_not_found.",
        parameters=[ExpiringQuerySerializer],
        responses={200: ExpiringRowSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request):
        check_query(request, ExpiringQuerySerializer().fields)
        params = ExpiringQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        account = request.user
        members = Member.objects.filter(scope.units_q(account, scope.STAFF_ROLES, field="unit__path")).exclude(
            status=Member.Status.DEPARTED
        )
        if code := params.validated_data.get("unit"):
            unit = scope.units(account, scope.STAFF_ROLES).filter(code=code).first()
            if unit is None:
                raise NotFound(f"No unit with code {code!r} in your units.", code="unit_not_found")
            members = members.filter(unit__path__startswith=unit.path)
        today = timezone.localdate()
        rows = queries.expiring(members, within_days=params.validated_data["days"], today=today).order_by(
            "expires", "member_id", "qualification_id"
        )
        page = self.paginate_queryset(rows)
        # Two bulk reads for the page, whatever its length.
        people = Member.objects.select_related("unit").in_bulk({row["member_id"] for row in page})
        qualifications = Qualification.objects.in_bulk({row["qualification_id"] for row in page})
        data = [
            {
                "member": people[row["member_id"]].member_no,
                "member_name": people[row["member_id"]].full_name,
                "unit": people[row["member_id"]].unit.code,
                "qualification": qualifications[row["qualification_id"]].code,
                "qualification_name": qualifications[row["qualification_id"]].name,
                "expires_on": row["expires"],
                "days_left": (row["expires"] - today).days,
            }
            for row in page
        ]
        return self.get_paginated_response(ExpiringRowSerializer(data, many=True).data)
