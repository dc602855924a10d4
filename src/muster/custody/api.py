"""Custody API, read side: item types, armories, items and the ledger (issue and return in api_actions, transfer
and PINs in api_handover).

Thin: serializers check the shape of the input, custody.queries finds things within the caller's units (else 404),
custody.services makes the change and raises the domain errors that core.api maps to 400/403/404/409.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets

from muster.core.api import ScopedViewSet, error_responses
from muster.core.api_input import (
    ID_PARAMETER,
    LOOKUP_VALUE_REGEX,
    IdFilter,
    StrictLimitOffsetPagination,
)
from muster.custody import queries
from muster.custody.filters import ItemFilterSet, LedgerFilterSet
from muster.custody.ledger import holder_ref
from muster.custody.models import Armory, HolderKind, Item, ItemType, LedgerEvent

_LIST_ERRORS = error_responses(400, 401)  # 400: a filter or ?limit= / ?offset= that cannot be read
_RETRIEVE_ERRORS = error_responses(401, 404)


class ItemTypeSerializer(serializers.ModelSerializer):
    required_qualifications = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True, help_text="Qualification codes a member needs to draw one"
    )

    class Meta:
        model = ItemType
        fields = ["id", "name", "category", "model", "calibre", "default_loan_hours", "required_qualifications"]
        read_only_fields = fields


class ItemTypeBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ItemType
        fields = ["id", "name", "category"]
        read_only_fields = fields


class ArmorySerializer(serializers.ModelSerializer):
    unit = serializers.SlugRelatedField(slug_field="code", read_only=True, help_text="Code of the owning unit")

    class Meta:
        model = Armory
        fields = ["code", "name", "unit", "address"]
        read_only_fields = fields


class HolderSerializer(serializers.Serializer):
    """Who holds an item (or held it, on one side of a ledger event)."""

    kind = serializers.ChoiceField(choices=HolderKind.choices)
    ref = serializers.CharField(help_text='"armory:<id>" or "member:<id>", as in the ledger\'s hash encoding')
    code = serializers.CharField(allow_null=True, help_text="The armory's code; null for a member")
    member_no = serializers.CharField(allow_null=True, help_text="The member's number; null for an armory")
    name = serializers.CharField()


def holder_data(kind: str | None, armory: Armory | None, member) -> dict | None:
    if kind is None:
        return None
    if kind == HolderKind.ARMORY:
        return {"kind": kind, "ref": holder_ref(kind, armory.pk, None), "code": armory.code, "member_no": None,
                "name": armory.name}  # fmt: skip
    return {"kind": kind, "ref": holder_ref(kind, None, member.pk), "code": None, "member_no": member.member_no,
            "name": member.full_name}  # fmt: skip


class ItemSerializer(serializers.ModelSerializer):
    item_type = ItemTypeBriefSerializer(read_only=True)
    home_armory = serializers.SlugRelatedField(slug_field="code", read_only=True)
    holder = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = [
            "id", "item_type", "serial_number", "home_armory", "condition", "manufacturer", "year_of_manufacture",
            "markings", "notes", "holder", "due_at", "custody_version",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(HolderSerializer)
    def get_holder(self, item: Item) -> dict:
        return holder_data(item.holder_kind, item.holder_armory, item.holder_member)


class ItemBriefSerializer(serializers.ModelSerializer):
    item_type = ItemTypeBriefSerializer(read_only=True)

    class Meta:
        model = Item
        fields = ["id", "serial_number", "item_type"]
        read_only_fields = fields


class LedgerEventSerializer(serializers.ModelSerializer):
    """One ledger event. `from`/`to` are the holder refs the hash covers; `*_holder` spell them out. An event moves
    an item, or (`lot`, `quantity`) a quantity of an ammunition or consumable lot."""

    item = ItemBriefSerializer(read_only=True, allow_null=True, help_text="The item; null in a lot event")
    lot = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True, help_text="The lot; null for an item")
    lot_number = serializers.CharField(source="lot.lot_number", read_only=True, allow_null=True, default=None)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, help_text="Username of the actor")

    class Meta:
        model = LedgerEvent
        fields = [
            "seq", "recorded_at", "kind", "item", "lot", "lot_number", "quantity", "item_version", "actor", "reason",
            "due_at", "data", "prev_hash", "hash",
        ]  # fmt: skip
        read_only_fields = fields

    ORDER = [
        "seq", "recorded_at", "kind", "item", "lot", "lot_number", "quantity", "item_version", "from", "from_holder",
        "to", "to_holder", "actor", "actor_id", "reason", "due_at", "data", "prev_hash", "hash",
    ]  # fmt: skip

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword, so these fields cannot be declared in the class body.
        fields["from"] = serializers.SerializerMethodField(method_name="get_from_ref")
        fields["to"] = serializers.SerializerMethodField(method_name="get_to_ref")
        fields["from_holder"] = serializers.SerializerMethodField()
        fields["to_holder"] = serializers.SerializerMethodField()
        fields["actor_id"] = serializers.IntegerField(read_only=True)
        return {name: fields[name] for name in self.ORDER}

    @extend_schema_field({"type": "string", "nullable": True, "example": "armory:1"})
    def get_from_ref(self, event: LedgerEvent) -> str | None:
        return holder_ref(event.from_kind, event.from_armory_id, event.from_member_id)

    @extend_schema_field({"type": "string", "nullable": True, "example": "member:7"})
    def get_to_ref(self, event: LedgerEvent) -> str | None:
        return holder_ref(event.to_kind, event.to_armory_id, event.to_member_id)

    @extend_schema_field(HolderSerializer(allow_null=True))
    def get_from_holder(self, event: LedgerEvent) -> dict | None:
        return holder_data(event.from_kind, event.from_armory, event.from_member)

    @extend_schema_field(HolderSerializer(allow_null=True))
    def get_to_holder(self, event: LedgerEvent) -> dict | None:
        return holder_data(event.to_kind, event.to_armory, event.to_member)


PARTIES = ("item", "lot", "from_armory", "from_member", "to_armory", "to_member", "actor")


def loaded(obj, name: str):
    """`obj.name` if it is already loaded, else None (never a query)."""
    field = obj._meta.get_field(name)
    return getattr(obj, name) if field.is_cached(obj) else None


def with_parties(events):
    return events.select_related("item__item_type", "lot__item_type", *PARTIES[2:])


def attach_parties(event: LedgerEvent, known) -> bool:
    """Set each party of a new event that is not loaded yet from the `known` objects; False if one is missing.
    An item counts only with its type loaded, since the serializer shows the type."""
    by_key = {(obj._meta.concrete_model, obj.pk): obj for obj in known if obj is not None}
    for name in PARTIES:
        field = LedgerEvent._meta.get_field(name)
        related_id = getattr(event, field.attname)
        if related_id is None:
            continue
        obj = getattr(event, name) if field.is_cached(event) else by_key.get((field.related_model, related_id))
        if obj is None or (name == "item" and not Item.item_type.is_cached(obj)):
            return False
        setattr(event, name, obj)
    return True


class ApiItemFilterSet(ItemFilterSet):
    """The item lists' filters, with the item type as a plain id: an id that names no type finds no items (the web
    form's choice field answers 400 to it, although the schema allows any id)."""

    item_type = IdFilter(field_name="item_type_id", label="Item type id")


class ApiLedgerFilterSet(LedgerFilterSet):
    """The ledger's filters, with ids and sequence numbers as whole numbers (the shared set reads them as decimals,
    so ?after_seq=0.5 was taken, and a huge number was refused although the schema allows it)."""

    item = IdFilter(field_name="item_id", label="Item id")
    after_seq = IdFilter(field_name="seq", lookup_expr="gt", label="Only events after this sequence number")


@extend_schema_view(
    list=extend_schema(summary="Item types", responses={200: ItemTypeSerializer, **_LIST_ERRORS}),
    retrieve=extend_schema(
        summary="One item type", parameters=[ID_PARAMETER], responses={200: ItemTypeSerializer, **_RETRIEVE_ERRORS}
    ),
)
class ItemTypeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ItemTypeSerializer
    pagination_class = StrictLimitOffsetPagination
    lookup_value_regex = LOOKUP_VALUE_REGEX
    queryset = ItemType.objects.prefetch_related("required_qualifications").order_by("category", "name", "pk")


@extend_schema_view(
    list=extend_schema(summary="Armories of the caller's units", responses={200: ArmorySerializer, **_LIST_ERRORS}),
    retrieve=extend_schema(summary="One armory, by code", responses={200: ArmorySerializer, **_RETRIEVE_ERRORS}),
)
class ArmoryViewSet(ScopedViewSet):
    serializer_class = ArmorySerializer
    lookup_field = "code"

    def scoped_queryset(self, account):
        return queries.visible_armories(account).select_related("unit").order_by("code", "pk")


@extend_schema_view(
    list=extend_schema(
        summary="Items homed in the caller's units (a member: the items they hold)",
        responses={200: ItemSerializer, **_LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One item, by id", parameters=[ID_PARAMETER], responses={200: ItemSerializer, **_RETRIEVE_ERRORS}
    ),
)
class ItemViewSet(ScopedViewSet):
    serializer_class = ItemSerializer
    filterset_class = ApiItemFilterSet

    def scoped_queryset(self, account):
        return (
            queries.visible_items(account)
            .select_related("item_type", "home_armory", "holder_armory", "holder_member")
            .order_by("item_type__name", "serial_number", "pk")
        )


@extend_schema_view(
    list=extend_schema(
        summary="Ledger events the caller may see, oldest first (poll with after_seq)",
        responses={200: LedgerEventSerializer, **_LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One ledger event, by seq",
        parameters=[OpenApiParameter("seq", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: LedgerEventSerializer, **_RETRIEVE_ERRORS},
    ),
)
class LedgerViewSet(ScopedViewSet):
    serializer_class = LedgerEventSerializer
    filterset_class = ApiLedgerFilterSet
    lookup_field = "seq"

    def scoped_queryset(self, account):
        return with_parties(queries.visible_events(account)).order_by("seq")
