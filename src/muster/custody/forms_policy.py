"""The unit custody policy form. It only parses what was typed (empty: inherit); the limits are the service's."""

from django import forms

from muster.core.views import bootstrap
from muster.custody import policy
from muster.custody.count_models import CountPolicy

_INHERIT = ("", "Inherit")


def _yes_no(value: str) -> bool:
    return value == "yes"


class UnitPolicyForm(forms.Form):
    default_loan_hours = forms.IntegerField(required=False)
    loss_report_hours = forms.IntegerField(required=False)
    overdue_escalation_hours = forms.IntegerField(required=False)
    counter_rotates = forms.TypedChoiceField(
        required=False, choices=[_INHERIT, ("yes", "Yes"), ("no", "No")], coerce=_yes_no, empty_value=None
    )
    second_signature = forms.TypedChoiceField(
        required=False, choices=[_INHERIT, ("yes", "Yes"), ("no", "No")], coerce=_yes_no, empty_value=None
    )
    count_frequency = forms.TypedChoiceField(
        required=False, choices=[_INHERIT, *CountPolicy.Frequency.choices], empty_value=None
    )

    def __init__(self, *args, inherited: dict | None = None, **kwargs):
        """`inherited`: name → (value, where from) that applies when the field is left empty, shown as help."""
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.label = policy.LABELS[name]
            if inherited and name in inherited:
                value, source = inherited[name]
                field.help_text = f"Empty: inherit ({shown(value)}, {source})."
        bootstrap(self)

    @staticmethod
    def initial_from(own: dict) -> dict:
        """The form's initial values from the unit's own settings (None stays empty)."""
        initial = {}
        for name, value in own.items():
            if isinstance(value, bool):
                initial[name] = "yes" if value else "no"
            elif value is not None:
                initial[name] = value
        return initial


def shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
