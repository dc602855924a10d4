"""Per-unit custody policy in the API: GET the rules in force for a unit, PUT its own settings (commanders).

Thin like the web page: the unit is looked up in the caller's units (else 404), reading needs a staff role there
(403 not_staff), changing needs a commander of the unit or above (403 not_commander, checked before the body);
custody.policy.set_unit_policy validates and writes.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import parsers, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from muster.core.api import error_responses
from muster.core.api_input import JSONBodySerializer
from muster.core.errors import Invalid, NotPermitted
from muster.custody import policy
from muster.custody.count_models import CountPolicy
from muster.custody.policy_models import UnitPolicy
from muster.members.models import Unit


class PolicySettingsSerializer(JSONBodySerializer):
    """A unit's own settings; null (or left out, in a PUT) means: inherit from the units above, else the site."""

    default_loan_hours = serializers.IntegerField(
        allow_null=True, required=False, help_text="Due-back period when the item type sets none (1–8784 h)"
    )
    loss_report_hours = serializers.IntegerField(
        allow_null=True, required=False, help_text="Hours to report a loss to the authorities (1–8784)"
    )
    overdue_escalation_hours = serializers.IntegerField(
        allow_null=True, required=False, help_text="Hours after the armorers' overdue notice that commanders are told"
    )
    counter_rotates = serializers.BooleanField(allow_null=True, required=False)
    second_signature = serializers.BooleanField(allow_null=True, required=False)
    count_frequency = serializers.ChoiceField(choices=CountPolicy.Frequency.values, allow_null=True, required=False)


class InForceSerializer(serializers.Serializer):
    value = serializers.JSONField(help_text="The value in force")
    source = serializers.CharField(
        allow_null=True, help_text="Code of the unit whose policy sets it (this one or one above); null: site default"
    )


class EffectiveSerializer(serializers.Serializer):
    default_loan_hours = InForceSerializer()
    loss_report_hours = InForceSerializer()
    overdue_escalation_hours = InForceSerializer()
    counter_rotates = InForceSerializer()
    second_signature = InForceSerializer()
    count_frequency = InForceSerializer()


class UnitPolicySerializer(serializers.Serializer):
    unit = serializers.CharField(help_text="The unit's code")
    settings = PolicySettingsSerializer(help_text="The unit's own settings (null: inherited)")
    effective = EffectiveSerializer(help_text="What is in force for the unit, and where each value comes from")
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True, help_text="Username of who last changed the unit's settings")
    can_edit = serializers.BooleanField(help_text="Whether the caller may change the unit's settings")


def describe(unit: Unit, account) -> dict:
    rules = policy.effective(unit)
    own = UnitPolicy.objects.filter(unit=unit).select_related("updated_by").first()
    return {
        "unit": unit.code,
        "settings": {name: getattr(own, name) if own else None for name in policy.FIELDS},
        "effective": {
            name: {
                "value": getattr(rules, name),
                "source": rules.sources[name].code if rules.sources[name] is not None else None,
            }
            for name in policy.FIELDS
        },
        "updated_at": own.updated_at if own else None,
        "updated_by": own.updated_by.username if own and own.updated_by else None,
        "can_edit": policy.may_edit(account, unit),
    }


class UnitPolicyView(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema(
        operation_id="unit_custody_policy_retrieve",
        tags=["custody"],
        summary="The custody rules in force for a unit, and where each comes from",
        description="403 not_staff: the caller holds no staff role on the unit. 404: not in the caller's units.",
        responses={200: UnitPolicySerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, code):
        unit = policy.visible_unit(request.user, code)
        return Response(describe(unit, request.user))

    @extend_schema(
        operation_id="unit_custody_policy_update",
        tags=["custody"],
        summary="Replace a unit's own custody settings (a setting left out or null is inherited)",
        description="Commanders of the unit or a unit above it (403 not_commander). 400: unknown_setting, "
        "hours_not_whole, hours_out_of_range (default_loan_hours and loss_report_hours 1–8784, "
        "overdue_escalation_hours 0–8784), not_yes_or_no, unknown_frequency. Answers the policy as GET does.",
        request=PolicySettingsSerializer,
        responses={200: UnitPolicySerializer, **error_responses(400, 401, 403, 404)},
    )
    def put(self, request, code):
        unit = policy.visible_unit(request.user, code)
        if not policy.may_edit(request.user, unit):  # before the body, so a reader learns nothing from it
            raise NotPermitted(
                f"{request.user.username} is not a commander of {unit.code}; cannot change its custody policy.",
                code="not_commander",
            )
        if isinstance(request.data, dict):
            unknown = sorted(set(request.data) - set(policy.FIELDS))
            if unknown:
                raise Invalid(
                    f"Unknown setting {unknown[0]!r}; known: {', '.join(policy.FIELDS)}.", code="unknown_setting"
                )
        serializer = PolicySettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        given = {name: serializer.validated_data.get(name) for name in policy.FIELDS}
        policy.set_unit_policy(unit=unit, actor=request.user, **given)
        return Response(describe(unit, request.user))
