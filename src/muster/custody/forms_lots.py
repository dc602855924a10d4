"""Forms for lots of ammunition and consumables. They only parse what was typed; every rule (who may, how much is
held, whether an expenditure is justified) is custody.lots' and comes back as a form error with its code.

Quantities are plain whole numbers here, not bounded: the service says why one is refused (quantity_not_positive,
quantity_too_large), the same words on every face.
"""

from django import forms
from django.utils import timezone

from muster.core.views import bootstrap
from muster.custody.forms import _due_at_field, _member_no_field, _pin_field
from muster.custody.lots import Justification
from muster.custody.models import Armory, LossCase

_PLAIN = {"autocomplete": "off", "spellcheck": "false"}


def _quantity_field(label: str = "Quantity", **kwargs) -> forms.IntegerField:
    return forms.IntegerField(label=label, widget=forms.NumberInput(attrs={"inputmode": "numeric"}), **kwargs)


def _armory_field(label: str, empty_label: str, *, required: bool = False) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label=label, queryset=Armory.objects.none(), required=required, empty_label=None if required else empty_label
    )


def _justification_fields(required: bool, *, member_only: bool = False):
    choices = [c for c in Justification.CHOICES if not (member_only and c[0] == Justification.DISPOSAL)]
    kind = forms.ChoiceField(
        label="Expended at",
        choices=[("", "—"), *choices],
        required=required,
        help_text="A training session (its number), an incident report, or for armory stock a disposal record.",
    )
    reference = forms.CharField(
        label="Reference", max_length=100, required=False, widget=forms.TextInput(attrs=_PLAIN),
        help_text="The training session's number, the incident report's or the disposal record's reference.",
    )  # fmt: skip
    return kind, reference


class _LotForm(forms.Form):
    """Armory choices come from the view: the stores the caller serves, or those holding the lot."""

    armory_field = "armory"

    def __init__(self, *args, armories=None, **kwargs):
        super().__init__(*args, **kwargs)
        if armories is not None and self.armory_field in self.fields:
            self.fields[self.armory_field].queryset = armories
        bootstrap(self)


class ReceiveLotForm(_LotForm):
    item_type = forms.ModelChoiceField(
        label="Item type",
        queryset=None,
        empty_label=None,
        help_text="Ammunition and consumables only; serialized items are registered instead.",
    )
    lot_number = forms.CharField(
        label="Lot number", max_length=64, widget=forms.TextInput(attrs={**_PLAIN, "autofocus": ""})
    )
    armory = _armory_field("Into store", "", required=True)
    quantity = _quantity_field()
    delivery_ref = forms.CharField(label="Delivery note", max_length=100, required=False,
                                   widget=forms.TextInput(attrs=_PLAIN))  # fmt: skip

    def __init__(self, *args, item_types=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item_type"].queryset = item_types


class IssueLotForm(_LotForm):
    member_no = _member_no_field()
    quantity = _quantity_field()
    pin = _pin_field("Member's PIN")
    due_at = _due_at_field("Leave empty for the item type's default loan period.")
    armory = _armory_field("From store", "The lot's home store")
    reason = forms.CharField(label="Reason", max_length=500, required=False)

    def __init__(self, *args, pin_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        pin = _pin_field(
            "Member's PIN",
            required=pin_required,
            help_text="The member types their handover PIN here."
            if pin_required
            else "Optional here: if the member types it, the ledger records the confirmation.",
        )
        pin.widget.attrs["class"] = f"{pin.widget.attrs['class']} form-control"
        self.fields["pin"] = pin


class ReturnLotForm(_LotForm):
    member_no = _member_no_field()
    quantity = _quantity_field()
    armory = _armory_field("Into store", "The lot's home store")
    reason = forms.CharField(label="Reason", max_length=500, required=False)


class SettleLotForm(_LotForm):
    """The counter close-out: what comes back, what was used; the rest is unaccounted for and opens a loss case."""

    member_no = _member_no_field()
    returned = _quantity_field("Returned", initial=0, min_value=0)
    expended = _quantity_field("Expended", initial=0, min_value=0)
    justification, reference = _justification_fields(required=False, member_only=True)
    armory = _armory_field("Into store", "The lot's home store")
    place = forms.CharField(label="Place", max_length=200, required=False,
                            help_text="For the loss case if anything is missing; empty: the store.")  # fmt: skip


class ExpendLotForm(_LotForm):
    """Name either the member who used the quantity, or the store whose stock is disposed of."""

    armory_field = "from_armory"
    member_no = forms.CharField(label="Member number", max_length=32, required=False, widget=forms.TextInput(_PLAIN))
    from_armory = _armory_field("Or from store (disposal)", "— a member's quantity —")
    quantity = _quantity_field()
    justification, reference = _justification_fields(required=True)
    reason = forms.CharField(label="Reason", max_length=500, required=False)


class LotLossForm(_LotForm):
    armory_field = "from_armory"
    member_no = forms.CharField(label="Held by member", max_length=32, required=False, widget=forms.TextInput(_PLAIN))
    from_armory = _armory_field("Or held in store", "— a member's quantity —")
    quantity = _quantity_field()
    # "Unaccounted for" is what a settlement leaves over (the settle form opens that case itself, as a settlement
    # shortfall); a quantity reported here was lost, stolen or damaged.
    kind = forms.ChoiceField(
        label="What happened", choices=[c for c in LossCase.Kind.choices if c[0] != LossCase.Kind.UNACCOUNTED]
    )
    circumstances = forms.CharField(label="Circumstances", max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    occurred_at = forms.DateTimeField(
        label="When", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    place = forms.CharField(label="Where", max_length=300)
    police_report_no = forms.CharField(label="Police report number", max_length=64, required=False,
                                       widget=forms.TextInput(attrs=_PLAIN))  # fmt: skip

    def __init__(self, *args, **kwargs):
        kwargs["initial"] = {
            "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            **kwargs.get("initial", {}),
        }
        super().__init__(*args, **kwargs)


class RecallLotForm(_LotForm):
    reason = forms.CharField(label="Why the lot is recalled", max_length=300, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Every member holding some is told to bring it back.")  # fmt: skip


class RecoverLotForm(_LotForm):
    quantity = _quantity_field("Quantity recovered")
    armory = _armory_field("Into store", "", required=True)
    notes = forms.CharField(label="How and where it was recovered", max_length=500,
                            widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip


class LotFilterForm(forms.Form):
    """The lot list's filters; a bad value is ignored (the list shows unfiltered rather than an error)."""

    q = forms.CharField(label="Lot number", required=False, widget=forms.TextInput(attrs={**_PLAIN, "type": "search"}))
    armory = forms.ModelChoiceField(label="Armory", queryset=None, required=False, empty_label="All armories",
                                    to_field_name="code")  # fmt: skip
    item_type = forms.ModelChoiceField(label="Type", queryset=None, required=False, empty_label="All types")
    recalled = forms.ChoiceField(label="Recall", required=False,
                                 choices=[("", "Any"), ("yes", "Recalled"), ("no", "Not recalled")])  # fmt: skip

    def __init__(self, *args, armories, item_types, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["armory"].queryset = armories
        self.fields["item_type"].queryset = item_types
        bootstrap(self)
