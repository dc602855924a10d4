"""Lots of ammunition and consumables in the API: the lots with their balances (read); receive, issue, return,
expend, settle, report lost, recall, and recover a lost quantity (write).

Thin, like custody.api: a permission class checks the role somewhere (403 before anything else), queries_lots finds the
lot within the caller's units (404), a serializer checks the shape of the body, custody.lots (custody.lot_losses for a
loss or a recovery) decides and raises the domain errors that core.api maps to 400/403/404/409. Quantities are plain
integers in the bodies so that the service's own codes (quantity_not_positive, quantity_too_large) reach the caller.
"""

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import parsers, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from muster.core.api import ScopedViewSet, error_responses, holds_role
from muster.core.api_input import ID_PARAMETER, IdFilter
from muster.custody import handover, lot_losses, lots, queries, queries_lots
from muster.custody.api_controls import Armorers, LossReporters
from muster.custody.api_lots_serializers import (
    LotCaseSerializer,
    LotEventSerializer,
    LotExpendSerializer,
    LotIssueSerializer,
    LotLossSerializer,
    LotMovementSerializer,
    LotRecallSerializer,
    LotReceiveSerializer,
    LotRecoverSerializer,
    LotSerializer,
    LotSettleSerializer,
    SettlementSerializer,
    case_data,
    event_data,
    with_balances,
)
from muster.custody.lot_models import Lot, LotBalance
from muster.custody.models import LedgerEvent

_READ_ERRORS = error_responses(400, 401)
_RETRIEVE_ERRORS = error_responses(401, 404)
_WRITE_ERRORS = error_responses(400, 401, 403, 404, 409)
LotManagers = holds_role(
    lots.LOT_MANAGERS, code="not_lot_manager", message="Lots are recalled by armorers and commanders."
)


class LotFilterSet(django_filters.FilterSet):
    armory = django_filters.CharFilter(method="in_armory", label="Homed in, or with stock in, this armory (code)")
    item_type = IdFilter(field_name="item_type_id", label="Item type id")
    recalled = django_filters.BooleanFilter(method="by_recall", label="Recalled (true) or not (false)")
    lot_number = django_filters.CharFilter(field_name="lot_number")

    class Meta:
        model = Lot
        fields: list = []

    def in_armory(self, queryset, name, value):
        stocked = LotBalance.objects.filter(holder_armory__code=value, quantity__gt=0).values("lot_id")
        return queryset.filter(Q(home_armory__code=value) | Q(pk__in=stocked))

    def by_recall(self, queryset, name, value):
        return queryset.filter(recalled_at__isnull=not value)


@extend_schema_view(
    list=extend_schema(
        summary="Lots of the caller's units, with their balances (a member: the lots they hold)",
        tags=["lots"], responses={200: LotSerializer, **_READ_ERRORS},
    ),
    retrieve=extend_schema(summary="One lot with its balances", tags=["lots"], parameters=[ID_PARAMETER],
                           responses={200: LotSerializer, **_RETRIEVE_ERRORS}),
)  # fmt: skip
class LotViewSet(ScopedViewSet):
    serializer_class = LotSerializer
    filterset_class = LotFilterSet

    def scoped_queryset(self, account):
        return with_balances(queries_lots.visible_lots(account)).order_by("item_type__name", "lot_number", "pk")


# --- writing -------------------------------------------------------------------------------------------------------


class LotActionView(APIView):
    """POST lots/{id}/<action>: the role somewhere (403), the lot among the caller's (404), then the body (400)."""

    permission_classes = [permissions.IsAuthenticated, Armorers]
    parser_classes = [parsers.JSONParser]
    body = LotMovementSerializer

    def validated(self) -> dict:
        body = self.body(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    def find(self, pk) -> tuple[Lot, dict]:
        lot = queries_lots.find_lot(self.request.user, pk)
        return lot, self.validated()

    def armory(self, data: dict):
        return queries.find_armory(self.request.user, data["armory"]) if data.get("armory") else None

    def holder(self, lot: Lot, data: dict):
        return queries_lots.find_holder(self.request.user, lot, data["member"]) if data.get("member") else None

    def created(self, event: LedgerEvent) -> Response:
        return Response(event_data(self.request, event), status=status.HTTP_201_CREATED)


def expenditure(data: dict) -> lots.Expenditure | None:
    return lots.Expenditure(data["justification"], data["reference"]) if data.get("justification") else None


def _documented(operation: str, summary: str, description: str, request, response):
    # Every lot action but receive names a lot (or, recover, a loss case) by id in its path.
    parameters = [] if operation == "receive" else [ID_PARAMETER]
    return extend_schema(
        operation_id=f"lots_{operation}", tags=["lots"], summary=summary, description=description, request=request,
        parameters=parameters, responses={response[0]: response[1], **_WRITE_ERRORS},
    )  # fmt: skip


class ReceiveView(LotActionView):
    body = LotReceiveSerializer

    @_documented("receive", "Receive a delivery of a lot into a store (the lot is created on its first delivery)",
                 "400: invalid, not_by_lot, lot_number_empty, not_a_store, quantity_*. 403: not_armorer. "
                 "404: item_type_not_found, armory_not_found. 409: lot_recalled.", LotReceiveSerializer,
                 (201, LotEventSerializer))  # fmt: skip
    def post(self, request):
        data = self.validated()
        item_type = queries_lots.find_item_type(data["item_type"])
        armory = queries.find_armory(request.user, data["armory"])
        event = lots.receive(
            item_type=item_type,
            lot_number=data["lot_number"],
            armory=armory,
            quantity=data["quantity"],
            actor=request.user,
            delivery_ref=data["delivery_ref"],
        )
        return self.created(event)


class IssueView(LotActionView):
    body = LotIssueSerializer

    @_documented("issue", "Issue a quantity of a lot from a store to a member",
                 "The member passes the same gate as for an item of the type. 409: insufficient_quantity, "
                 "lot_recalled, member_not_active, member_not_qualified, member_frozen, "
                 "receiver_confirmation_required, pin_wrong, pin_locked, pin_not_set. "
                 "403: not_armorer, member_out_of_scope, self_issue. "
                 "400: invalid, quantity_*, due_in_past. 404: lot_not_found, member_not_found, armory_not_found.",
                 LotIssueSerializer, (201, LotEventSerializer))  # fmt: skip
    def post(self, request, pk):
        lot, data = self.find(pk)
        member = queries.find_member(request.user, data["member"])
        armory = self.armory(data)
        # The rules first: a refused issue must not cost the member a PIN attempt (each is logged and counted).
        lots.precheck_issue(lot=lot, member=member, quantity=data["quantity"], actor=request.user, armory=armory,
                            due_at=data.get("due_at"))  # fmt: skip
        # Outside any transaction, so a wrong PIN is logged and counted although the request fails.
        receiver = confirm_pin(member, data.get("receiver_pin"), actor=request.user)
        event = lots.issue(lot=lot, member=member, quantity=data["quantity"], actor=request.user, armory=armory,
                           due_at=data.get("due_at"), reason=data["reason"], receiver=receiver)  # fmt: skip
        return self.created(event)


def confirm_pin(member, pin: str | None, *, actor) -> handover.Confirmation | None:
    return None if pin is None else handover.confirm(member=member, pin=pin, actor=actor, purpose="lot_issue")


class ReturnView(LotActionView):
    @_documented("return", "Take a quantity of a lot back from a member into a store",
                 "409: insufficient_quantity. 403: not_armorer, member_out_of_scope. 400: invalid, quantity_*. "
                 "404: lot_not_found, member_not_found, armory_not_found.", LotMovementSerializer,
                 (201, LotEventSerializer))  # fmt: skip
    def post(self, request, pk):
        lot, data = self.find(pk)
        event = lots.return_quantity(lot=lot, member=self.holder(lot, data), quantity=data["quantity"],
                                     actor=request.user, armory=self.armory(data), reason=data["reason"])  # fmt: skip
        return self.created(event)


class ExpendView(LotActionView):
    body = LotExpendSerializer

    @_documented("expend", "Account a member's quantity as expended, or dispose of a store's stock",
                 "Name `member` or `armory`. A member's quantity: justification training_session (its id) or "
                 "incident; a store's stock: disposal. 400: invalid, holder_missing, quantity_*, "
                 "justification_unknown, reference_missing, session_unknown, disposal_from_member, "
                 "expended_from_armory. 409: insufficient_quantity. 403: not_armorer. 404: lot_not_found, "
                 "member_not_found, armory_not_found.", LotExpendSerializer, (201, LotEventSerializer))  # fmt: skip
    def post(self, request, pk):
        lot, data = self.find(pk)
        event = lots.expend(lot=lot, quantity=data["quantity"], expenditure=expenditure(data), actor=request.user,
                            member=self.holder(lot, data), armory=self.armory(data), reason=data["reason"])  # fmt: skip
        return self.created(event)


class SettleView(LotActionView):
    body = LotSettleSerializer

    @_documented("settle", "Close out what a member holds: returned, expended, and a loss case for the rest",
                 "What is neither returned nor expended opens a loss case (kind unaccounted) at once and freezes "
                 "the member. 409: nothing_held, insufficient_quantity. 400: invalid, quantity_invalid, "
                 "justification_missing and the expend codes. 403: not_armorer. 404: lot_not_found, "
                 "member_not_found, armory_not_found.", LotSettleSerializer, (201, SettlementSerializer))  # fmt: skip
    def post(self, request, pk):
        lot, data = self.find(pk)
        result = lots.settle(lot=lot, member=self.holder(lot, data), returned=data["returned"],
                             expended=data["expended"], actor=request.user, expenditure=expenditure(data),
                             armory=self.armory(data), place=data["place"])  # fmt: skip
        body = {
            "returned": event_data(request, result.returned),
            "expended": event_data(request, result.expended),
            "loss_case": case_data(request, result.loss_case),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class LossView(LotActionView):
    permission_classes = [permissions.IsAuthenticated, LossReporters]
    body = LotLossSerializer

    @_documented("loss", "Report a quantity of a lot lost or stolen from a member or a store",
                 "A `lot_loss` event and a loss case; a member is frozen until it closes. 400: invalid, "
                 "holder_missing, unknown_kind, circumstances_missing, occurred_in_future, quantity_*. "
                 "409: insufficient_quantity. 403: not_loss_reporter. 404: lot_not_found, member_not_found, "
                 "armory_not_found.", LotLossSerializer, (201, LotCaseSerializer))  # fmt: skip
    def post(self, request, pk):
        lot, data = self.find(pk)
        case = lot_losses.report_loss(
            lot=lot, quantity=data["quantity"], kind=data["kind"], circumstances=data["circumstances"],
            occurred_at=data["occurred_at"], place=data["place"], actor=request.user, member=self.holder(lot, data),
            armory=self.armory(data), police_report_no=data["police_report_no"],
        )  # fmt: skip
        return Response(case_data(request, case), status=status.HTTP_201_CREATED)


class RecallView(LotActionView):
    permission_classes = [permissions.IsAuthenticated, LotManagers]
    body = LotRecallSerializer

    @_documented("recall", "Recall a lot: no more issues or deliveries; its holders are told to bring it back",
                 "400: invalid, recall_reason_missing. 403: not_lot_manager. 404: lot_not_found. "
                 "409: lot_already_recalled.", LotRecallSerializer, (200, LotSerializer))  # fmt: skip
    def post(self, request, pk):
        lot, data = self.find(pk)
        lots.recall(lot=lot, actor=request.user, reason=data["reason"])
        lot = with_balances(Lot.objects).get(pk=lot.pk)
        return Response(LotSerializer(lot, context={"request": request}).data)


class RecoverView(LotActionView):
    body = LotRecoverSerializer

    @_documented("recover", "Part or all of a lost lot quantity is back: a `lot_recover` event into a store",
                 "The case closes when everything lost has come back. 400: invalid, more_than_lost, notes_missing, "
                 "quantity_*. 409: case_closed. 403: not_armorer. 404: loss_case_not_found, armory_not_found.",
                 LotRecoverSerializer, (200, LotCaseSerializer))  # fmt: skip
    def post(self, request, pk):
        case = queries_lots.find_lot_case(request.user, pk)
        data = self.validated()
        armory = queries.find_armory(request.user, data["armory"])
        lot_losses.recover(case=case, quantity=data["quantity"], armory=armory, actor=request.user, notes=data["notes"])
        return Response(case_data(request, case))
