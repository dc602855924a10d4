"""Custody API: item types, armories, items and the ledger (read), issue and return (write; transfer and PINs in
api_handover).

Thin: serializers check the shape of the input, custody.queries finds things within the caller's units (else 404),
custody.services makes the change and raises the domain errors that core.api maps to 400/403/404/409.
"""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import parsers, permissions, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from muster.core import auth
from muster.core.api import ScopedViewSet, error_responses
from muster.core.api_input import (
    ID_MAX,
    ID_PARAMETER,
    LOOKUP_VALUE_REGEX,
    AwareDateTimeField,
    IdFilter,
    JSONBodySerializer,
    StrictLimitOffsetPagination,
    id_field,
)
from muster.core.errors import NotFound, NotPermitted
from muster.custody import handover, queries, services
from muster.custody.filters import ItemFilterSet, LedgerFilterSet
from muster.custody.ledger import holder_ref
from muster.custody.models import Armory, HolderKind, Item, ItemType, LedgerEvent
from muster.members import scope
from muster.members.models import Role

_LIST_ERRORS = error_responses(400, 401)  # 400: a filter or ?limit= / ?offset= that cannot be read
_RETRIEVE_ERRORS = error_responses(401, 404)
_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409)


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


class ItemRefField(serializers.Field):
    """An item named by its id (a JSON number) or by its serial number (a JSON string)."""

    default_error_messages = {"invalid": "Give the item's id (a number) or its serial number (a string)."}

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool) and 0 < data <= ID_MAX:
            return data
        if isinstance(data, str) and data.strip() and "\x00" not in data:
            return data.strip()
        self.fail("invalid")

    def to_representation(self, value):
        return value


# The string is a serial number: at least one character that is not white space (it is trimmed).
extend_schema_field(
    {"oneOf": [{"type": "integer", "minimum": 1, "maximum": ID_MAX}, {"type": "string", "pattern": r"\S"}]}
)(ItemRefField)


class PinField(serializers.CharField):
    """A member's handover PIN: a JSON string (a number would lose its leading zeros); never echoed back."""

    default_error_messages = {"not_string": 'Give the PIN as a string of digits, e.g. "0471".'}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        super().__init__(write_only=True, trim_whitespace=False, style={"input_type": "password"}, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_string")
        return super().to_internal_value(data)


class CustodyRequestSerializer(JSONBodySerializer):
    item = ItemRefField(help_text="The item's id (number) or serial number (string)")
    item_type = id_field(required=False, help_text="Item type id, needed when a serial number repeats across types")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CountersignSerializer(JSONBodySerializer):
    """A commander's countersign, given at the armorer's desk: the commander types their own credentials."""

    commander = serializers.CharField(max_length=150, help_text="The countersigning commander's username")
    commander_password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"}, write_only=True
    )
    commander_otp = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=20,
        write_only=True,
        help_text="The commander's current TOTP code: required when that account signs in with one",
    )
    reason = serializers.CharField(
        max_length=2000, allow_blank=True, help_text="Why the issue goes ahead despite the refusal (10+ characters)"
    )


class IssueSerializer(CustodyRequestSerializer):
    member = serializers.CharField(max_length=32, help_text="The receiving member's number")
    due_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When it is due back (default: the item type's loan period)"
    )
    override = CountersignSerializer(
        required=False,
        help_text="Issue despite member_vetting_expired, member_not_qualified or member_applicant, on a "
        "commander's countersign; recorded in the ledger event's data.override",
    )
    pin = PinField(
        required=False,
        help_text="The receiving member's handover PIN, typed by them on the armorer's device; required where the "
        "site requires handover confirmation (recorded as data.receiver_confirmed)",
    )


class ReturnSerializer(CustodyRequestSerializer):
    armory = serializers.CharField(
        required=False, max_length=32, help_text="Code of the receiving armory (default: the item's home armory)"
    )


class HoldsArmorerRole(permissions.BasePermission):
    message = "Issuing and returning items needs the armorer role."
    code = "not_armorer"

    def has_permission(self, request, view) -> bool:
        account = request.user
        return scope.is_global(account) or bool(scope.unit_paths(account, {Role.ARMORER}))


class CustodyActionView(APIView):
    permission_classes = [permissions.IsAuthenticated, HoldsArmorerRole]
    # JSON only: there a number is an item id and a string a serial number; a form would make both strings.
    parser_classes = [parsers.JSONParser]
    request_serializer: type[CustodyRequestSerializer]

    def validated(self, request) -> dict:
        serializer = self.request_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def find_item(self, data: dict) -> Item:
        account = self.request.user
        if isinstance(data["item"], str):
            return queries.find_item(account, data["item"], item_type_id=data.get("item_type"))
        items = queries.visible_items(account).filter(pk=data["item"]).select_related("item_type", "holder_armory")
        if data.get("item_type"):
            items = items.filter(item_type_id=data["item_type"])
        item = items.first()
        if item is None:
            raise NotFound(f"No item with id {data['item']} in your units.", code="item_not_found")
        return item

    def created(self, event: LedgerEvent, *known) -> Response:
        """201 with the event as the ledger shows it. Its parties are taken from `known` (the objects the request
        already loaded) where they match; any other party means reading the event back with all of them."""
        if not attach_parties(event, known):
            event = with_parties(LedgerEvent.objects).get(pk=event.pk)
        return Response(
            LedgerEventSerializer(event, context={"request": self.request}).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:ledger-detail", kwargs={"seq": event.seq})},
        )


class IssueView(CustodyActionView):
    request_serializer = IssueSerializer

    @extend_schema(
        operation_id="custody_issue",
        tags=["custody"],
        summary="Issue an item from its armory to a member",
        description="Refusals (409): item_not_in_armory, item_unserviceable, member_not_active, member_applicant, "
        "member_vetting_expired, member_not_qualified. 403: not_armorer, member_out_of_scope. "
        "400: invalid, due_in_past, serial_ambiguous. With `override` (only for member_vetting_expired, "
        "member_not_qualified, member_applicant): 403 countersign_failed (wrong commander credentials), "
        "self_override, override_not_commander; 400 override_reason_missing; a commander who signs in with a TOTP "
        "code gives it as `commander_otp`: 400 countersign_otp_required (missing), otp_invalid (wrong or reused), "
        "409 otp_throttled, otp_not_enrolled. Handover PIN (409): "
        "receiver_confirmation_required (no `pin` where the site requires one), pin_wrong, pin_locked, pin_not_set.",
        request=IssueSerializer,
        responses={201: LedgerEventSerializer, **_WRITE_ERRORS},
    )
    def post(self, request):
        data = self.validated(request)
        item = self.find_item(data)
        member = queries.find_member(request.user, data["member"])
        services.refuse_self_issue(actor=request.user, member=member)  # before the PIN is checked (and logged)
        override = self.countersign(request, data["override"]) if data.get("override") else None
        receiver = None
        if data.get("pin") is not None:
            # The rules first: a refused issue must not cost the member a PIN attempt (each is logged and counted).
            # Without a PIN there is nothing to spare, and `issue` checks every rule under the item's lock anyway.
            services.precheck_issue(item=item, member=member, actor=request.user, due_at=data.get("due_at"),
                                    override=override)  # fmt: skip
            # Outside any transaction, so a wrong PIN is logged and counted.
            receiver = handover.confirm(member=member, pin=data["pin"], actor=request.user, purpose="issue")
        event = services.issue(
            item=item,
            member=member,
            actor=request.user,
            due_at=data.get("due_at"),
            reason=data["reason"],
            override=override,
            receiver=receiver,
        )
        return self.created(event, item, member, request.user, loaded(item, "holder_armory"))

    @staticmethod
    def countersign(request, given: dict) -> services.Override:
        """Authenticate the commander by their own credentials; whether they may override is the service's rule."""
        commander = auth.countersign(
            request, username=given["commander"], password=given["commander_password"], code=given["commander_otp"]
        )
        if commander is None:
            raise NotPermitted("The commander's username or password is wrong.", code="countersign_failed")
        return services.Override(commander=commander, reason=given["reason"])


class ReturnView(CustodyActionView):
    request_serializer = ReturnSerializer

    @extend_schema(
        operation_id="custody_return",
        tags=["custody"],
        summary="Take an issued item back into an armory",
        description="Refusals (409): item_not_issued. 403: not_armorer. 404: item or armory not in your units.",
        request=ReturnSerializer,
        responses={201: LedgerEventSerializer, **_WRITE_ERRORS},
    )
    def post(self, request):
        data = self.validated(request)
        item = self.find_item(data)
        armory = queries.find_armory(request.user, data["armory"]) if data.get("armory") else None
        event = services.return_item(item=item, actor=request.user, armory=armory, reason=data["reason"])
        return self.created(event)
