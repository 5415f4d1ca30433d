"""XLSX workbooks: the first worksheet read row by row with openpyxl (XML through
defusedxml), dates as text, the header found below titles."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import openpyxl
import pandas as pd
from defusedxml import DefusedXmlException
from openpyxl.utils import get_column_letter

from scoring.contract.cells import SPREADSHEET_DECIMAL
from scoring.errors import FileFormatError
from scoring.files.layout import (
    HEADER_SEARCH_ROWS,
    NO_HEADER_FOUND,
    column_letters,
    column_names,
    is_header,
    named_columns,
)
from scoring.files.limits import ReadLimits, check_zip_archive
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


def _xlsx_header(values: tuple, source: str, *, max_columns: int) -> list[str]:
    cells = ["" if v is None else str(v) for v in values]
    while cells and not cells[-1].strip():
        cells.pop()
    return column_names(cells, source, max_columns=max_columns)


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
        sheet.reset_dimensions()  # the stored used range may be wrong: read every cell
        rows = _xlsx_rows(sheet.iter_rows(values_only=True), source)
        yield from _xlsx_tables(rows, source, chunk_rows, max_columns=limits.max_columns)
    finally:
        workbook.close()


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
    rows: Iterator[tuple[int, tuple]], source: str, chunk_rows: int, *, max_columns: int
) -> Iterator[RawTable]:
    names: list[str] | None = None
    years: list[int] = []
    header_row = 0
    buffer: list[list] = []
    numbers: list[int] = []
    yielded = False
    first = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    found = next((i for i, (_, values) in enumerate(first) if is_header(values)), None)
    rows = itertools.chain(first[found or 0 :], rows)
    note = ""

    def flush() -> RawTable:
        frame = pd.DataFrame(buffer, columns=range(len(names)), dtype=object)
        taken = np.asarray(numbers, dtype=np.int64)
        frame = named_columns(frame, names, taken, source, note)
        return raw_table(
            frame,
            taken,
            decimal=SPREADSHEET_DECIMAL,
            source=source,
            next_row=header_row + 1,
            header_row=header_row,
            columns=column_letters(names),
        )

    for number, values in rows:
        cells = [_xlsx_value(v) for v in values]
        if all(c is None for c in cells):
            continue
        if names is None:
            names, header_row = _xlsx_header(values, source, max_columns=max_columns), number
            years = [i for i, name in enumerate(names) if name in _YEAR_COLUMNS]
            note = "" if found is not None else NO_HEADER_FOUND.format(row=number)
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
        buffer.append(cells[:width] + [None] * (width - len(cells)))
        numbers.append(number)
        if len(buffer) == chunk_rows:
            yield flush()
            yielded = True
            buffer, numbers = [], []
    if names is None:
        raise FileFormatError(
            f"{source}: the first worksheet is empty; expected a header row", code="empty"
        )
    if buffer or not yielded:
        yield flush()
