"""Import files for custody: armories and items (see docs/cli.md for the columns).

Items are registered through `services._register` inside the import's single transaction, so each gets its
`register` ledger event exactly as one registered by hand, and a failed file leaves no event behind. Creating an
armory or an item type goes through `services.create_armory` / `services.create_item_type`.
"""

from django.db import transaction
from django.utils import timezone

from muster.core.csvimport import Importer, Row
from muster.custody import queries, services
from muster.custody.models import Armory, Item, ItemType
from muster.members import scope
from muster.members.models import Role, Unit


class ArmoryImporter(Importer):
    kind = "armories"
    columns = ("code", "name", "unit_code", "address")
    example = ("N-1BN-A-ARMS", "Arms room, A Company", "N-1BN-A", "12 Depot Street, Building 3")
    error_columns = {"armory_code_taken": "code", "not_unit_staff": "unit_code"}

    def __init__(self, actor):
        super().__init__(actor)
        self.lines: dict[str, int] = {}
        self.units: dict[str, Unit | None] = {}

    def parse(self, row: Row) -> dict | None:
        code = row.code("code", max_length=32)
        if code and code in self.lines:
            row.error("code", f"duplicate of line {self.lines[code]}: {code!r}")
        elif code and Armory.objects.filter(code=code).exists():
            row.error("code", f"an armory with code {code!r} already exists")
        elif code:
            self.lines[code] = row.line
        name = row.text("name", required=True, max_length=200)
        address = row.text("address", max_length=300)
        unit_code = row.text("unit_code", required=True)
        unit = None
        if unit_code:
            if unit_code not in self.units:
                self.units[unit_code] = scope.units(self.actor).filter(code=unit_code).first()
            unit = self.units[unit_code]
            if unit is None:
                row.error("unit_code", f"no unit {unit_code!r} in your units")
        return None if row.errors else {"code": code, "name": name, "unit": unit, "address": address}

    def write(self, parsed: dict) -> None:
        services.create_armory(actor=self.actor, **parsed)


class ItemImporter(Importer):
    """Items, each registered into its home armory. A new item type is created from the first row naming it."""

    kind = "items"
    columns = (
        "item_type",
        "category",
        "model",
        "calibre",
        "serial_number",
        "home_armory_code",
        "condition",
        "manufacturer",
        "year_of_manufacture",
        "markings",
        "opens_armory_code",
    )
    optional_columns = ("opens_armory_code",)
    example = ("AK-74M assault rifle", "firearm", "AK-74M", "5.45×39 mm", "1234567", "N-1BN-A-ARMS", "serviceable",
               "Izhmash", "1991", "inv. 0042", "")  # fmt: skip
    error_columns = {
        "serial_taken": "serial_number",
        "serial_empty": "serial_number",
        "not_armorer": "item_type",
        "item_type_name_taken": "item_type",
        "by_lot": "item_type",
    }
    TYPE_FIELDS = ("category", "model", "calibre")

    def __init__(self, actor):
        super().__init__(actor)
        self.lines: dict[tuple[str, str], int] = {}  # (type name, serial) → first line
        self.armories: dict[str, Armory | None] = {}
        self.new_types: dict[str, tuple[int, dict[str, str]]] = {}  # name → (first line, category/model/calibre)

    def parse(self, row: Row) -> dict | None:
        type_name = row.text("item_type", required=True, max_length=120)
        type_fields = {
            "category": row.choice("category", ItemType.Category.values, default="") or "",
            "model": row.text("model", max_length=120),
            "calibre": row.text("calibre", max_length=40),
        }
        if type_name:
            self._check_type(row, type_name, type_fields)
        serial = row.text("serial_number", required=True, max_length=64)
        if type_name and serial:
            key = (type_name, serial)
            if key in self.lines:
                row.error("serial_number", f"duplicate of line {self.lines[key]}: {type_name} #{serial}")
            elif Item.objects.filter(item_type__name=type_name, serial_number=serial).exists():
                row.error("serial_number", f"{type_name} #{serial} is already registered")
            else:
                self.lines[key] = row.line
        parsed = {
            "type_name": type_name,
            "serial_number": serial,
            "home_armory": self._armory(row),
            "condition": row.choice("condition", Item.Condition.values, default=Item.Condition.SERVICEABLE),
            "manufacturer": row.text("manufacturer", max_length=120),
            "year_of_manufacture": row.integer("year_of_manufacture", minimum=1850, maximum=timezone.localdate().year),
            "markings": row.text("markings", max_length=200),
            "opens_armory": self._opens(row, type_name, type_fields["category"]),
        }
        return None if row.errors else parsed

    def _opens(self, row: Row, type_name: str, category: str) -> Armory | None:
        """A key or seal may name the armory it opens (its handover then makes a count of that armory due)."""
        code = row.text("opens_armory_code")
        if not code:
            return None
        existing = ItemType.objects.filter(name=type_name).values_list("category", flat=True).first()
        if (existing or category) not in (ItemType.Category.KEY, ItemType.Category.SEAL):
            row.error("opens_armory_code", "only keys and seals open an armory")
            return None
        armory = queries.visible_armories(self.actor).filter(code=code).select_related("unit").first()
        if armory is None:
            row.error("opens_armory_code", f"no armory {code!r} in your units")
        elif not scope.has_role(self.actor, armory.unit, {Role.ARMORER}):
            row.error("opens_armory_code", f"you are not an armorer of {armory.unit.code}, which owns {code}")
        return armory

    def _check_type(self, row: Row, name: str, given: dict[str, str]) -> None:
        """An existing type must match what the row says of it; a new one must be described the same way
        on every row (the first row that names it needs a category)."""
        existing = ItemType.objects.filter(name=name).values(*self.TYPE_FIELDS).first()
        if existing is None and name in self.new_types:
            first_line, existing = self.new_types[name]
            where = f"line {first_line}"
        elif existing is not None:
            where = "the existing item type"
        else:
            if not given["category"]:
                row.error("category", f"required for the new item type {name!r}")
            else:
                self.new_types[name] = (row.line, given)
            return
        for field in self.TYPE_FIELDS:
            if given[field] and given[field] != existing[field]:
                if not existing[field] and where != "the existing item type":
                    existing[field] = given[field]  # a later row of a new type may fill in what the first left out
                    continue
                said = repr(existing[field]) if existing[field] else "nothing"
                row.error(field, f"{given[field]!r} differs from {said} given for {name!r} on {where}")

    def _armory(self, row: Row) -> Armory | None:
        code = row.text("home_armory_code", required=True)
        if not code:
            return None
        if code not in self.armories:
            self.armories[code] = queries.visible_armories(self.actor).filter(code=code).select_related("unit").first()
        armory = self.armories[code]
        if armory is None:
            row.error("home_armory_code", f"no armory {code!r} in your units")
        elif not scope.has_role(self.actor, armory.unit, {Role.ARMORER}):
            row.error("home_armory_code", f"you are not an armorer of {armory.unit.code}, which owns {code}")
        return armory

    def write(self, parsed: dict) -> None:
        name = parsed.pop("type_name")
        with transaction.atomic():  # the new type and the item's registration stand or fall together
            item_type = ItemType.objects.filter(name=name).first()
            if item_type is None:
                # The first row naming a new type described it (a later one may have filled in blanks).
                item_type = services.create_item_type(name=name, actor=self.actor, **self.new_types[name][1])
            services._register(item_type=item_type, actor=self.actor, reason="imported", **parsed)
