"""Read API for units and members, scoped to the caller's units (members.scope)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from muster.core.api import ScopedViewSet, error_responses
from muster.members import scope
from muster.members.filters import MemberFilterSet, UnitFilterSet
from muster.members.models import Member, Unit

_READ_ERRORS = error_responses(401)
_RETRIEVE_ERRORS = error_responses(401, 404)


class UnitSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, help_text="Code of the parent unit")
    depth = serializers.IntegerField(read_only=True, help_text="0 for a top-level unit")

    class Meta:
        model = Unit
        fields = ["code", "name", "kind", "parent", "path", "depth"]
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer):
    unit = serializers.SlugRelatedField(slug_field="code", read_only=True, help_text="Code of the member's unit")
    full_name = serializers.CharField(read_only=True)
    phone = serializers.CharField(read_only=True, allow_null=True, help_text="Null unless the caller is staff")
    email = serializers.CharField(read_only=True, allow_null=True, help_text="Null unless the caller is staff")

    class Meta:
        model = Member
        fields = [
            "member_no", "first_name", "last_name", "full_name", "unit", "status", "is_veteran",
            "vetting_valid_until", "joined_on", "phone", "email",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, member: Member) -> dict:
        data = super().to_representation(member)
        if not self._may_see_contact(member):
            data["phone"] = data["email"] = None
        return data

    def _may_see_contact(self, member: Member) -> bool:
        account = self.context["request"].user
        # has_role reads the roles cached on the account, so this costs no query per row.
        return member.pk == account.member_id or scope.has_role(account, member.unit, scope.STAFF_ROLES)


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
