"""Counter forms: issue, return and member-to-member transfer, and the form that sets a member's handover PIN.

Built for a keyboard-wedge scanner: the serial field takes the focus, Enter in a scanned field moves on to the next
empty scanned field (a required PIN counts as one: the member types it on the counter keyboard), and Enter in the
last one submits. PINs are password inputs and never rendered back into a re-shown form.
"""

from django import forms
from django.conf import settings

from muster.core.views import bootstrap
from muster.custody.models import ItemType

OVERRIDE_PREFIX = "override_"
# A countersign is under way when any of these is filled in.
OVERRIDE_FIELDS = ("override_commander", "override_password", "override_otp", "override_reason")
_SCAN = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "data-scan": ""}


def _serial_field() -> forms.CharField:
    return forms.CharField(
        label="Item serial number",
        max_length=64,
        widget=forms.TextInput(attrs={**_SCAN, "autofocus": "", "placeholder": "Scan or type the serial"}),
    )


def _member_no_field(label: str = "Member number") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=32,
        widget=forms.TextInput(attrs={**_SCAN, "placeholder": "Scan the badge or type the number"}),
    )


def _pin_field(label: str, *, required: bool = True, help_text: str = "") -> forms.CharField:
    attrs = {"inputmode": "numeric", "autocomplete": "off", "pattern": "[0-9]*", "class": "pin-input"}
    if required:
        attrs["data-scan"] = ""  # part of the Enter-moves-on chain only when it must be filled in
    return forms.CharField(
        label=label,
        max_length=8,
        required=required,
        strip=False,
        widget=forms.PasswordInput(attrs=attrs),  # render_value=False: a PIN is never echoed back
        help_text=help_text,
    )


def _due_at_field(help_text: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label="Due back",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=help_text,
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
    member_no = _member_no_field()
    pin = _pin_field("Member's PIN")  # required or not: decided per request from the site setting, in __init__
    item_type = _item_type_field()
    due_at = _due_at_field("Leave empty for the item type's default loan period.")
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
    override_otp = forms.CharField(
        label="Commander's authenticator code",
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="Needed when the commander signs in with an authenticator app.",
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
        required = settings.MUSTER_REQUIRE_HANDOVER_PIN
        self.fields["pin"] = _pin_field(
            "Member's PIN",
            required=required,
            help_text="The member types their handover PIN here."
            if required
            else "Optional here: if the member types it, the ledger records the confirmation.",
        )
        bootstrap(self)

    def main_fields(self):
        return [field for field in self if not field.name.startswith(OVERRIDE_PREFIX)]

    def override_fields(self):
        return [field for field in self if field.name.startswith(OVERRIDE_PREFIX)]

    def override_requested(self) -> bool:
        data = self.cleaned_data
        return any(data.get(name) for name in OVERRIDE_FIELDS)


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


class TransferForm(forms.Form):
    """A member hands an issued item straight to another member; both type their PIN at the counter."""

    serial = _serial_field()
    to_member_no = _member_no_field("Receiving member's number")
    giver_pin = _pin_field("Giver's PIN", help_text="The member handing the item over types their PIN.")
    receiver_pin = _pin_field("Receiver's PIN", help_text="The member taking the item types their PIN.")
    item_type = _item_type_field()
    due_at = _due_at_field("Leave empty to keep the current due-back time.")
    reason = forms.CharField(label="Reason", max_length=500, required=False, widget=forms.TextInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bootstrap(self)

    def main_fields(self):
        return list(self)

    def override_fields(self):
        return []


class SetPinForm(forms.Form):
    """A new handover PIN, typed twice; the rules (4–8 digits, not too simple) are handover.set_pin's. A member
    setting their own PIN (`own`) also types their password or their current PIN (handover.set_pin's proof)."""

    prefix = "pin"

    new_pin = _pin_field("New PIN", required=True, help_text="4 to 8 digits; not one digit repeated or a run.")
    repeat_pin = _pin_field("Repeat the PIN")

    def __init__(self, *args, own: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.own = own
        if own:
            self.fields["current_password"] = forms.CharField(
                label="Your password",
                required=False,
                strip=False,
                max_length=4096,
                widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                help_text="To show it is you: your password, or else your current PIN below.",
            )
            self.fields["current_pin"] = _pin_field("Or your current PIN", required=False)
        for field in self.fields.values():
            field.widget.attrs.pop("data-scan", None)  # not a counter form
        bootstrap(self)

    def clean(self):
        data = super().clean()
        if data.get("new_pin") and data.get("repeat_pin") and data["new_pin"] != data["repeat_pin"]:
            self.add_error("repeat_pin", "The two PINs differ; type the same PIN twice.")
        if self.own and not (data.get("current_password") or data.get("current_pin")):
            self.add_error("current_password", "Type your password (or your current PIN) to set your own PIN.")
        return data
