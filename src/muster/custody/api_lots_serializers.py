"""Serializers of the lots API (custody.api_lots): a lot with the balances the caller may see, a lot's ledger event,
a lot's loss case, and the request bodies of the movements."""

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from muster.core.api_input import AwareDateTimeField, JSONBodySerializer, code_field, id_field
from muster.custody import lots, queries_lots
from muster.custody.api import HolderSerializer, ItemTypeBriefSerializer, holder_data
from muster.custody.api_actions import PinField
from muster.custody.ledger import holder_ref
from muster.custody.lot_balances import MAX_QUANTITY
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.models import LOT_KINDS, HolderKind, LedgerEvent, LossCase


class LotBalanceSerializer(serializers.Serializer):
    holder = HolderSerializer()
    quantity = serializers.IntegerField()
    due_at = serializers.DateTimeField(allow_null=True, help_text="A member's: when the quantity is due back")
    overdue = serializers.BooleanField()


def balance_data(balance: LotBalance, now) -> dict:
    return {
        "holder": holder_data(balance.holder_kind, balance.holder_armory, balance.holder_member),
        "quantity": balance.quantity,
        "due_at": balance.due_at,
        "overdue": balance.due_at is not None and balance.due_at < now,
    }


class LotSerializer(serializers.ModelSerializer):
    """A lot and the balances the caller may see: staff every holder; a member only their own quantity."""

    item_type = ItemTypeBriefSerializer(read_only=True)
    home_armory = serializers.SlugRelatedField(slug_field="code", read_only=True)
    recalled_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    on_hand = serializers.SerializerMethodField(help_text="In armories (of the balances shown)")
    with_members = serializers.SerializerMethodField(help_text="Out with members (of the balances shown)")
    balances = serializers.SerializerMethodField()

    class Meta:
        model = Lot
        fields = [
            "id", "item_type", "lot_number", "home_armory", "version", "recalled_at", "recalled_by", "recall_reason",
            "on_hand", "with_members", "balances",
        ]  # fmt: skip
        read_only_fields = fields

    def shown(self, lot: Lot) -> list[LotBalance]:
        balances = getattr(lot, "positive_balances", None)
        if balances is None:  # a lot not loaded through with_balances()
            balances = list(lot_balances().filter(lot=lot))
        account = self.context["request"].user
        if queries_lots.is_lot_staff(account, lot):
            return balances
        return [b for b in balances if b.holder_member_id and b.holder_member_id == account.member_id]

    def get_on_hand(self, lot: Lot) -> int:
        return sum(b.quantity for b in self.shown(lot) if b.holder_kind == HolderKind.ARMORY)

    def get_with_members(self, lot: Lot) -> int:
        return sum(b.quantity for b in self.shown(lot) if b.holder_kind == HolderKind.MEMBER)

    @extend_schema_field(LotBalanceSerializer(many=True))
    def get_balances(self, lot: Lot) -> list[dict]:
        now = timezone.now()
        return [balance_data(b, now) for b in self.shown(lot)]


def lot_balances():
    return (
        LotBalance.objects.filter(quantity__gt=0)
        .select_related("holder_armory", "holder_member")
        .order_by("holder_kind", "holder_armory__code", "holder_member__member_no")
    )


def with_balances(lot_list):
    return lot_list.select_related("item_type", "home_armory__unit", "recalled_by").prefetch_related(
        Prefetch("balances", queryset=lot_balances(), to_attr="positive_balances")
    )


class LotEventSerializer(serializers.ModelSerializer):
    """A lot's ledger event: `quantity` of `lot` moved from one holder to another (none: off or onto the books)."""

    # Plain strings in the schema: a second enum of the same choices would be named by a hash (as in api_controls).
    kind = serializers.CharField(read_only=True, help_text="One of: " + ", ".join(LOT_KINDS))
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    lot_number = serializers.CharField(source="lot.lot_number", read_only=True)
    from_holder = serializers.SerializerMethodField()
    to_holder = serializers.SerializerMethodField()
    from_ref = serializers.SerializerMethodField()
    to_ref = serializers.SerializerMethodField()

    class Meta:
        model = LedgerEvent
        fields = [
            "seq", "recorded_at", "kind", "lot", "lot_number", "quantity", "item_version", "from_ref", "from_holder",
            "to_ref", "to_holder", "actor", "reason", "due_at", "data", "prev_hash", "hash",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True, "example": "armory:1"})
    def get_from_ref(self, event) -> str | None:
        return holder_ref(event.from_kind, event.from_armory_id, event.from_member_id)

    @extend_schema_field({"type": "string", "nullable": True, "example": "member:7"})
    def get_to_ref(self, event) -> str | None:
        return holder_ref(event.to_kind, event.to_armory_id, event.to_member_id)

    @extend_schema_field(HolderSerializer(allow_null=True))
    def get_from_holder(self, event) -> dict | None:
        return holder_data(event.from_kind, event.from_armory, event.from_member)

    @extend_schema_field(HolderSerializer(allow_null=True))
    def get_to_holder(self, event) -> dict | None:
        return holder_data(event.to_kind, event.to_armory, event.to_member)


class LotCaseSerializer(serializers.ModelSerializer):
    lot = serializers.PrimaryKeyRelatedField(read_only=True)
    kind = serializers.CharField(read_only=True, help_text=f"One of: {', '.join(LossCase.Kind.values)}")
    status = serializers.CharField(read_only=True, help_text=f"One of: {', '.join(LossCase.Status.values)}")
    last_member = serializers.SlugRelatedField(slug_field="member_no", read_only=True, allow_null=True)
    last_armory = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    opened_event = serializers.PrimaryKeyRelatedField(read_only=True, help_text="Seq of the `lot_loss` event")

    class Meta:
        model = LossCase
        fields = [
            "id", "lot", "quantity", "recovered_quantity", "kind", "status", "last_member", "last_armory",
            "circumstances", "occurred_at", "place", "police_report_no", "opened_at", "opened_by", "opened_event",
            "deadline", "closed_at",
        ]  # fmt: skip
        read_only_fields = fields


def event_data(request, event: LedgerEvent | None) -> dict | None:
    if event is None:
        return None
    event = LedgerEvent.objects.select_related(
        "lot", "from_armory", "from_member", "to_armory", "to_member", "actor"
    ).get(pk=event.pk)
    return LotEventSerializer(event, context={"request": request}).data


def case_data(request, case: LossCase | None) -> dict | None:
    if case is None:
        return None
    case = LossCase.objects.select_related("last_member", "last_armory", "opened_by").get(pk=case.pk)
    return LotCaseSerializer(case, context={"request": request}).data


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY})
class QuantityField(serializers.IntegerField):
    """A quantity of a lot. The schema states its range; the body takes any integer, so that the service's own codes
    (quantity_not_positive, quantity_too_large) reach the caller."""


@extend_schema_field({"type": "integer", "minimum": 0})
class SettledQuantityField(serializers.IntegerField):
    """A quantity settled (returned or expended): 0 or more; the service answers quantity_invalid otherwise."""


_QUANTITY = {"help_text": "A whole number from 1 to 10,000,000 (400 quantity_not_positive / quantity_too_large)"}


class LotReceiveSerializer(JSONBodySerializer):
    item_type = id_field(help_text="Id of an ammunition or consumable item type")
    lot_number = serializers.CharField(max_length=64)
    armory = serializers.CharField(max_length=32, help_text="Code of the store taking the delivery in")
    quantity = QuantityField(**_QUANTITY)
    delivery_ref = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class LotMovementSerializer(JSONBodySerializer):
    member = serializers.CharField(max_length=32, help_text="The member's number")
    quantity = QuantityField(**_QUANTITY)
    armory = serializers.CharField(max_length=32, required=False, help_text="Store code (default: the lot's home)")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class LotIssueSerializer(LotMovementSerializer):
    due_at = AwareDateTimeField(required=False, allow_null=True, help_text="Default: the type's loan period")
    receiver_pin = PinField(required=False, help_text="The receiving member's handover PIN (data.receiver_confirmed)")


class LotExpenditureFields(JSONBodySerializer):
    justification = serializers.ChoiceField(choices=lots.Justification.CHOICES, required=False)
    reference = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Training session id, incident report or disposal record reference",
    )


class LotExpendSerializer(LotExpenditureFields):
    justification = serializers.ChoiceField(choices=lots.Justification.CHOICES)
    member = serializers.CharField(max_length=32, required=False, help_text="Whose quantity was expended, or:")
    armory = serializers.CharField(max_length=32, required=False, help_text="The store whose stock is disposed of")
    quantity = QuantityField(**_QUANTITY)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class LotSettleSerializer(LotExpenditureFields):
    member = serializers.CharField(max_length=32)
    returned = SettledQuantityField(default=0)
    expended = SettledQuantityField(default=0)
    armory = serializers.CharField(max_length=32, required=False, help_text="Store taking the return (default: home)")
    place = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LotLossSerializer(JSONBodySerializer):
    member = serializers.CharField(max_length=32, required=False, help_text="Who held the lost quantity, or:")
    armory = serializers.CharField(max_length=32, required=False, help_text="The store it was lost from")
    quantity = QuantityField(**_QUANTITY)
    kind = code_field(
        LossCase.Kind.values,
        component="LossKindCode",
        max_length=16,
        help_text="What happened (400 unknown_kind otherwise)",
    )
    circumstances = serializers.CharField(max_length=5000)
    occurred_at = AwareDateTimeField()
    place = serializers.CharField(max_length=300)
    police_report_no = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class LotRecallSerializer(JSONBodySerializer):
    reason = serializers.CharField(max_length=300, allow_blank=True, help_text="Why (5+ characters)")


class LotRecoverSerializer(JSONBodySerializer):
    quantity = QuantityField(**_QUANTITY)
    armory = serializers.CharField(max_length=32, help_text="Code of the store it comes back into")
    notes = serializers.CharField(max_length=500, allow_blank=True, help_text="How and where it was recovered")


SettlementSerializer = inline_serializer(
    name="LotSettlement",
    fields={
        "returned": LotEventSerializer(allow_null=True),
        "expended": LotEventSerializer(allow_null=True),
        "loss_case": LotCaseSerializer(allow_null=True, help_text="Opened for whatever was not accounted for"),
    },
)
