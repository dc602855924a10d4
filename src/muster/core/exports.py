"""Exports of personal data as CSV or XLSX: a table built under the actor's unit scope, written safely, logged.

Safety: a text cell that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return)
is written with a leading apostrophe (`neutralise`), in CSV and XLSX alike. Every export is logged on the
audit trail (core.audit: an AuditEvent row and a `muster.audit` log line): who exported what, how many rows,
where to.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from muster.core.errors import NotFound, NotPermitted

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Control characters an XLSX file cannot hold (openpyxl refuses them); dropped rather than failing the export.
_ILLEGAL_XML = re.compile(r"[\000-\010\013\014\016-\037]")


def neutralise(value: Any) -> Any:
    """A text value a spreadsheet would take for a formula gets a leading apostrophe; anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass
class Table:
    title: str  # the sheet's name, and what the audit log says was exported
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)  # text, dates, numbers or None
    scope: str = ""  # which units the rows come from, for the audit log


def write_csv(table: Table, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([neutralise(name) for name in table.header])
    for row in table.rows:
        writer.writerow(["" if value is None else neutralise(_csv_value(value)) for value in row])


def _csv_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def write_xlsx(table: Table, stream: IO[bytes]) -> None:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title=table.title[:31])

    def cell(value: Any):
        if isinstance(value, str):
            value = neutralise(_ILLEGAL_XML.sub("", value))
        written = WriteOnlyCell(sheet, value=value)
        if isinstance(value, date):
            written.number_format = "yyyy-mm-dd"
        return written

    sheet.append([cell(name) for name in table.header])
    for row in table.rows:
        sheet.append([cell(value) for value in row])
    book.save(stream)


FORMATS = {"csv": write_csv, "xlsx": write_xlsx}


def deliver(table: Table, *, actor, file_format: str, stream: IO, destination: str) -> None:
    """Write `table` to `stream` as `file_format` and log it: personal data leaving Muster is always recorded."""
    from muster.core.audit import record
    from muster.core.models import AuditEvent

    FORMATS[file_format](table, stream)
    record(
        AuditEvent.Kind.EXPORT,
        account=actor,
        detail=f"{table.title}: {len(table.rows)} rows from {table.scope or 'all units'} as {file_format} "
        f"to {destination}",
    )


def as_text(table: Table) -> str:
    stream = io.StringIO()
    write_csv(table, stream)
    return stream.getvalue()


# --- the roster -----------------------------------------------------------------------------------------------

ROSTER_COLUMNS = ("member_no", "last_name", "first_name", "unit", "status", "phone", "email", "vetting_valid_until")


def roster(actor, *, unit_code: str | None = None, include_departed: bool = False) -> Table:
    """One row per member of the actor's units (staff roles) with, per qualification, the latest expiry date.

    Wide, not long: a unit admin filters and sorts a column per qualification ("who lacks counter-drone?") far more
    easily than a row per grant. An empty cell: never granted; a date in the past: expired.

    Phone and e-mail are filled in only where the actor may read them (members.contact: commanders and auditors of
    the member's unit); for an armorer or duty officer the columns stay, empty, so every roster file has one shape.
    """
    # core sits below the apps; the roster needs members and training, imported here so that core does not
    # import them when it loads (the roster could move to training/ without changing its callers).
    from django.db.models import Max

    from muster.members import scope
    from muster.members.contact import contact_of
    from muster.members.models import Member, Unit
    from muster.training.models import MemberQualification, Qualification

    if not scope.is_global(actor) and not scope.unit_paths(actor, scope.STAFF_ROLES):
        raise NotPermitted(f"{actor.username} holds no staff role; the roster is for unit staff.", code="not_staff")
    members = Member.objects.filter(scope.units_q(actor, scope.STAFF_ROLES, field="unit__path"))
    if scope.is_global(actor):
        units = "all units"
    else:
        paths = scope.unit_paths(actor, scope.STAFF_ROLES)
        units = "units " + ", ".join(sorted(Unit.objects.filter(path__in=paths).values_list("code", flat=True)))
    if unit_code:
        unit = scope.units(actor, scope.STAFF_ROLES).filter(code=unit_code).first()
        if unit is None:
            raise NotFound(f"No unit with code {unit_code!r} in your units.", code="unit_not_found")
        members = members.filter(unit__path__startswith=unit.path)
        units = f"unit {unit.code} and below"
    if not include_departed:
        members = members.exclude(status=Member.Status.DEPARTED)
    members = members.select_related("unit").order_by("unit__code", "last_name", "first_name", "member_no")
    qualifications = list(Qualification.objects.order_by("name"))
    latest = (
        MemberQualification.objects.filter(member__in=members)
        .values("member_id", "qualification_id")
        .annotate(expires=Max("expires_on"))
        .values_list("member_id", "qualification_id", "expires")
    )
    expiries = {(member_id, qualification_id): expires for member_id, qualification_id, expires in latest}
    table = Table(
        title="roster",
        header=[*ROSTER_COLUMNS, *(qualification.name for qualification in qualifications)],
        scope=units,
    )
    for member in members:
        contact = contact_of(actor, member)
        table.rows.append(
            [
                member.member_no,
                member.last_name,
                member.first_name,
                member.unit.code,
                member.status,
                contact["phone"],
                contact["email"],
                member.vetting_valid_until,
                *(expiries.get((member.pk, qualification.pk)) for qualification in qualifications),
            ]
        )
    return table
