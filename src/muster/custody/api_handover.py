"""Two-person handover in the API: member-to-member transfer with both PINs, and members' handover PINs.

The helpers at the top (confirm_pin, pin_status) are shared with the
`muster transfer` and `muster pin` commands, so both faces look things up and order the checks the same way.
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from muster.core.api import error_responses
from muster.core.api_input import AwareDateTimeField, JSONBodySerializer
from muster.core.auth import reauthenticate
from muster.core.errors import NotFound, NotPermitted
from muster.custody import handover, queries, services
from muster.custody.api import LedgerEventSerializer
from muster.custody.api_actions import CustodyActionView, CustodyRequestSerializer, PinField
from muster.custody.models import HandoverAttempt, HandoverPin
from muster.members import scope
from muster.members.models import Account, Member

RECENT_ATTEMPTS = 10


def confirm_pin(member: Member, pin: str | None, *, actor: Account, purpose: str) -> handover.Confirmation | None:
    """The member's confirmation from the PIN typed at the counter, or None when none was given. Call it outside
    any transaction and before the service: a wrong PIN is then logged and counted although the request fails."""
    if pin is None:
        return None
    return handover.confirm(member=member, pin=pin, actor=actor, purpose=purpose)


def pin_status(member: Member) -> dict:
    record = HandoverPin.objects.filter(member=member).select_related("set_by").first()
    attempts = HandoverAttempt.objects.filter(member=member).select_related("actor").order_by("-at", "-pk")
    locked_until = (
        record.locked_until if record and record.locked_until and record.locked_until > timezone.now() else None
    )
    return {
        "has_pin": record is not None,
        "set_at": record.set_at if record else None,
        "set_by": record.set_by.username if record else None,
        "locked_until": locked_until,
        "recent_attempts": [
            {
                "at": attempt.at,
                "succeeded": attempt.succeeded,
                "purpose": attempt.purpose,
                "actor": attempt.actor.username,
            }
            for attempt in attempts[:RECENT_ATTEMPTS]
        ],
    }


# --- transfer ------------------------------------------------------------------------------------------------------


class TransferSerializer(CustodyRequestSerializer):
    to_member = serializers.CharField(max_length=32, help_text="The receiving member's number")
    giver_pin = PinField(required=False, help_text="The PIN of the member handing the item over (its holder)")
    receiver_pin = PinField(required=False, help_text="The PIN of the member taking it")
    due_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When it is due back (default: the current due-back time)"
    )


class TransferView(CustodyActionView):
    # Any signed-in account: the holder transfers their own item; staff need armorer or duty officer (the service).
    permission_classes = [permissions.IsAuthenticated]
    request_serializer = TransferSerializer

    @extend_schema(
        operation_id="custody_transfer",
        tags=["custody"],
        summary="Hand an issued item from its holder straight to another member, both confirming with their PINs",
        description="Recorded by the holder's own account, or by an armorer or duty officer of the item's home unit. "
        "The receiver must pass the issue rules. Refusals (409): item_not_issued, giver_confirmation_required, "
        "receiver_confirmation_required, pin_wrong, pin_locked, pin_not_set, confirmation_expired, "
        "member_not_active, member_applicant, member_vetting_expired, member_not_qualified, item_unserviceable. "
        "403: not_transfer_recorder, member_out_of_scope. 404: item_not_found, member_not_found. "
        "400: invalid, transfer_to_holder, due_in_past, serial_ambiguous.",
        request=TransferSerializer,
        responses={201: LedgerEventSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request):
        data = self.validated(request)
        item = self.find_item(data)
        to_member = queries.find_recipient(request.user, item, data["to_member"])
        # Every rule first, so no PIN is tried for a handover that cannot happen (and nobody may use this
        # endpoint to test PINs without the right to record the transfer).
        services.precheck_transfer(item=item, to_member=to_member, actor=request.user, due_at=data.get("due_at"))
        giver_member = Member.objects.get(pk=item.holder_member_id)
        giver = confirm_pin(giver_member, data.get("giver_pin"), actor=request.user, purpose="transfer")
        receiver = confirm_pin(to_member, data.get("receiver_pin"), actor=request.user, purpose="transfer")
        event = services.transfer(
            item=item,
            to_member=to_member,
            actor=request.user,
            giver=giver,
            receiver=receiver,
            due_at=data.get("due_at"),
            reason=data["reason"],
        )
        return self.created(event)


# --- PINs ----------------------------------------------------------------------------------------------------------


class PinRequestSerializer(JSONBodySerializer):
    pin = PinField(help_text="4 to 8 digits; not one digit repeated, not a run like 1234")
    # A member setting their own PIN proves it is them: a stolen token alone must not change it (docs/security.md).
    current_password = serializers.CharField(
        required=False,
        write_only=True,
        max_length=4096,
        trim_whitespace=False,
        help_text="Your own PIN only: your password (or give current_pin)",
    )
    current_pin = PinField(required=False, help_text="Your own PIN only: the PIN you have now (or current_password)")


class PinAttemptSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    succeeded = serializers.BooleanField()
    purpose = serializers.CharField(help_text="issue, transfer, ...")
    actor = serializers.CharField(help_text="Username of the account on whose device the PIN was typed")


class PinStatusSerializer(serializers.Serializer):
    has_pin = serializers.BooleanField()
    set_at = serializers.DateTimeField(allow_null=True)
    set_by = serializers.CharField(allow_null=True, help_text="Username of the account that set it")
    locked_until = serializers.DateTimeField(allow_null=True, help_text="Set while the PIN is locked")
    recent_attempts = PinAttemptSerializer(many=True, help_text=f"The last {RECENT_ATTEMPTS} entries, newest first")


class MemberPinView(APIView):
    """/members/{member_no}/pin: the member is looked up in the caller's scope (else 404)."""

    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [parsers.JSONParser]

    @staticmethod
    def member_in_path(request, member_no: str):
        """A blank number in the path names no member: 404, as an unknown one (find_member's 400 is for bodies)."""
        if not member_no.strip():
            raise NotFound("No member with that number in your units.", code="member_not_found")
        return queries.find_member(request.user, member_no)

    @extend_schema(
        operation_id="members_pin_status",
        tags=["members"],
        summary="Whether a member has a handover PIN, whether it is locked, and the recent PIN entries",
        description="For staff of the member's unit and the member themself; other members answer 404.",
        responses={200: PinStatusSerializer, **error_responses(401, 404)},
    )
    def get(self, request, member_no: str):
        member = self.member_in_path(request, member_no)
        return Response(PinStatusSerializer(pin_status(member)).data)

    @extend_schema(
        operation_id="members_pin_set",
        tags=["members"],
        summary="Set or reset a member's handover PIN (the member, or an armorer or commander of their unit)",
        description="Resets the count of wrong entries and any lock. A member setting their own PIN also gives "
        "current_password or current_pin. 400: invalid, pin_format, pin_weak, owner_proof_required. "
        "403: not_pin_manager, password_wrong. 409 (current_pin): pin_wrong, pin_locked.",
        request=PinRequestSerializer,
        responses={
            204: OpenApiResponse(description="The PIN is set"),
            **error_responses(400, 401, 403, 404, 409),
        },
    )
    def post(self, request, member_no: str):
        member = self.member_in_path(request, member_no)
        if request.user.member_id != member.pk and not scope.has_role(request.user, member.unit, handover.PIN_MANAGERS):
            # Checked before the body, so a caller without the right learns nothing from validation messages.
            raise NotPermitted(
                "Only the member, or an armorer or commander of their unit, may set this PIN.", code="not_pin_manager"
            )
        body = PinRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        own = request.user.member_id == member.pk
        proof = self.owner_proof(request, member, body.validated_data) if own else handover.NOT_ASKED
        handover.set_pin(member=member, pin=body.validated_data["pin"], actor=request.user, proof=proof)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def owner_proof(request, member, data):
        """The member's password typed again (throttled and audited like a sign-in), else their current PIN (counted
        and locked like a PIN typed at the counter); neither: set_pin refuses with owner_proof_required."""
        if data.get("current_password"):
            proof = reauthenticate(request._request, data["current_password"], purpose=handover.OWNER_PROOF_PURPOSE)
            if proof is None:
                raise NotPermitted("That is not your password.", code="password_wrong")
            return proof
        if data.get("current_pin"):
            return handover.confirm(member=member, pin=data["current_pin"], actor=request.user, purpose="pin change")
        return None
