"""XLSX workbooks: the first worksheet read row by row with openpyxl (XML through
defusedxml), dates as text, the header found below titles (merged header cells filled in,
a header over two rows read as one), blank rows skipped and counted."""

from __future__ import annotations

import datetime as dt
import itertools
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import openpyxl
import pandas as pd
from defusedxml import DefusedXmlException
from openpyxl.utils import get_column_letter

from scoring.contract.cells import SPREADSHEET_DECIMAL
from scoring.errors import FileFormatError
from scoring.files.layout import HEADER_SEARCH_ROWS, NO_HEADER_FOUND, named_columns, sheet_header
from scoring.files.limits import ReadLimits, check_zip_archive
from scoring.files.merged import MergedRange, header_rows, merged_ranges
from scoring.files.notices import BlankRows, Notice, header_row_notice
from scoring.files.streams import random_access
from scoring.files.table import RawTable, raw_table

#: Rows of one Excel worksheet; a sheet claiming more is not a spreadsheet Excel made.
_XLSX_MAX_ROWS = 1_048_576
#: Columns holding a year: a date cell in them stands for its year.
_YEAR_COLUMNS = ("year_established",)


def _xlsx_value(value: object) -> object:
    """Cell value as read; dates as ISO text, empty text as None."""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if value == "":
        return None
    return value


def _trimmed(values: tuple | list) -> list[str]:
    """Header cells as text, without the empty cells after the last one."""
    cells = ["" if v is None else str(v) for v in values]
    while cells and not cells[-1].strip():
        cells.pop()
    return cells


def _xml_reason(exc: BaseException) -> str:
    """One line on why openpyxl failed; defusedxml's refusal may be wrapped in its error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, DefusedXmlException):
            return f"XML entity or DTD declarations are not allowed ({type(cause).__name__})"
        cause = cause.__cause__ or cause.__context__
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def iter_xlsx(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    """The chunks of an XLSX workbook's first worksheet, from its header row on."""
    stream = random_access(stream)
    check_zip_archive(stream, source, limits)
    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a broken file
        raise FileFormatError(
            f"{source}: not a readable XLSX workbook ({_xml_reason(exc)}); "
            "expected an Excel .xlsx file"
        ) from exc
    try:
        if not workbook.worksheets:
            raise FileFormatError(f"{source}: the workbook has no worksheet; expected one")
        sheet = workbook.worksheets[0]
        merged = _header_merges(workbook, sheet, source, max_columns=limits.max_columns)
        sheet.reset_dimensions()  # the stored used range may be wrong: read every cell
        rows = _xlsx_rows(sheet.iter_rows(values_only=True), source)
        yield from _xlsx_tables(
            rows, source, chunk_rows, max_columns=limits.max_columns, merged=merged
        )
    finally:
        workbook.close()


def _header_merges(workbook, sheet, source: str, *, max_columns: int) -> list[MergedRange]:
    """The merged ranges of the first rows, where a header may be. The streaming reader
    does not give them; it keeps the archive and the sheet's path, which are read here."""
    archive = getattr(workbook, "_archive", None)
    member = getattr(sheet, "_worksheet_path", None)
    if archive is None or member is None:
        return []
    try:
        return merged_ranges(archive, member, max_row=HEADER_SEARCH_ROWS, max_col=max_columns + 1)
    except (OSError, EOFError, KeyError, RuntimeError, zipfile.BadZipFile, zlib.error) as exc:
        raise FileFormatError(
            f"{source}: cannot read the first worksheet ({_xml_reason(exc)}); "
            "expected a valid .xlsx file"
        ) from exc


def _xlsx_rows(rows: Iterator[tuple], source: str) -> Iterator[tuple[int, tuple]]:
    """(sheet row number, values), translating parse failures of the lazy reader.

    openpyxl fills a gap in the row numbers with empty rows, so a tiny sheet naming row
    two billion would keep it busy for minutes: rows past Excel's last one are refused.
    """
    number = 0
    while True:
        try:
            values = next(rows, None)
        except Exception as exc:  # a corrupt sheet fails while it is being read
            raise FileFormatError(
                f"{source}: cannot read the first worksheet after row {number} "
                f"({_xml_reason(exc)}); expected a valid .xlsx file"
            ) from exc
        if values is None:
            return
        number += 1
        if number > _XLSX_MAX_ROWS:
            raise FileFormatError(
                f"{source}: the first worksheet has rows past row {_XLSX_MAX_ROWS}, "
                "the last one of an Excel sheet; expected a valid .xlsx file"
            )
        yield number, values


def _xlsx_tables(
    rows: Iterator[tuple[int, tuple]],
    source: str,
    chunk_rows: int,
    *,
    max_columns: int,
    merged: list[MergedRange],
) -> Iterator[RawTable]:
    first = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    found = header_rows(first, merged)
    notices: list[Notice] = []
    note = ""
    if found is not None:
        header_cells, header_row, kind = found.cells, found.last, found.kind
        if found.first > 1 or found.last > found.first:
            notices.append(header_row_notice(found.first, found.last))
        notices += found.notices
        rows = itertools.chain((row for row in first if row[0] > header_row), rows)
    else:  # the first row that is not blank is taken; errors say so
        rows = itertools.chain(first, rows)
        taken = next((row for row in rows if any(_xlsx_value(v) is not None for v in row[1])), None)
        if taken is None:
            raise FileFormatError(
                f"{source}: the first worksheet is empty; expected a header row", code="empty"
            )
        (header_row, header_cells), kind = taken, None
        note = NO_HEADER_FOUND.format(row=header_row)
    header = sheet_header(_trimmed(header_cells), source, max_columns=max_columns, kind=kind)
    names = header.names
    notices += header.notices
    years = [i for i, name in enumerate(names) if name in _YEAR_COLUMNS]
    blank = BlankRows()
    buffer: list[list] = []
    numbers: list[int] = []
    yielded = False

    def flush() -> RawTable:
        frame = pd.DataFrame(buffer, columns=range(len(names)), dtype=object)
        taken = np.asarray(numbers, dtype=np.int64)
        frame = named_columns(frame, names, taken, source, note)
        told = notices if not yielded else []
        return raw_table(
            frame,
            taken,
            decimal=SPREADSHEET_DECIMAL,
            source=source,
            next_row=header_row + 1,
            header_row=header_row,
            columns=header.letters,
            notices=[*told, *blank.take()],
        )

    for number, values in rows:
        cells = [_xlsx_value(v) for v in values]
        if all(c is None for c in cells):
            blank.add_run(number, number)
            continue
        for i in years:  # a year typed as a date, or a date cell: its year
            if i < len(values) and isinstance(values[i], dt.date):
                cells[i] = values[i].year
        width = len(names)
        extra = next((i for i, c in enumerate(cells[width:], width) if c is not None), None)
        if extra is not None:
            letter = get_column_letter(extra + 1)
            raise FileFormatError(
                f"{source}: column {letter} has a value in row {number} "
                f"but no header; give the column a name or delete it{note}",
                code="no_header",
                column=letter,
                row=number,
            )
        if len(buffer) == chunk_rows:  # a full chunk goes once a row follows it: the blank
            yield flush()  # rows after the last one are told with the last chunk
            yielded = True
            buffer, numbers = [], []
        buffer.append(cells[:width] + [None] * (width - len(cells)))
        numbers.append(number)
    yield flush()
