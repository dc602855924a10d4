"""Forms for the training pages. They parse what was typed; training.services decides what is allowed."""

import re
from datetime import date

from django import forms
from django.utils import timezone

from muster.core.views import bootstrap
from muster.members import scope
from muster.members.models import Account, Role
from muster.training.models import Course, Qualification, Trainee

_DATE = {"type": "date"}
MAX_REPORT_DAYS = 3650


def split_member_numbers(text: str) -> list[str]:
    """Member numbers typed or pasted one per line, comma- or space-separated; duplicates dropped, order kept."""
    return list(dict.fromkeys(part for part in re.split(r"[\s,;]+", text or "") if part))


def _unit_field(queryset, *, required: bool, empty_label: str | None = None) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label="Unit", queryset=queryset, to_field_name="code", required=required, empty_label=empty_label
    )


class CalendarFilterForm(forms.Form):
    month = forms.RegexField(
        label="Month", regex=r"^\d{4}-(0[1-9]|1[0-2])$", required=False, widget=forms.TextInput(attrs={"type": "month"})
    )
    course = forms.ModelChoiceField(
        label="Course", queryset=Course.objects.all(), required=False, empty_label="All courses"
    )
    unit = forms.CharField(label="Unit code", required=False, max_length=32)

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"] = _unit_field(
            scope.units(account, scope.STAFF_ROLES), required=False, empty_label="All units"
        )
        bootstrap(self)

    def month_start(self) -> date:
        text = self.cleaned_data.get("month") if self.is_valid() else ""
        if text:
            year, month = text.split("-")
            return date(int(year), int(month), 1)
        return timezone.localdate().replace(day=1)


class SessionForm(forms.Form):
    course = forms.ModelChoiceField(label="Course", queryset=Course.objects.all())
    unit = forms.CharField()  # replaced in __init__ by the units the account commands
    starts_at = forms.DateTimeField(
        label="Starts at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    place = forms.CharField(label="Place", max_length=200)
    instructor_no = forms.CharField(
        label="Instructor (member number)", max_length=32, required=False, help_text="Leave empty if not decided yet."
    )
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"] = _unit_field(scope.units(account, {Role.COMMANDER}), required=True)
        bootstrap(self)


class RosterForm(forms.Form):
    """Members to add: typed numbers plus any ticked in the search results (POSTed as `pick`)."""

    prefix = "roster"

    member_numbers = forms.CharField(
        label="Member numbers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "One per line, or separated by commas"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bootstrap(self)

    def clean(self):
        data = super().clean()
        picked = self.data.getlist("pick") if hasattr(self.data, "getlist") else []
        numbers = split_member_numbers(data.get("member_numbers", "") + " " + " ".join(picked))
        if not numbers:
            raise forms.ValidationError("Give at least one member number, or tick members found by the search.")
        data["numbers"] = numbers
        return data


class ResultsForm(forms.Form):
    """One row per trainee: attended, passed, a note. One submit records the whole roster."""

    prefix = "results"

    def __init__(self, *args, trainees: list[Trainee], **kwargs):
        super().__init__(*args, **kwargs)
        self.trainees = trainees
        for trainee in trainees:
            key = trainee.pk
            self.fields[f"attended_{key}"] = forms.BooleanField(
                label="Attended", required=False, initial=bool(trainee.attended)
            )
            self.fields[f"passed_{key}"] = forms.BooleanField(
                label="Passed", required=False, initial=trainee.result == Trainee.Result.PASSED
            )
            self.fields[f"note_{key}"] = forms.CharField(label="Note", required=False, max_length=300)
            self.fields[f"attended_{key}"].widget.attrs.update({"data-col": "attended"})
            self.fields[f"passed_{key}"].widget.attrs.update({"data-col": "passed"})
        bootstrap(self)
        for name, field in self.fields.items():
            if name.startswith("note_"):
                field.widget.attrs["class"] += " form-control-sm"

    def rows(self):
        for trainee in self.trainees:
            key = trainee.pk
            yield trainee, self[f"attended_{key}"], self[f"passed_{key}"], self[f"note_{key}"]

    def clean(self):
        data = super().clean()
        for trainee in self.trainees:
            if data.get(f"passed_{trainee.pk}") and not data.get(f"attended_{trainee.pk}"):
                self.add_error(f"passed_{trainee.pk}", f"{trainee.member.full_name} cannot pass without attending.")
        return data

    def results(self) -> list[tuple[Trainee, bool, bool, str]]:
        data = self.cleaned_data
        return [
            (trainee, data[f"attended_{trainee.pk}"], data[f"passed_{trainee.pk}"], data[f"note_{trainee.pk}"])
            for trainee in self.trainees
        ]


class CancelForm(forms.Form):
    prefix = "cancel"

    reason = forms.CharField(label="Reason", max_length=500)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bootstrap(self)


class PriorServiceForm(forms.Form):
    prefix = "prior"

    qualification = forms.ModelChoiceField(label="Qualification", queryset=Qualification.objects.all())
    granted_on = forms.DateField(label="Granted on", widget=forms.DateInput(attrs=_DATE))
    expires_on = forms.DateField(label="Expires on", widget=forms.DateInput(attrs=_DATE))
    evidence = forms.CharField(
        label="Evidence",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The document or record relied on, e.g. military ID and unit certificate number.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bootstrap(self)


class ExpiringFilterForm(forms.Form):
    days = forms.IntegerField(label="Within days", min_value=0, max_value=MAX_REPORT_DAYS, required=False)
    unit = forms.CharField(label="Unit code", max_length=32, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bootstrap(self)
