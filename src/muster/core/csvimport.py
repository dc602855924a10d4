"""All-or-nothing imports from CSV or XLSX files, shared by every kind of file (units, members, armories, items,
training records).

A CSV file is read whole (UTF-8, with or without a byte-order mark, at most MAX_BYTES); the first sheet of an XLSX
workbook is streamed (openpyxl, read-only) once its archive has been checked for zip bombs, each cell turned into
the text a CSV file would hold. The header is checked against the importer's documented columns, then every row is
parsed and written inside ONE transaction. Every bad row is collected as (line, column, reason); if there is any,
the transaction is rolled back and `ImportFailed` lists them all, so a file goes in completely or not at all. Rows
are written as they are checked, each in a savepoint (see `Importer.write`), so that the services' own rules
(permissions, duplicates, a parent unit created a few lines earlier) are applied exactly as for a single change, and
a row that breaks one is reported like any other bad row.
"""

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import openpyxl
from django.db import transaction

from muster.core.errors import DomainError, Invalid

MB = 1024 * 1024
MAX_BYTES = 20 * MB
MAX_XLSX_UNPACKED = 50 * MB  # an XLSX is a zip archive: what it unpacks to is what reading it costs
MAX_XLSX_RATIO = 100  # real sheets compress 5-20:1; zip bombs thousands to one
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
        value = self.values.get(column, "")  # an optional column may be absent from the file
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
    noun = ""  # what the success message counts, when not `kind`: "training records"
    columns: tuple[str, ...] = ()
    optional_columns: tuple[str, ...] = ()  # may be left out of the header (added in a later release)
    example: tuple[str, ...] = ()  # one example data row, in column order (docs and tests)
    # Stable error codes from the services → the column a row error is reported against.
    error_columns: dict[str, str] = {}

    def __init__(self, actor):
        self.actor = actor

    def parse(self, row: Row) -> Any:
        """Check the row (recording errors on it) and return what `write` needs."""
        raise NotImplementedError

    def write(self, parsed: Any) -> None:
        """Create the row's record through the services; a DomainError becomes a row error.

        Must be atomic, so that a refused row leaves nothing behind for the rows after it: a service function is
        (nested in the import's transaction, it runs in a savepoint); wrap two calls in `transaction.atomic()`.
        """
        raise NotImplementedError

    def finish(self) -> None:
        """Called once after every row was written without error; importers that collect rows to write them in
        one service call (bulk) do it here. A DomainError here fails the whole file."""


def _check_size(path: Path, max_bytes: int, code: str) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Invalid(f"Cannot read {path}: {exc.strerror}.", code=f"{code}_unreadable") from None
    if size > max_bytes:
        raise Invalid(
            f"{path} is {size / MB:.1f} MB; import files may be at most {max_bytes // MB} MB. "
            "Split it into several files.",
            code=f"{code}_too_large",
        )


def _check_header(names: list[str], columns: tuple[str, ...], code: str, optional: tuple[str, ...] = ()) -> None:
    missing = [name for name in columns if name not in names and name not in optional]
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
            code=f"{code}_header",
        )


# --- CSV ---------------------------------------------------------------------------------------------------------


def read_text(path: str | Path, *, max_bytes: int = MAX_BYTES) -> str:
    path = Path(path)
    _check_size(path, max_bytes, "csv")
    try:
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


def read_rows(text: str, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> Iterator[Row]:
    """Check the header (raising Invalid), then yield the non-blank data rows with their first line numbers."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise Invalid(f"line 1: not valid CSV: {exc}", code="csv_malformed") from None
    if not header or not any(cell.strip() for cell in header):
        raise Invalid(f"The file is empty; its first line must be the header: {','.join(columns)}", code="csv_empty")
    names = [cell.strip() for cell in header]
    _check_header(names, columns, "csv", optional)
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


# --- XLSX --------------------------------------------------------------------------------------------------------


def _check_archive(path: Path) -> None:
    """Refuse what is not a workbook, and zip bombs, before openpyxl unpacks anything.

    zipfile never inflates a member past the size its directory declares (a lie fails the CRC check), so checking
    the declared sizes bounds what reading the workbook can cost.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Invalid(
            f"{path} is not an XLSX workbook (not a zip archive; a password-protected workbook is not one either). "
            "Save it from the spreadsheet as 'Excel Workbook (.xlsx)' or as 'CSV UTF-8'.",
            code="xlsx_corrupt",
        ) from None
    if not {"[Content_Types].xml", "xl/workbook.xml"} <= {member.filename for member in members}:
        raise Invalid(f"{path} is a zip archive but not an XLSX workbook.", code="xlsx_corrupt")
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_XLSX_UNPACKED:
        raise Invalid(
            f"{path} unpacks to {unpacked / MB:.0f} MB; a workbook may unpack to at most {MAX_XLSX_UNPACKED // MB} MB. "
            "Split it into several files.",
            code="xlsx_too_large",
        )
    for member in members:
        if member.file_size > MB and member.file_size > MAX_XLSX_RATIO * max(member.compress_size, 1):
            raise Invalid(
                f"{path} is refused: its part {member.filename} is compressed "
                f"{member.file_size // max(member.compress_size, 1)}:1, which no real spreadsheet is.",
                code="xlsx_bomb",
            )


def _open_workbook(path: Path, *, data_only: bool):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it skips; irrelevant here
            book = openpyxl.load_workbook(path, read_only=True, data_only=data_only, keep_links=False)
        if not book.worksheets:
            raise ValueError("it has no worksheet")
        return book
    except Exception as exc:  # openpyxl raises many kinds (KeyError, XML errors, ...) for a damaged file
        raise Invalid(f"{path} is not a readable XLSX workbook ({exc}).", code="xlsx_corrupt") from None


def _cell_text(value: Any) -> str:
    """A cell's value as the text a CSV file would hold: real dates → YYYY-MM-DD, 1042.0 → 1042, TRUE → yes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_xlsx(
    path: str | Path, columns: tuple[str, ...], *, max_bytes: int = MAX_BYTES, optional: tuple[str, ...] = ()
) -> Iterator[Row]:
    """The first sheet of a workbook: header in row 1; each Row's line is its spreadsheet row number."""
    path = Path(path)
    _check_size(path, max_bytes, "xlsx")
    _check_archive(path)
    # Read with formulas as formulas, so that a formula is never mistaken for an empty cell; a formula's saved
    # result comes from a second reader (_SavedResults), opened only if the sheet has formulas.
    book = _open_workbook(path, data_only=False)
    rows = book.worksheets[0].iter_rows()
    try:
        header = _next_cells(path, rows, 1) or ()
        names = [_cell_text(cell.value) for cell in header]
        while names and not names[-1]:
            names.pop()
        if not names:
            raise Invalid(f"Row 1 of the first sheet must be the header: {','.join(columns)}", code="xlsx_empty")
        _check_header(names, columns, "xlsx", optional)
    except BaseException:
        book.close()
        raise
    return _sheet_rows(path, rows, names, book)


def _next_cells(path: Path, rows: Iterator, number: int) -> tuple | None:
    try:
        return next(rows)
    except StopIteration:
        return None
    except Exception as exc:  # a damaged sheet may fail part-way (XML errors, bad numbers)
        raise Invalid(f"{path}: row {number} cannot be read ({exc}).", code="xlsx_corrupt") from None


class _SavedResults:
    """The values Excel saved for formula cells, from a reader that follows the main one row by row."""

    def __init__(self, path: Path):
        self.path = path
        self.book = None
        self.rows: Iterator = iter(())
        self.number = 0
        self.cells: tuple = ()

    def cell(self, number: int, index: int):
        if self.book is None:
            self.book = _open_workbook(self.path, data_only=True)
            self.rows = self.book.worksheets[0].iter_rows()
        while self.number < number:
            self.number += 1
            self.cells = _next_cells(self.path, self.rows, self.number) or ()
        return self.cells[index] if index < len(self.cells) else None

    def close(self) -> None:
        if self.book is not None:
            self.book.close()


def _sheet_rows(path: Path, rows: Iterator, names: list[str], book) -> Iterator[Row]:
    saved = _SavedResults(path)
    try:
        number = 1
        while (cells := _next_cells(path, rows, number + 1)) is not None:
            number += 1
            texts, problems = [], []
            for index, cell in enumerate(cells):
                value = saved.cell(number, index) if cell.data_type == "f" else cell  # a formula: its saved result
                if value is None or (cell.data_type == "f" and value.value is None):
                    problems.append((index, "formulas are not accepted (this one has no saved value); type the value"))
                elif value.data_type == "e":
                    problems.append((index, f"the cell holds the spreadsheet error {value.value}"))
                texts.append(_cell_text(value.value) if value is not None else "")
            if not problems and not any(texts):
                continue
            row = Row(number, {name: (texts[i] if i < len(texts) else "") for i, name in enumerate(names)})
            for index, reason in problems:
                row.error(names[index] if index < len(names) else None, reason)
            if any(texts[len(names) :]):
                row.error(None, f"has values to the right of the header's last column ({len(names)} columns)")
            yield row
    finally:
        book.close()
        saved.close()


def read_table(
    path: str | Path, columns: tuple[str, ...], *, max_bytes: int = MAX_BYTES, optional: tuple[str, ...] = ()
) -> Iterator[Row]:
    """The data rows of a .csv or .xlsx file (by its extension), after checking the header (raising Invalid)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_rows(read_text(path, max_bytes=max_bytes), columns, optional)
    if suffix == ".xlsx":
        return read_xlsx(path, columns, max_bytes=max_bytes, optional=optional)
    if suffix in {".xls", ".xlsm", ".xlsb", ".ods"}:
        raise Invalid(f"{path}: save it as 'Excel Workbook (.xlsx)' or as 'CSV UTF-8' first.", code="file_type")
    raise Invalid(f"{path}: an import file must end in .csv or .xlsx.", code="file_type")


@transaction.atomic(durable=True)
def _import(importer: Importer, rows: Iterator[Row]) -> int:
    errors: list[RowError] = []
    written = 0
    for row in rows:
        parsed = None if row.errors else importer.parse(row)
        if not row.errors:
            try:
                importer.write(parsed)
                written += 1
            except DomainError as exc:
                row.error(importer.error_columns.get(exc.code), exc.detail)
        errors.extend(row.errors)
    if not errors:
        try:
            importer.finish()
        except DomainError as exc:
            errors.append(RowError(0, None, f"{exc.detail} [{exc.code}]"))
    if errors:
        raise ImportFailed(errors, importer.kind)  # rolls back every row written above
    return written


def run(importer: Importer, path: str | Path, *, max_bytes: int = MAX_BYTES) -> int:
    """Import the file at `path`; return the number of records created, or raise Invalid / ImportFailed."""
    rows = read_table(path, importer.columns, max_bytes=max_bytes, optional=importer.optional_columns)
    return _import(importer, rows)


def template(importer_class: type[Importer]) -> str:
    return ",".join(importer_class.columns)
