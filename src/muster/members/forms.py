"""Forms for a member's lifecycle on the member page: status changes, vettings, disciplinary entries.

The forms only parse what was typed; the rules (allowed transitions, dates, roles) live in members.services and
come back as DomainErrors that the view shows on the form.
"""

from django import forms
from django.utils import timezone

from muster.core.views import bootstrap
from muster.members.models import DisciplinaryEntry, Member, Vetting
from muster.members.services import TRANSITIONS

_DATE = {"type": "date"}


class StatusChangeForm(forms.Form):
    prefix = "status"

    to_status = forms.ChoiceField(label="New status")
    reason = forms.CharField(label="Reason", max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = TRANSITIONS.get(member.status, set())
        # Only the moves the roster allows from the current status, in the order the statuses are declared.
        self.fields["to_status"].choices = [
            (value, label) for value, label in Member.Status.choices if value in allowed
        ]
        bootstrap(self)

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the status changes.")
        return reason


class VettingForm(forms.Form):
    prefix = "vetting"

    vetted_on = forms.DateField(label="Vetted on", widget=forms.DateInput(attrs=_DATE))
    outcome = forms.ChoiceField(label="Outcome", choices=Vetting.Outcome.choices)
    valid_until = forms.DateField(
        label="Valid until",
        required=False,
        widget=forms.DateInput(attrs=_DATE),
        help_text="Needed for a pass; ignored for a failure.",
    )
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"vetted_on": timezone.localdate()})
        super().__init__(*args, **kwargs)
        bootstrap(self)


class DisciplinaryForm(forms.Form):
    prefix = "discipline"

    occurred_on = forms.DateField(label="Date", widget=forms.DateInput(attrs=_DATE))
    kind = forms.ChoiceField(label="Kind", choices=DisciplinaryEntry.Kind.choices)
    note = forms.CharField(label="What happened", max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"occurred_on": timezone.localdate()})
        super().__init__(*args, **kwargs)
        bootstrap(self)
