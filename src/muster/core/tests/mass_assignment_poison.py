"""Poison for the mass-assignment test (test_mass_assignment.py): the forbidden fields a client adds to a request,
with values nothing in Muster ever writes, and a search of the whole database for them.

The values: a year nobody records (2001) for dates and times, one integer (987654), a few strings, and objects
built for the purpose — Mallory (an account with no role, a member of unit Z), unit Z and its armory. Foreign-key
fields are poisoned with primary keys, which is what a ModelSerializer or ModelForm would take if one replaced a
request serializer. After a request, `Poison.rows()` must find the same rows as before it: a poison value that
reached any column of any table shows up there.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.apps import apps
from django.db import models
from django.db.models import Q

from muster.core.testing import make_account, make_member, make_unit
from muster.custody.models import Armory
from muster.members.models import Account, Member, Unit

POISON_YEAR = 2001
POISON_TIME = datetime(POISON_YEAR, 2, 3, 4, 5, 6, tzinfo=UTC)
POISON_DATE = date(POISON_YEAR, 2, 3)
POISON_INT = 987654
POISON_TEXT = "mass-assigned"
POISON_HASH = "0bad" * 16  # the length of a ledger hash (and of a TOTP secret in hex)
POISON_TOKEN = "0bad" * 10  # the length of an API token
POISON_EMAIL = "mallory@poison.invalid"
POISON_STRINGS = (POISON_TEXT, POISON_HASH, POISON_TOKEN, POISON_EMAIL)


@dataclass
class Poison:
    mallory: Account
    mallory_member: Member
    unit: Unit
    armory: Armory

    @classmethod
    def build(cls) -> "Poison":
        unit = make_unit("Z-POISON", name="Unit Z")
        member = make_member(unit, first_name="Mallory", email=POISON_EMAIL)
        return cls(
            mallory=make_account("mallory", member=member),
            mallory_member=member,
            unit=unit,
            armory=Armory.objects.create(code="ARM-Z", name="Arms room Z", unit=unit),
        )

    # --- the forbidden fields, by what they would change ---------------------------------------------------------

    def generic(self) -> dict:
        """Sent to every write: ids, who acted and when, privileges, an unknown field."""
        return {
            "id": POISON_INT, "pk": POISON_INT, "actor": self.mallory.pk, "actor_id": self.mallory.pk,
            "created_by": self.mallory.pk, "updated_by": self.mallory.pk, "created_at": POISON_TIME,
            "updated_at": POISON_TIME, "recorded_at": POISON_TIME, "is_superuser": True, "is_staff": True,
            "is_active": False, "role": "commander", "roles": ["commander", "auditor"], "unit": self.unit.pk,
            "unit_id": self.unit.pk, "password": POISON_TEXT, "seq": POISON_INT, "hash": POISON_HASH,
            "prev_hash": POISON_HASH, "no_such_field": POISON_TEXT,
        }  # fmt: skip

    def item(self, holder_kind: str) -> dict:
        """An item's custody state, which only the ledger services write. `holder_kind`: the one it must not get."""
        return {
            "holder_member": self.mallory_member.pk, "holder_kind": holder_kind, "holder_armory": self.armory.pk,
            "home_armory": self.armory.pk, "custody_version": POISON_INT, "item_version": POISON_INT,
            "due_at": POISON_TIME, "last_inspected_on": POISON_DATE, "serial_number": POISON_TEXT,
            "from_member": self.mallory_member.pk, "to_member": self.mallory_member.pk,
        }  # fmt: skip

    def member(self) -> dict:
        """A member's record beyond the status and vetting services."""
        return {
            "status": "departed", "vetting_valid_until": POISON_DATE, "member_no": POISON_TEXT,
            "first_name": POISON_TEXT, "last_name": POISON_TEXT, "phone": POISON_TEXT, "email": POISON_EMAIL,
            "is_veteran": True, "joined_on": POISON_DATE, "member_id": self.mallory_member.pk,
            "changed_by": self.mallory.pk, "vetted_by": self.mallory.pk, "recorded_by": self.mallory.pk,
            "granted_by": self.mallory.pk, "from_status": "departed",
        }  # fmt: skip

    def lot(self) -> dict:
        return {
            "version": POISON_INT, "recalled_at": POISON_TIME, "recalled_by": self.mallory.pk,
            "recall_reason": POISON_TEXT, "home_armory": self.armory.pk, "holder_member": self.mallory_member.pk,
            "holder_armory": self.armory.pk, "balance": POISON_INT,
        }  # fmt: skip

    def loss_case(self) -> dict:
        return {
            "opened_by": self.mallory.pk, "status": "closed", "closed_at": POISON_TIME, "closed_by": self.mallory.pk,
            "opened_at": POISON_TIME, "deadline": POISON_TIME, "authorities_notified_at": POISON_TIME,
            "escalated_at": POISON_TIME, "last_member": self.mallory_member.pk, "last_armory": self.armory.pk,
            "recovered_quantity": POISON_INT, "opened_event": POISON_INT, "closed_event": POISON_INT,
        }  # fmt: skip

    def count(self) -> dict:
        return {
            "counter": self.mallory.pk, "signed_by": self.mallory.pk, "status": "closed", "signed_at": POISON_TIME,
            "submitted_at": POISON_TIME, "started_at": POISON_TIME, "due_at": POISON_TIME,
            "expected": [POISON_INT], "scanned_at": POISON_TIME,
            "resolved_by": self.mallory.pk, "resolved_at": POISON_TIME, "resolution": "loss_case",
        }  # fmt: skip

    def pin(self) -> dict:
        return {
            "set_by": self.mallory.pk, "set_at": POISON_TIME, "failures": POISON_INT, "locked_until": POISON_TIME,
            "pin_hash": POISON_HASH, "member": self.mallory_member.pk,
        }  # fmt: skip

    def training(self) -> dict:
        return {
            "status": "completed", "completed_at": POISON_TIME, "completed_by": self.mallory.pk,
            "instructor": self.mallory_member.pk, "granted_by": self.mallory.pk, "expires_on": POISON_DATE,
            "source": "prior_service", "result": "passed",
        }  # fmt: skip

    def policy(self) -> dict:
        return {"updated_by": self.mallory.pk, "updated_at": POISON_TIME, "unit": self.unit.pk}

    def checkpoint(self) -> dict:
        """What a signed checkpoint is made of: the service reads the head and signs it, nothing of the request."""
        return {"size": POISON_INT, "head_hash": POISON_HASH, "signature": POISON_HASH, "key_id": POISON_TEXT}

    def credentials(self) -> dict:
        """What an account's token or authenticator is made of."""
        return {
            "key": POISON_TOKEN, "user": self.mallory.pk, "created": POISON_TIME, "confirmed": True,
            "name": POISON_TEXT, "last_t": POISON_INT, "throttling_failure_count": POISON_INT, "drift": POISON_INT,
            "bin_key": POISON_HASH,
        }  # fmt: skip

    # --- the search ----------------------------------------------------------------------------------------------

    def rows(self) -> dict[str, list]:
        """{model label: primary keys of its rows that hold a poison value or point at a poison object}."""
        targets = {Account: self.mallory.pk, Member: self.mallory_member.pk, Unit: self.unit.pk, Armory: self.armory.pk}
        found = {}
        for model in apps.get_models(include_auto_created=True):
            if model._meta.proxy or not model._meta.managed:
                continue
            query = Q()
            for field in model._meta.concrete_fields:
                query |= _poisoned(field, targets)
            if query:
                pks = sorted(model._base_manager.filter(query).values_list("pk", flat=True), key=str)
                if pks:
                    found[model._meta.label] = pks
        return found


def _poisoned(field: models.Field, targets: dict) -> Q:
    if field.is_relation:
        target = targets.get(field.related_model)
        return Q(**{field.attname: target}) if target is not None else Q()
    if isinstance(field, models.DateField):  # DateTimeField is one too
        return Q(**{f"{field.attname}__year": POISON_YEAR})
    if isinstance(field, models.IntegerField):  # the auto fields too
        return Q(**{field.attname: POISON_INT})
    if isinstance(field, (models.CharField, models.TextField)):
        return Q(**{f"{field.attname}__in": POISON_STRINGS})
    return Q()


def encode(value, *, api: bool):
    """A poison value as the face takes it: ISO 8601 in JSON, the browser's datetime-local format in a form."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z") if api else value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [encode(item, api=api) for item in value]
    return value
