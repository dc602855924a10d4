"""A unit's custody policy: the rules issue #4 makes configurable per unit. Empty fields inherit.

Each field left empty (null) takes the value of the nearest unit above that sets it, else the site setting
(custody.policy.effective works it out). Written only by custody.policy.set_unit_policy.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from muster.custody.count_models import CountPolicy
from muster.members.models import Unit


def _null_or(field: str, **condition) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__{key}": value for key, value in condition.items()})


class UnitPolicy(models.Model):
    unit = models.OneToOneField(Unit, on_delete=models.CASCADE, related_name="custody_policy")
    default_loan_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Due-back period of an issue when the item type sets none"
    )
    loss_report_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Hours to report a loss to the authorities before it escalates"
    )
    overdue_escalation_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Hours after the armorers' overdue notice that the commanders are told"
    )
    counter_rotates = models.BooleanField(null=True, blank=True, help_text="The counter is not who counted last")
    second_signature = models.BooleanField(null=True, blank=True, help_text="A second person signs each count")
    # Null, not "", means "inherit", as for every other field here.
    count_frequency = models.CharField(  # noqa: DJ001
        max_length=16, null=True, blank=True, choices=CountPolicy.Frequency.choices
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name_plural = "unit policies"
        constraints = [
            models.CheckConstraint(
                condition=_null_or("default_loan_hours", gt=0), name="unit_policy_loan_hours_positive"
            ),
            models.CheckConstraint(
                condition=_null_or("loss_report_hours", gt=0), name="unit_policy_loss_report_hours_positive"
            ),
            # Zero is allowed, as for the site setting: the commanders are told at the same time as the armorers.
            models.CheckConstraint(
                condition=_null_or("overdue_escalation_hours", gte=0), name="unit_policy_escalation_hours_not_negative"
            ),
            models.CheckConstraint(
                condition=_null_or("count_frequency", **{"in": CountPolicy.Frequency.values}),
                name="unit_policy_count_frequency_known",
            ),
        ]

    def __str__(self) -> str:
        return f"custody policy of {self.unit.code}"
