"""API for units and members, scoped to the caller's units (members.scope), and each member's lifecycle records:
status changes, vettings and the disciplinary record (writes through members.services)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import generics, parsers, serializers, status
from rest_framework.response import Response

from muster.core.api import ScopedViewSet, error_responses, require_role
from muster.core.api_input import JSONBodySerializer, StrictLimitOffsetPagination, code_field
from muster.core.errors import NotFound
from muster.members import scope, services
from muster.members.contact import may_see_contact
from muster.members.filters import MemberFilterSet, UnitFilterSet
from muster.members.models import DisciplinaryEntry, Member, Role, StatusChange, Unit, Vetting

_READ_ERRORS = error_responses(400, 401)  # 400: a filter or ?limit= / ?offset= that cannot be read
_RETRIEVE_ERRORS = error_responses(401, 404)
_RECORDS_READ_ERRORS = error_responses(400, 401, 403, 404)
_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409)

# Vettings and the disciplinary record are personnel files: read by commanders and auditors of the member's unit.
RECORD_READERS = frozenset({Role.COMMANDER, Role.AUDITOR})


class UnitSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True, help_text="Code of the parent unit; null at the top"
    )
    depth = serializers.IntegerField(read_only=True, help_text="0 for a top-level unit")

    class Meta:
        model = Unit
        fields = ["code", "name", "kind", "parent", "path", "depth"]
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer):
    unit = serializers.SlugRelatedField(slug_field="code", read_only=True, help_text="Code of the member's unit")
    full_name = serializers.CharField(read_only=True)
    phone = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Null unless the caller is the member, or a commander or auditor of the member's unit",
    )
    email = serializers.CharField(read_only=True, allow_null=True, help_text="Null under the same rule as phone")

    class Meta:
        model = Member
        fields = [
            "member_no", "first_name", "last_name", "full_name", "unit", "status", "is_veteran",
            "vetting_valid_until", "joined_on", "phone", "email",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, member: Member) -> dict:
        data = super().to_representation(member)
        # Contact data: the member, commanders and auditors of the unit (members.contact); armorers and duty officers
        # see the roster without it. has_role reads the roles cached on the account: no query per row.
        if not may_see_contact(self.context["request"].user, member):
            data["phone"] = data["email"] = None
        return data


@extend_schema_view(
    list=extend_schema(summary="Units in the caller's scope", responses={200: UnitSerializer, **_READ_ERRORS}),
    retrieve=extend_schema(summary="One unit, by code", responses={200: UnitSerializer, **_RETRIEVE_ERRORS}),
)
class UnitViewSet(ScopedViewSet):
    serializer_class = UnitSerializer
    filterset_class = UnitFilterSet
    lookup_field = "code"

    def scoped_queryset(self, account):
        return scope.units(account).select_related("parent").order_by("path", "pk")


@extend_schema_view(
    list=extend_schema(
        summary="Members the caller may see (staff: their units; anyone: themself)",
        responses={200: MemberSerializer, **_READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One member, by member number", responses={200: MemberSerializer, **_RETRIEVE_ERRORS}
    ),
)
class MemberViewSet(ScopedViewSet):
    serializer_class = MemberSerializer
    filterset_class = MemberFilterSet
    lookup_field = "member_no"
    lookup_value_regex = "[^/]+"

    def scoped_queryset(self, account):
        return scope.visible_members(account).select_related("unit").order_by("last_name", "first_name", "member_no")


# --- one member's lifecycle records --------------------------------------------------------------------------------


def find_member(account, member_no: str) -> Member:
    """The member with this number among those the caller may see, else 404 (out of scope or unknown alike)."""
    member = scope.visible_members(account).select_related("unit").filter(member_no=member_no).first()
    if member is None:
        raise NotFound(f"No member with number {member_no!r} in your units.", code="member_not_found")
    return member


def require_commander(account, member: Member) -> None:
    require_role(
        account, member.unit, {Role.COMMANDER}, code="not_commander",
        detail=f"Only a commander of {member.unit.code} may change {member.member_no}'s records.",
    )  # fmt: skip


def require_record_reader(account, member: Member) -> None:
    require_role(
        account, member.unit, RECORD_READERS, code="not_commander_or_auditor",
        detail=f"Only commanders and auditors of {member.unit.code} may read {member.member_no}'s personnel records.",
    )  # fmt: skip


_STATUSES = ", ".join(Member.Status.values)


class StatusChangeSerializer(serializers.ModelSerializer):
    # Plain strings, not enums: the schema already names the member statuses once (on Member).
    from_status = serializers.CharField(read_only=True, help_text=f"Empty when the member was added; else {_STATUSES}")
    to_status = serializers.CharField(read_only=True, help_text=_STATUSES)
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = StatusChange
        fields = ["id", "from_status", "to_status", "reason", "changed_by", "changed_at"]
        read_only_fields = fields


@extend_schema_serializer(component_name="StatusChange")  # the request body: "StatusChangeRequest"
class StatusChangeRequestSerializer(JSONBodySerializer):
    # Checked by the service (unknown_status), which owns the list of statuses and the moves between them.
    to_status = code_field(
        Member.Status.values,
        component="MemberStatusCode",
        max_length=16,
        help_text="400 unknown_status for another value",
    )
    reason = serializers.CharField(max_length=2000, help_text="Why the status changes (kept in the history)")


class VettingSerializer(serializers.ModelSerializer):
    vetted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Vetting
        fields = ["id", "vetted_on", "outcome", "valid_until", "vetted_by", "notes", "recorded_at"]
        read_only_fields = fields


@extend_schema_serializer(component_name="Vetting")  # the request body: "VettingRequest"
class VettingRequestSerializer(JSONBodySerializer):
    vetted_on = serializers.DateField()
    outcome = serializers.ChoiceField(choices=Vetting.Outcome.choices)
    valid_until = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Needed for a pass; ignored for a failure"
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class DisciplinaryEntrySerializer(serializers.ModelSerializer):
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DisciplinaryEntry
        fields = ["id", "occurred_on", "kind", "note", "recorded_by", "recorded_at"]
        read_only_fields = fields


@extend_schema_serializer(component_name="DisciplinaryEntry")  # the request body: "DisciplinaryEntryRequest"
class DisciplinaryEntryRequestSerializer(JSONBodySerializer):
    occurred_on = serializers.DateField()
    kind = serializers.ChoiceField(choices=DisciplinaryEntry.Kind.choices)
    note = serializers.CharField(max_length=4000)


class MemberRecordMixin:
    """For /members/{member_no}/...: the member is looked up in the caller's scope (else 404); writes need a
    commander of the member's unit (403), checked before the body is read."""

    parser_classes = [parsers.JSONParser]
    select: tuple[str, ...] = ()

    def member(self) -> Member:
        if not hasattr(self, "_member"):
            self._member = find_member(self.request.user, self.kwargs["member_no"])
        return self._member

    def created(self, request, request_serializer_class, make) -> Response:
        """Validate the body, let `make(member, data)` call the service, answer 201 with the row it made."""
        member = self.member()
        require_commander(request.user, member)
        body = request_serializer_class(data=request.data)
        body.is_valid(raise_exception=True)
        row = make(member, body.validated_data)
        row = type(row).objects.select_related(*self.select).get(pk=row.pk)
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)


class MemberRecordsView(MemberRecordMixin, generics.ListAPIView):
    """A member's records (paginated); `read_check` decides who may list them (403)."""

    pagination_class = StrictLimitOffsetPagination
    related_name: str

    def read_check(self, member: Member) -> None:
        """Anyone who may see the member may read; subclasses narrow this."""

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            return self.serializer_class.Meta.model.objects.none()
        member = self.member()
        self.read_check(member)
        return getattr(member, self.related_name).select_related(*self.select)


@extend_schema(
    tags=["members"],
    summary="A member's status history, newest first",
    responses={200: StatusChangeSerializer(many=True), **_RECORDS_READ_ERRORS},
)
class StatusHistoryView(MemberRecordsView):
    serializer_class = StatusChangeSerializer
    related_name = "status_changes"
    select = ("changed_by",)


class MemberStatusView(MemberRecordMixin, generics.GenericAPIView):
    serializer_class = StatusChangeSerializer
    select = ("changed_by",)

    @extend_schema(
        operation_id="members_status_change",
        tags=["members"],
        summary="Move a member to another status (commanders)",
        description="applicant → active | departed; active → suspended | departed; suspended → active | departed; "
        "departed → applicant. Refusals (409): status_change_refused, vetting_required, member_holds_items. "
        "400: invalid, reason_missing. 403: not_commander. Suspension and departure recall the member's items.",
        request=StatusChangeRequestSerializer,
        responses={201: StatusChangeSerializer, **_WRITE_ERRORS},
    )
    def post(self, request, member_no: str):
        return self.created(
            request,
            StatusChangeRequestSerializer,
            lambda member, data: services.change_status(member=member, actor=request.user, **data),
        )


@extend_schema(
    methods=["GET"],
    tags=["members"],
    summary="A member's vettings, newest first (commanders and auditors)",
    responses={200: VettingSerializer(many=True), **_RECORDS_READ_ERRORS},
)
class VettingsView(MemberRecordsView):
    serializer_class = VettingSerializer
    related_name = "vettings"
    select = ("vetted_by",)

    def read_check(self, member: Member) -> None:
        require_record_reader(self.request.user, member)

    @extend_schema(
        tags=["members"],
        summary="Record a vetting (commanders); sets the member's vetting_valid_until",
        description="A pass needs valid_until after vetted_on; a failure ends the vetting at once and recalls the "
        "member's items. 400: invalid, validity_missing, vetted_in_future. 403: not_commander.",
        request=VettingRequestSerializer,
        responses={201: VettingSerializer, **_WRITE_ERRORS},
    )
    def post(self, request, member_no: str):
        return self.created(
            request,
            VettingRequestSerializer,
            lambda member, data: services.record_vetting(member=member, actor=request.user, **data),
        )


@extend_schema(
    methods=["GET"],
    tags=["members"],
    summary="A member's disciplinary record, newest first (commanders and auditors)",
    responses={200: DisciplinaryEntrySerializer(many=True), **_RECORDS_READ_ERRORS},
)
class DisciplinaryView(MemberRecordsView):
    serializer_class = DisciplinaryEntrySerializer
    related_name = "disciplinary_entries"
    select = ("recorded_by",)

    def read_check(self, member: Member) -> None:
        require_record_reader(self.request.user, member)

    @extend_schema(
        tags=["members"],
        summary="Add a disciplinary entry (commanders)",
        description="400: invalid, note_missing, date_in_future. 403: not_commander.",
        request=DisciplinaryEntryRequestSerializer,
        responses={201: DisciplinaryEntrySerializer, **_WRITE_ERRORS},
    )
    def post(self, request, member_no: str):
        return self.created(
            request,
            DisciplinaryEntryRequestSerializer,
            lambda member, data: services.add_disciplinary_entry(member=member, actor=request.user, **data),
        )
