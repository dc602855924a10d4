"""All-or-nothing CSV imports, shared by every kind of file (units, members, armories, items).

A file is read whole (UTF-8, with or without a byte-order mark, at most MAX_BYTES), its header checked against the
importer's documented columns, then every row is parsed and written inside ONE transaction. Every bad row is
collected as (line, column, reason); if there is any, the transaction is rolled back and `ImportFailed` lists them
all, so a file goes in completely or not at all. Rows are written as they are checked (each in a savepoint) so that
the services' own rules (permissions, duplicates, a parent unit created a few lines earlier) are applied exactly as
for a single change, and a row that breaks one is reported like any other bad row.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.db import transaction

from muster.core.errors import DomainError, Invalid

MAX_BYTES = 20 * 1024 * 1024
_TRUE = {"yes", "true", "1", "y"}
_FALSE = {"no", "false", "0", "n", ""}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        if self.column:
            return f"line {self.line}, column {self.column}: {self.reason}"
        return f"line {self.line}: {self.reason}"


class ImportFailed(DomainError):
    """The file had bad rows; nothing was imported. `errors` lists every one."""

    http_status = 400
    exit_code = 1
    default_code = "import_rows_invalid"

    def __init__(self, errors: list[RowError], kind: str):
        rows = len({error.line for error in errors})
        super().__init__(f"{rows} bad row{'s' if rows != 1 else ''} in the {kind} file; nothing was imported.")
        self.errors = errors


class Row:
    """One data row: typed accessors that record a RowError instead of raising, so every problem is reported."""

    def __init__(self, line: int, values: dict[str, str]):
        self.line = line
        self.values = values
        self.errors: list[RowError] = []

    def error(self, column: str | None, reason: str) -> None:
        self.errors.append(RowError(self.line, column, reason))

    def text(self, column: str, *, required: bool = False, max_length: int | None = None) -> str:
        value = self.values[column]
        if required and not value:
            self.error(column, "required")
        elif max_length is not None and len(value) > max_length:
            self.error(column, f"longer than {max_length} characters ({len(value)})")
        return value

    def code(self, column: str, *, max_length: int) -> str:
        """A required short code (a Django SlugField): ASCII letters, digits, '-' and '_'."""
        value = self.text(column, required=True, max_length=max_length)
        if value and not re.fullmatch(r"[-a-zA-Z0-9_]+", value):
            self.error(column, f"{value!r} may hold only letters, digits, '-' and '_'")
        return value

    def choice(self, column: str, choices: Iterable[str], *, default: str | None = None) -> str | None:
        value = self.values[column]
        allowed = list(choices)
        if not value and default is not None:
            return default
        if value not in allowed:
            shown = repr(value) if value else "empty"
            self.error(column, f"{shown} is not one of {', '.join(allowed)}")
            return None
        return value

    def date(self, column: str, *, required: bool = False) -> date | None:
        value = self.values[column]
        if not value:
            if required:
                self.error(column, "required (YYYY-MM-DD)")
            return None
        try:
            if not _ISO_DATE.fullmatch(value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.error(column, f"not a date (YYYY-MM-DD): {value!r}")
            return None

    def boolean(self, column: str) -> bool:
        value = self.values[column].lower()
        if value in _TRUE:
            return True
        if value not in _FALSE:
            self.error(column, f"not yes/no/true/false/1/0: {self.values[column]!r}")
        return False

    def integer(self, column: str, *, minimum: int, maximum: int) -> int | None:
        value = self.values[column]
        if not value:
            return None
        if not re.fullmatch(r"-?\d+", value) or not minimum <= int(value) <= maximum:
            self.error(column, f"not a whole number from {minimum} to {maximum}: {value!r}")
            return None
        return int(value)


class Importer:
    """One kind of import file. Subclasses declare the columns and turn a row into a service call."""

    kind = ""  # plural noun used in messages: "units"
    columns: tuple[str, ...] = ()
    example: tuple[str, ...] = ()  # one example data row, in column order (docs and tests)
    # Stable error codes from the services → the column a row error is reported against.
    error_columns: dict[str, str] = {}

    def __init__(self, actor):
        self.actor = actor

    def parse(self, row: Row) -> Any:
        """Check the row (recording errors on it) and return what `write` needs."""
        raise NotImplementedError

    def write(self, parsed: Any) -> None:
        """Create the row's record through the services; a DomainError becomes a row error."""
        raise NotImplementedError


def read_text(path: str | Path, *, max_bytes: int = MAX_BYTES) -> str:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise Invalid(
                f"{path} is {size / 1048576:.1f} MB; import files may be at most {max_bytes // 1048576} MB. "
                "Split it into several files.",
                code="csv_too_large",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise Invalid(f"Cannot read {path}: {exc.strerror}.", code="csv_unreadable") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Invalid(
            f"{path} is not UTF-8 text (line {line} has the byte 0x{data[exc.start]:02x}). "
            "Save it as 'CSV UTF-8' and try again.",
            code="csv_not_utf8",
        ) from None


def _delimiter(text: str) -> str:
    # Spreadsheets in locales with a decimal comma save CSV with semicolons; accept that when the header says so.
    header = text.split("\n", 1)[0]
    return ";" if ";" in header and "," not in header else ","


def read_rows(text: str, columns: tuple[str, ...]) -> Iterator[Row]:
    """Check the header (raising Invalid), then yield the non-blank data rows with their first line numbers."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise Invalid(f"line 1: not valid CSV: {exc}", code="csv_malformed") from None
    if not header or not any(cell.strip() for cell in header):
        raise Invalid(f"The file is empty; its first line must be the header: {','.join(columns)}", code="csv_empty")
    names = [cell.strip() for cell in header]
    missing = [name for name in columns if name not in names]
    unknown = [name for name in names if name not in columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(map(repr, unknown))}")
    if repeated:
        problems.append(f"repeated column{'s' if len(repeated) > 1 else ''}: {', '.join(repeated)}")
    if problems:
        raise Invalid(
            f"line 1: the header does not match; {'; '.join(problems)}. Expected: {','.join(columns)}",
            code="csv_header",
        )
    return _data_rows(reader, names)


def _data_rows(reader, names: list[str]) -> Iterator[Row]:
    next_line = reader.line_num + 1
    while True:
        line = next_line
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise Invalid(f"line {line}: not valid CSV: {exc}", code="csv_malformed") from None
        next_line = reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        row = Row(line, {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(names)})
        if len(cells) != len(names):
            row.error(None, f"has {len(cells)} fields, the header has {len(names)}")
        yield row


@transaction.atomic(durable=True)
def _import(importer: Importer, rows: Iterator[Row]) -> int:
    errors: list[RowError] = []
    written = 0
    for row in rows:
        parsed = None if row.errors else importer.parse(row)
        if not row.errors:
            try:
                with transaction.atomic():
                    importer.write(parsed)
                written += 1
            except DomainError as exc:
                row.error(importer.error_columns.get(exc.code), exc.detail)
        errors.extend(row.errors)
    if errors:
        raise ImportFailed(errors, importer.kind)  # rolls back every row written above
    return written


def run(importer: Importer, path: str | Path, *, max_bytes: int = MAX_BYTES) -> int:
    """Import the file at `path`; return the number of records created, or raise Invalid / ImportFailed."""
    rows = read_rows(read_text(path, max_bytes=max_bytes), importer.columns)
    return _import(importer, rows)


def template(importer_class: type[Importer]) -> str:
    return ",".join(importer_class.columns)
