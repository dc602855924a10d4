"""Counter forms for the armorer: issue and return. Built for a keyboard-wedge scanner: the serial field takes the
focus, Enter in a scanned field moves on to the next empty scanned field, and Enter in the last one submits."""

from django import forms

from muster.core.views import bootstrap
from muster.custody.models import ItemType

OVERRIDE_PREFIX = "override_"
_SCAN = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "data-scan": ""}


def _serial_field() -> forms.CharField:
    return forms.CharField(
        label="Item serial number",
        max_length=64,
        widget=forms.TextInput(attrs={**_SCAN, "autofocus": "", "placeholder": "Scan or type the serial"}),
    )


def _item_type_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label="Item type",
        queryset=ItemType.objects.all(),
        required=False,
        empty_label="Any type (only if the serial is unique)",
        help_text="Needed only when the same serial number exists for several item types.",
    )


class IssueForm(forms.Form):
    serial = _serial_field()
    member_no = forms.CharField(
        label="Member number",
        max_length=32,
        widget=forms.TextInput(attrs={**_SCAN, "placeholder": "Scan the badge or type the number"}),
    )
    item_type = _item_type_field()
    due_at = forms.DateTimeField(
        label="Due back",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for the item type's default loan period.",
    )
    reason = forms.CharField(label="Reason", max_length=500, required=False, widget=forms.TextInput())
    # Shown only after a refusal a commander may override (services.OVERRIDABLE); the commander types these.
    override_commander = forms.CharField(
        label="Commander's username",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}),
    )
    override_password = forms.CharField(
        label="Commander's password",
        max_length=200,
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    override_reason = forms.CharField(
        label="Why the rule is overridden",
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Written into the ledger with the commander's name. At least 10 characters.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bootstrap(self)

    def main_fields(self):
        return [field for field in self if not field.name.startswith(OVERRIDE_PREFIX)]

    def override_fields(self):
        return [field for field in self if field.name.startswith(OVERRIDE_PREFIX)]

    def override_requested(self) -> bool:
        data = self.cleaned_data
        return any(data.get(name) for name in ("override_commander", "override_password", "override_reason"))


class ReturnForm(forms.Form):
    serial = _serial_field()
    item_type = _item_type_field()
    armory = forms.CharField(
        label="Into armory (code)",
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Empty: the item's home armory"}),
    )
    reason = forms.CharField(label="Reason", max_length=500, required=False, widget=forms.TextInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bootstrap(self)

    def main_fields(self):
        return list(self)

    def override_fields(self):
        return []
