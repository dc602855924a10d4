"""Import files for the roster: units and members (see docs/cli.md for the columns)."""

from muster.core.csvimport import Importer, Row
from muster.core.errors import DomainError
from muster.members import scope, services
from muster.members.models import Member, Role, Unit


class UnitImporter(Importer):
    """Units, parents before their sub-units (a parent may be an earlier line of the same file)."""

    kind = "units"
    columns = ("code", "name", "kind", "parent_code")
    example = ("N-1BN-A", "A Company, 1st Battalion", "company", "N-1BN")
    error_columns = {
        "unit_code_taken": "code",
        "not_commander": "parent_code",
        "superuser_required": "parent_code",
    }

    def __init__(self, actor):
        super().__init__(actor)
        self.lines: dict[str, int] = {}  # code → first line naming it
        self.bad_lines: set[int] = set()

    def parse(self, row: Row) -> dict | None:
        code = row.code("code", max_length=32)
        name = row.text("name", required=True, max_length=200)
        kind = row.choice("kind", Unit.Kind.values, default=Unit.Kind.OTHER)
        parent_code = row.values["parent_code"]
        if code and code in self.lines:
            row.error("code", f"duplicate of line {self.lines[code]}: {code!r}")
        elif code and Unit.objects.filter(code=code).exists():
            row.error("code", f"a unit with code {code!r} already exists")
        elif code:
            self.lines[code] = row.line
        parent = self._parent(row, parent_code, code) if parent_code else None
        if row.errors:
            self.bad_lines.add(row.line)
            return None
        return {"code": code, "name": name, "kind": kind, "parent": parent}

    def _parent(self, row: Row, parent_code: str, code: str) -> Unit | None:
        if parent_code == code:
            row.error("parent_code", "a unit cannot be its own parent")
            return None
        # Units written by earlier lines are already in the database (inside this import's transaction).
        parent = scope.units(self.actor).filter(code=parent_code).first()
        if parent is not None:
            return parent
        first = self.lines.get(parent_code)
        if first is not None and first in self.bad_lines:
            row.error("parent_code", f"parent {parent_code!r} is on line {first}, which has errors")
        else:
            row.error("parent_code", f"no unit {parent_code!r} in your units or on an earlier line of this file")
        return None

    def write(self, parsed: dict) -> None:
        try:
            services.create_unit(actor=self.actor, **parsed)
        except DomainError:
            self.bad_lines.add(self.lines[parsed["code"]])  # so its sub-units say why their parent is missing
            raise


class MemberImporter(Importer):
    kind = "members"
    columns = (
        "member_no",
        "first_name",
        "last_name",
        "phone",
        "email",
        "unit_code",
        "status",
        "is_veteran",
        "vetting_valid_until",
        "joined_on",
    )
    example = ("M-1042", "Olena", "Koval", "+380501234567", "olena@example.org", "N-1BN-A", "active", "no",
               "2030-06-30", "2024-03-01")  # fmt: skip
    error_columns = {"member_no_taken": "member_no", "not_commander": "unit_code"}
    STATUSES = tuple(Member.Status.values)

    def __init__(self, actor):
        super().__init__(actor)
        self.lines: dict[str, int] = {}
        self.units: dict[str, Unit | None] = {}
        # Read once per file, not once per row: a roster of thousands would otherwise cost a query per line.
        # (The service checks again when it writes the members.)
        self.taken = set(Member.objects.values_list("member_no", flat=True))
        self.pending: list[dict] = []

    def parse(self, row: Row) -> dict | None:
        member_no = row.text("member_no", required=True, max_length=32)
        if member_no and member_no in self.lines:
            row.error("member_no", f"duplicate of line {self.lines[member_no]}: {member_no!r}")
        elif member_no and member_no in self.taken:
            row.error("member_no", f"member number {member_no!r} is already taken")
        elif member_no:
            self.lines[member_no] = row.line
        fields = {
            "member_no": member_no,
            "first_name": row.text("first_name", required=True, max_length=100),
            "last_name": row.text("last_name", required=True, max_length=100),
            "phone": row.text("phone", max_length=32),
            "email": self._email(row),
            "unit": self._unit(row),
            "status": row.choice("status", self.STATUSES, default=Member.Status.APPLICANT),
            "is_veteran": row.boolean("is_veteran"),
            "vetting_valid_until": row.date("vetting_valid_until"),
            "joined_on": row.date("joined_on"),
        }
        return None if row.errors else fields

    def _email(self, row: Row) -> str:
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        email = row.text("email", max_length=254)
        if email:
            try:
                validate_email(email)
            except ValidationError:
                row.error("email", f"not an e-mail address: {email!r}")
        return email

    def _unit(self, row: Row) -> Unit | None:
        code = row.text("unit_code", required=True)
        if not code:
            return None
        if code not in self.units:
            self.units[code] = scope.units(self.actor).filter(code=code).first()
        if self.units[code] is None:
            row.error("unit_code", f"no unit {code!r} in your units")
        elif not scope.has_role(self.actor, self.units[code], {Role.COMMANDER}):
            row.error("unit_code", f"{self.actor.username} is not a commander of {code}; cannot add members to it.")
        return self.units[code]

    def write(self, parsed: dict) -> None:
        self.pending.append(parsed)  # written together in finish(): one bulk service call per file

    def finish(self) -> None:
        services.create_members(members=self.pending, actor=self.actor, reason="imported")
