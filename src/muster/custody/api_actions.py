"""Custody API, write side: issue and return, and what the other custody writes share with them (the item given by
id or serial number, the handover PIN field, the armorer's permission, finding the item and answering 201 with the
ledger event).

Thin: serializers check the shape of the input, custody.queries finds things within the caller's units (else 404),
custody.services makes the change and raises the domain errors that core.api maps to 400/403/404/409.
"""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import parsers, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from muster.core import auth
from muster.core.api import error_responses
from muster.core.api_input import ID_MAX, AwareDateTimeField, JSONBodySerializer, id_field
from muster.core.errors import NotFound, NotPermitted
from muster.custody import handover, queries, services
from muster.custody.api import LedgerEventSerializer, attach_parties, loaded, with_parties
from muster.custody.models import Item, LedgerEvent
from muster.members import scope
from muster.members.models import Role

_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409)


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
