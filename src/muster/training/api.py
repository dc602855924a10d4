"""Training API: the qualification and course catalogue, and training sessions (schedule, enroll, results, cancel).

Thin: serializers check the shape, lookups go through the caller's scope (else 404), training.services makes the
change and raises the domain errors that core.api maps to 400/403/404/409. A member's qualifications and the
expiry report live in training.api_records.
"""

from django.db.models import Count, Q
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, parsers, permissions, serializers, status, viewsets
from rest_framework.response import Response

from muster.core.api import ScopedViewSet, error_responses, holds_role, require_role
from muster.core.api_input import (
    ID_PARAMETER,
    LOOKUP_VALUE_REGEX,
    AwareDateTimeField,
    JSONBodySerializer,
    StrictLimitOffsetPagination,
    path_id,
)
from muster.core.errors import Invalid, NotFound, NotPermitted
from muster.members import scope
from muster.members.models import Member, Role
from muster.training import services
from muster.training.filters import TrainingSessionFilterSet
from muster.training.models import Course, Qualification, Trainee, TrainingSession

_READ_ERRORS = error_responses(400, 401, 403)  # 400: a filter or ?limit= / ?offset= that cannot be read
_RETRIEVE_ERRORS = error_responses(401, 403, 404)
_SESSION_READ_ERRORS = error_responses(400, 401)
_SESSION_RETRIEVE_ERRORS = error_responses(401, 404)
_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409)

HoldsStaffRole = holds_role(
    scope.STAFF_ROLES,
    code="not_staff",
    message="This needs a staff role (commander, armorer, duty officer or auditor).",
)


class QualificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Qualification
        fields = ["code", "name", "description", "validity_days"]
        read_only_fields = fields


class CourseSerializer(serializers.ModelSerializer):
    grants = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True, help_text="Codes of the qualifications a pass grants"
    )

    class Meta:
        model = Course
        fields = ["code", "name", "description", "grants", "validity_days"]
        read_only_fields = fields


class TraineeSerializer(serializers.ModelSerializer):
    member = serializers.SlugRelatedField(slug_field="member_no", read_only=True)
    name = serializers.CharField(source="member.full_name", read_only=True)

    class Meta:
        model = Trainee
        fields = ["member", "name", "attended", "result", "note"]
        read_only_fields = fields


class TrainingSessionSerializer(serializers.ModelSerializer):
    """A session and its roster (in lists too: one serializer, so the schema names its enums once)."""

    course = serializers.SlugRelatedField(slug_field="code", read_only=True)
    course_name = serializers.CharField(source="course.name", read_only=True)
    unit = serializers.SlugRelatedField(slug_field="code", read_only=True)
    instructor = serializers.SlugRelatedField(
        slug_field="member_no",
        read_only=True,
        allow_null=True,
        help_text="The instructor's member number, if one is named",
    )
    trainee_count = serializers.IntegerField(read_only=True)
    roster = TraineeSerializer(source="trainees", many=True, read_only=True)

    class Meta:
        model = TrainingSession
        fields = [
            "id", "course", "course_name", "unit", "starts_at", "place", "instructor", "status", "notes",
            "completed_at", "trainee_count", "roster",
        ]  # fmt: skip
        read_only_fields = fields


class ScheduleSerializer(JSONBodySerializer):
    course = serializers.SlugRelatedField(slug_field="code", queryset=Course.objects.all(), help_text="Course code")
    unit = serializers.CharField(max_length=32, help_text="Code of the unit the session is for")
    starts_at = AwareDateTimeField()
    place = serializers.CharField(max_length=200)
    instructor = serializers.CharField(
        max_length=32, required=False, allow_null=True, default=None, help_text="The instructor's member number"
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


def _unique_numbers(numbers: list[str]) -> list[str]:
    """A member named twice is refused with its own code: for results (a list of objects) the schema cannot say it,
    and numbers are compared as trimmed, as they are looked up."""
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    if repeated:
        raise Invalid(f"Each member may appear once; repeated: {', '.join(repeated)}.", code="member_repeated")
    return numbers


class MemberNumbersField(serializers.ListField):
    unique_items = True  # said in the schema (core.api_input.NonEmptyListSchema), refused by _unique_numbers


class EnrollSerializer(JSONBodySerializer):
    members = MemberNumbersField(
        child=serializers.CharField(max_length=32),
        allow_empty=False,
        max_length=500,
        help_text="Member numbers, once each",
    )

    def validate_members(self, numbers: list[str]) -> list[str]:
        return _unique_numbers(numbers)


class ResultSerializer(JSONBodySerializer):
    member = serializers.CharField(max_length=32, help_text="Member number of a trainee on the roster")
    attended = serializers.BooleanField()
    passed = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class ResultsSerializer(JSONBodySerializer):
    results = ResultSerializer(many=True, allow_empty=False, help_text="One result for every trainee on the roster")

    def validate_results(self, results: list[dict]) -> list[dict]:
        _unique_numbers([result["member"] for result in results])
        return results


class CancelSerializer(JSONBodySerializer):
    reason = serializers.CharField(max_length=2000)


def with_roster(sessions):
    return (
        sessions.select_related("course", "unit", "instructor")
        .prefetch_related("trainees__member")
        .annotate(trainee_count=Count("trainees"))
    )


def visible_sessions(account):
    """Sessions of units where the caller holds a staff role, and sessions the caller teaches."""
    query = scope.units_q(account, scope.STAFF_ROLES, field="unit__path")
    if not scope.is_global(account) and account.member_id:
        query |= Q(instructor_id=account.member_id)
    return TrainingSession.objects.filter(query)


@extend_schema_view(
    list=extend_schema(summary="Qualifications (staff)", responses={200: QualificationSerializer, **_READ_ERRORS}),
    retrieve=extend_schema(
        summary="One qualification, by code", responses={200: QualificationSerializer, **_RETRIEVE_ERRORS}
    ),
)
class QualificationViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [permissions.IsAuthenticated, HoldsStaffRole]
    serializer_class = QualificationSerializer
    pagination_class = StrictLimitOffsetPagination
    queryset = Qualification.objects.order_by("name", "pk")
    lookup_field = "code"
    lookup_value_regex = LOOKUP_VALUE_REGEX


@extend_schema_view(
    list=extend_schema(
        summary="Courses and what they grant (staff)", responses={200: CourseSerializer, **_READ_ERRORS}
    ),
    retrieve=extend_schema(summary="One course, by code", responses={200: CourseSerializer, **_RETRIEVE_ERRORS}),
)
class CourseViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [permissions.IsAuthenticated, HoldsStaffRole]
    serializer_class = CourseSerializer
    pagination_class = StrictLimitOffsetPagination
    queryset = Course.objects.prefetch_related("grants").order_by("name", "pk")
    lookup_field = "code"
    lookup_value_regex = LOOKUP_VALUE_REGEX


@extend_schema_view(
    list=extend_schema(
        summary="Training sessions of the caller's units (and those they teach), newest first",
        responses={200: TrainingSessionSerializer, **_SESSION_READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One training session with its roster",
        parameters=[ID_PARAMETER],
        responses={200: TrainingSessionSerializer, **_SESSION_RETRIEVE_ERRORS},
    ),
)
class TrainingSessionViewSet(ScopedViewSet):
    serializer_class = TrainingSessionSerializer
    filterset_class = TrainingSessionFilterSet
    parser_classes = [parsers.JSONParser]

    def scoped_queryset(self, account):
        return with_roster(visible_sessions(account)).order_by("-starts_at", "-pk")

    @extend_schema(
        summary="Schedule a training session (commanders of the unit)",
        description="400: invalid, place_missing. 403: not_commander. 404: unit_not_found, member_not_found "
        "(instructor). 409: instructor_not_active.",
        request=ScheduleSerializer,
        responses={201: TrainingSessionSerializer, **_WRITE_ERRORS},
    )
    def create(self, request):
        account = request.user
        body = ScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        unit = scope.units(account).filter(code=data["unit"]).first()
        if unit is None:
            raise NotFound(f"No unit with code {data['unit']!r} in your units.", code="unit_not_found")
        require_role(
            account, unit, {Role.COMMANDER}, code="not_commander",
            detail=f"Only a commander of {unit.code} may schedule its training.",
        )  # fmt: skip
        instructor = None
        if data["instructor"]:
            instructor = members_by_number(account, [data["instructor"]], within=unit)[0]
        session = services.schedule_session(
            course=data["course"], unit=unit, starts_at=data["starts_at"], place=data["place"],
            instructor=instructor, notes=data["notes"], actor=account,
        )  # fmt: skip
        return session_response(request, session.pk, status.HTTP_201_CREATED)


def members_by_number(account, numbers: list[str], *, within) -> list[Member]:
    """The members with these numbers, in order, among those the caller may see or who belong to `within`'s
    subtree (an instructor who is no staff still enrolls the unit's members). Any other number: 404."""
    query = Q(pk__in=scope.visible_members(account).values("pk")) | Q(unit__path__startswith=within.path)
    found = {
        member.member_no: member
        for member in Member.objects.filter(query, member_no__in=numbers).select_related("unit")
    }
    missing = [number for number in numbers if number not in found]
    if missing:
        raise NotFound(f"No member with number {', '.join(missing)} in your units.", code="member_not_found")
    return [found[number] for number in numbers]


def session_response(request, pk: int, code: int = status.HTTP_200_OK) -> Response:
    session = with_roster(TrainingSession.objects).get(pk=pk)
    headers = {"Location": reverse("api:training-session-detail", kwargs={"pk": pk})}
    data = TrainingSessionSerializer(session, context={"request": request}).data
    return Response(data, status=code, headers=headers if code == status.HTTP_201_CREATED else None)


class SessionActionView(generics.GenericAPIView):
    """POST /training-sessions/{id}/<action>: the session is looked up among the caller's (else 404)."""

    parser_classes = [parsers.JSONParser]
    serializer_class = TrainingSessionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TrainingSession.objects.none()
        return visible_sessions(self.request.user).select_related("unit", "course")

    def session(self) -> TrainingSession:
        session = self.get_queryset().filter(pk=path_id(self.kwargs["pk"])).first()
        if session is None:
            raise NotFound(f"No training session {self.kwargs['pk']} in your units.", code="session_not_found")
        return session

    def require_recorder(self, session: TrainingSession) -> None:
        if not services.can_record(self.request.user, session):
            raise NotPermitted(
                f"Only the instructor or a commander of {session.unit.code} may record this session.",
                code="not_instructor",
            )

    def validated(self, serializer_class) -> dict:
        body = serializer_class(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data


class EnrollView(SessionActionView):
    @extend_schema(
        operation_id="training_sessions_enroll",
        tags=["training-sessions"],
        parameters=[ID_PARAMETER],
        summary="Put members on a planned session's roster (instructor or commander)",
        description="Members already on the roster are left as they are. 400: invalid, member_repeated, "
        "member_out_of_scope. "
        "403: not_instructor. 404: session_not_found, member_not_found. 409: session_closed, member_not_eligible.",
        request=EnrollSerializer,
        responses={200: TrainingSessionSerializer, **_WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        session = self.session()
        self.require_recorder(session)
        numbers = self.validated(EnrollSerializer)["members"]
        services.enroll(
            session=session, members=members_by_number(request.user, numbers, within=session.unit), actor=request.user
        )
        return session_response(request, session.pk)


class ResultsView(SessionActionView):
    @extend_schema(
        operation_id="training_sessions_results",
        tags=["training-sessions"],
        parameters=[ID_PARAMETER],
        summary="Record attendance and results for the whole roster; completes the session and grants "
        "the course's qualifications to those who passed",
        description="400: invalid, member_repeated, not_on_roster, passed_without_attending, results_incomplete. "
        "403: not_instructor. "
        "404: session_not_found, member_not_found. 409: session_closed, session_not_started.",
        request=ResultsSerializer,
        responses={200: TrainingSessionSerializer, **_WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        session = self.session()
        self.require_recorder(session)
        results = self.validated(ResultsSerializer)["results"]
        # Trainees are found by number even when enrolled from outside the caller's view; anyone else must be
        # visible (else 404), and is then refused by the service as not on the roster.
        found = {trainee.member.member_no: trainee.member for trainee in session.trainees.select_related("member")}
        others = [result["member"] for result in results if result["member"] not in found]
        if others:
            found.update(zip(others, members_by_number(request.user, others, within=session.unit), strict=True))
        members = [found[result["member"]] for result in results]
        services.record_results(
            session=session,
            results=[
                services.Result(member=member, attended=row["attended"], passed=row["passed"], note=row["note"])
                for member, row in zip(members, results, strict=True)
            ],
            actor=request.user,
        )
        return session_response(request, session.pk)


class CancelView(SessionActionView):
    @extend_schema(
        operation_id="training_sessions_cancel",
        tags=["training-sessions"],
        parameters=[ID_PARAMETER],
        summary="Cancel a planned session (commanders)",
        description="400: invalid, reason_missing. 403: not_commander. 404: session_not_found. 409: session_closed.",
        request=CancelSerializer,
        responses={200: TrainingSessionSerializer, **_WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        session = self.session()
        require_role(
            request.user, session.unit, {Role.COMMANDER}, code="not_commander",
            detail=f"Only a commander of {session.unit.code} may cancel its training.",
        )  # fmt: skip
        services.cancel_session(session=session, actor=request.user, reason=self.validated(CancelSerializer)["reason"])
        return session_response(request, session.pk)
