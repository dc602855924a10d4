"""Forms of the custody controls: loss cases, maintenance, and counts. They only parse what was typed; the rules
(who may, which state allows it) are the services' and come back as form errors."""

from django import forms
from django.utils import timezone

from muster.core.views import bootstrap
from muster.custody.models import Armory, Item, LossCase

_PLAIN = {"autocomplete": "off", "spellcheck": "false"}


def _local_now() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


class _Bootstrapped(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bootstrap(self)


class LossReportForm(_Bootstrapped):
    kind = forms.ChoiceField(label="What happened", choices=LossCase.Kind.choices)
    circumstances = forms.CharField(
        label="Circumstances", max_length=5000, widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Who noticed, what was done, who else was there.",
    )  # fmt: skip
    occurred_at = forms.DateTimeField(
        label="When", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="As far as known.",
    )  # fmt: skip
    place = forms.CharField(label="Where", max_length=300)
    police_report_no = forms.CharField(
        label="Police report number", max_length=64, required=False, widget=forms.TextInput(attrs=_PLAIN),
        help_text="If already reported; otherwise record it on the case before the deadline.",
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"occurred_at": _local_now()})
        super().__init__(*args, **kwargs)


class PoliceReportForm(_Bootstrapped):
    police_report_no = forms.CharField(label="Police report number", max_length=64, widget=forms.TextInput(_PLAIN))


class RecoverForm(_Bootstrapped):
    armory = forms.ModelChoiceField(label="Into armory", queryset=Armory.objects.none())
    condition = forms.ChoiceField(
        label="Condition", required=False, choices=[("", "Unchanged"), *Item.Condition.choices]
    )
    notes = forms.CharField(
        label="How and where it was recovered", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, armories=None, **kwargs):
        super().__init__(*args, **kwargs)
        if armories is not None:
            self.fields["armory"].queryset = armories


class SendForm(_Bootstrapped):
    workshop = forms.ModelChoiceField(label="Workshop", queryset=Armory.objects.none(), empty_label=None)
    reason = forms.CharField(label="What needs doing", max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, workshops=None, **kwargs):
        super().__init__(*args, **kwargs)
        if workshops is not None:
            self.fields["workshop"].queryset = workshops


class ReceiveForm(_Bootstrapped):
    condition = forms.ChoiceField(label="Condition after the work", choices=Item.Condition.choices)
    notes = forms.CharField(
        label="Notes", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was done.",
    )  # fmt: skip
    inspected = forms.BooleanField(label="Inspected", required=False, initial=True)
    armory = forms.ModelChoiceField(
        label="Into armory", queryset=Armory.objects.none(), required=False, empty_label="Its home armory"
    )

    def __init__(self, *args, stores=None, **kwargs):
        super().__init__(*args, **kwargs)
        if stores is not None:
            self.fields["armory"].queryset = stores


class ScanForm(_Bootstrapped):
    code = forms.CharField(
        label="Scan or type a serial number, then Enter",
        max_length=80,
        widget=forms.TextInput(attrs={**_PLAIN, "autofocus": "", "autocapitalize": "characters"}),
    )


class ResolveForm(_Bootstrapped):
    """One discrepancy's resolution. A missing item is found by scanning it back (its serial in `scanned_code`), or
    becomes a loss case; other kinds are explained."""

    scanned_code = forms.CharField(
        label="Found: scan the item", max_length=80, required=False,
        widget=forms.TextInput(attrs={**_PLAIN, "autocapitalize": "characters"}),
        help_text="Its serial number, scanned from the item in hand. Not found: open a loss case instead.",
    )  # fmt: skip
    explanation = forms.CharField(
        label="Explanation", max_length=5000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What was found, or what happened (at least 10 characters).",
    )  # fmt: skip
    open_loss_case = forms.BooleanField(label="Open a loss case", required=False)
    place = forms.CharField(
        label="Where it was last seen", max_length=300, required=False,
        help_text="For the loss case; empty: the armory.",
    )  # fmt: skip

    def __init__(self, *args, discrepancy=None, **kwargs):
        if discrepancy is not None:  # one form per row: ids of their own, the same field names
            kwargs.setdefault("auto_id", f"id_d{discrepancy.pk}_%s")
        super().__init__(*args, **kwargs)
        if discrepancy is not None and discrepancy.kind != "missing":
            del self.fields["scanned_code"], self.fields["open_loss_case"], self.fields["place"]
