"""CSV files (any of ";", tab and "," as separator): the header found, the text checked as
it streams, and the rows read by pandas in chunks; blank rows skipped and counted."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pandas as pd

from scoring.errors import FileFormatError
from scoring.files.layout import (
    HEADER_SEARCH_ROWS,
    NO_HEADER_FOUND,
    column_letters,
    header_kind,
    is_header,
    named_columns,
    sheet_header,
)
from scoring.files.limits import DEFAULT_LIMITS, SCAN_BYTES, CheckedText, ReadLimits, decode_utf8
from scoring.files.notices import BlankRows, Notice, header_row_notice
from scoring.files.streams import HEAD_BYTES
from scoring.files.table import RawTable, raw_table

#: Column separators, in the order that wins a tie.
SEPARATORS = (";", "\t", ",")


def looks_like_csv(text: bytes) -> bool:
    """Whether the first line of a file's head is UTF-8 text holding a column separator."""
    try:
        decoded = codecs.getincrementaldecoder("utf-8")("strict").decode(text, final=False)
    except UnicodeDecodeError:
        return False
    first = decoded.split("\n", 1)[0]
    return any(sep in first for sep in SEPARATORS)


@dataclass
class _CsvHeader:
    separator: str
    names: list[str]
    header_row: int  # 1-based record number of the header; blank lines above it count
    found: bool = True  # False: no line looked like a header, the first one was taken
    notices: list[Notice] = field(default_factory=list)  # header below titles, names read

    @property
    def note(self) -> str:
        return "" if self.found else NO_HEADER_FOUND.format(row=self.header_row)

    @property
    def letters(self) -> dict[str, str]:
        return column_letters(self.names)


def _next_line(text: str, position: int) -> int:
    end = _line_end(text, position)
    return end + (2 if text.startswith("\r\n", end) else 1)


def _header_line(text: str) -> tuple[int, int] | None:
    """(offset, line number) of the first of the first lines that ``is_header`` with some
    separator; None if there is none (title rows hold no quoted line ends)."""
    position = 0
    for number in range(1, HEADER_SEARCH_ROWS + 1):
        if position >= len(text):
            return None
        line = text[position : _line_end(text, position)]
        for separator in SEPARATORS:
            try:
                if separator in line and is_header(next(csv.reader([line], delimiter=separator))):
                    return position, number
            except csv.Error:
                continue
        position = _next_line(text, position)
    return None


def _csv_header(head: bytes, source: str, *, max_columns: int) -> _CsvHeader:
    """Find the header record, its separator and its column names: the first line naming
    ``sme_id`` and two more columns (``is_header``), else the first line that is not blank."""
    text = decode_utf8(head, source, final=len(head) < HEAD_BYTES)
    position, header_row = 0, 1
    found = _header_line(text)
    if found:
        position, header_row = found
    while not found:
        end = _line_end(text, position)
        if end == len(text) or text[position:end].strip(" \t;,") != "":
            break
        position = _next_line(text, position)
        header_row += 1
    counts = dict.fromkeys(SEPARATORS, 0)
    in_quotes, end = False, position
    while end < len(text):
        char = text[end]
        if char == '"':
            in_quotes = not in_quotes
        elif not in_quotes:
            if char in "\r\n":
                break
            if char in counts:
                counts[char] += 1
        end += 1
    else:
        if len(head) >= HEAD_BYTES:
            raise FileFormatError(
                f"{source}: no end to the header row in the first 64 KiB "
                "(an unclosed quote?); expected one header row of column names"
            )
    if not text[position:end].strip(" \t;,"):
        raise FileFormatError(f"{source}: the file is empty; expected a header row", code="empty")
    separator = max(SEPARATORS, key=counts.__getitem__)
    try:
        cells = next(csv.reader([text[position:end]], delimiter=separator))
    except csv.Error as exc:  # a quote inside a cell, not around it, hides a line end
        raise FileFormatError(
            f"{source}: cannot read the header row ({exc}); expected one header row of "
            'column names, quotes only around whole names ("...")'
        ) from exc
    header = sheet_header(cells, source, max_columns=max_columns, kind=header_kind(cells))
    below_titles = [header_row_notice(header_row, header_row)] if found and header_row > 1 else []
    notices = [*below_titles, *header.notices]
    return _CsvHeader(separator, header.names, header_row, found=found is not None, notices=notices)


def _line_end(text: str, start: int) -> int:
    ends = [i for i in (text.find("\n", start), text.find("\r", start)) if i >= 0]
    return min(ends, default=len(text))


_TOKENIZE_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE_ERROR = re.compile(r"EOF inside string starting at row (\d+)")  # 0-based


def _csv_parse_error(source: str, exc: Exception) -> FileFormatError:
    found = _TOKENIZE_ERROR.search(str(exc))
    if found:
        expected, row, saw = found.groups()
        return FileFormatError(
            f"{source}: row {row} has {saw} cells but the header has {expected}; "
            "check the separator and the quotes in that row"
        )
    found = _OPEN_QUOTE_ERROR.search(str(exc))
    if found:
        return FileFormatError(
            f"{source}: row {int(found.group(1)) + 1} opens a quote that is never closed; "
            'expected quotes in pairs ("...")'
        )
    reason = str(exc).replace("Error tokenizing data. C error: ", "").strip()
    return FileFormatError(f"{source}: cannot read as CSV ({reason}); expected a CSV table")


def iter_csv(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    """The chunks of a CSV file; blank rows are dropped (told in the chunk that follows
    them, or the last), row numbers kept."""
    header = _csv_header(head, source, max_columns=limits.max_columns)
    decimal = "," if header.separator == ";" else "."
    positional = [f"c{i}" for i in range(len(header.names))]
    checked = io.BufferedReader(
        CheckedText(stream, source, max_line=limits.max_line_bytes), buffer_size=SCAN_BYTES
    )
    next_row = header.header_row + 1
    yielded = False
    blank = BlankRows()
    try:
        reader = pd.read_csv(
            checked,
            sep=header.separator,
            header=None,
            names=positional,
            skiprows=header.header_row,
            dtype=object,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            encoding="utf-8",
            quotechar='"',
            engine="c",
            chunksize=chunk_rows,
        )
        with reader:
            for chunk in reader:
                if not isinstance(chunk.index, pd.RangeIndex):
                    # pandas turns extra leading cells of the first row into an index.
                    raise FileFormatError(
                        f"{source}: row {next_row} has more cells than the header "
                        f"({len(positional)}); check the separator and the quotes in that row"
                    )
                numbers = np.arange(next_row, next_row + len(chunk), dtype=np.int64)
                next_row += len(chunk)
                missing = chunk.isna()
                filled = ~missing.all(axis=1).to_numpy()
                blank.add(numbers[~filled])
                chunk = chunk.mask(missing, None)
                frame = named_columns(
                    chunk[filled], header.names, numbers[filled], source, header.note
                )
                if len(frame):
                    told = [] if yielded else header.notices
                    yielded = True
                    yield raw_table(
                        frame,
                        numbers[filled],
                        decimal=decimal,
                        source=source,
                        next_row=next_row,
                        header_row=header.header_row,
                        columns=header.letters,
                        notices=[*told, *blank.take()],
                    )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _csv_parse_error(source, exc) from exc
    if not yielded or blank.runs:  # no rows, or blank rows after the last chunk's
        empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in header.names if name})
        yield raw_table(
            empty,
            np.empty(0, np.int64),
            decimal=decimal,
            source=source,
            next_row=header.header_row + 1 if not yielded else next_row,
            header_row=header.header_row,
            columns=header.letters,
            notices=[*([] if yielded else header.notices), *blank.take()],
        )


@dataclass(frozen=True)
class CsvLayout:
    """How ``iter_tables`` reads a CSV file, for a reader that splits the file itself (Dask):
    the ``pandas.read_csv`` options, and ``table`` to turn each parsed block into a chunk."""

    separator: str
    names: list[str]
    header_row: int
    source: str
    note: str = ""

    @property
    def decimal(self) -> str:
        return "," if self.separator == ";" else "."

    def read_csv_options(self) -> dict:
        """Options of ``read_csv`` for the records after the header (``skiprows`` skips it)."""
        return {
            "sep": self.separator,
            "header": None,
            "names": [f"c{i}" for i in range(len(self.names))],
            "skiprows": self.header_row,
            "dtype": object,
            "keep_default_na": False,
            "na_values": [""],
            "skip_blank_lines": False,
            "encoding": "utf-8",
            "quotechar": '"',
        }

    def table(self, block: pd.DataFrame, first_row: int) -> RawTable:
        """The chunk of a block parsed with ``read_csv_options`` whose first record is row
        ``first_row`` of the file: header names, None for empty cells, blank rows dropped."""
        numbers = np.arange(first_row, first_row + len(block), dtype=np.int64)
        block = block.reset_index(drop=True)
        missing = block.isna()
        filled = ~missing.all(axis=1).to_numpy()
        block = block.mask(missing, None)
        frame = named_columns(block[filled], self.names, numbers[filled], self.source, self.note)
        return raw_table(
            frame,
            numbers[filled],
            decimal=self.decimal,
            source=self.source,
            next_row=first_row,
            header_row=self.header_row,
            columns=column_letters(self.names),
        )


def csv_layout(head: bytes, source: str) -> CsvLayout:
    """The layout of a CSV file from its first 64 KiB (``FileFormatError`` if unreadable)."""
    header = _csv_header(head, source, max_columns=DEFAULT_LIMITS.max_columns)
    return CsvLayout(header.separator, header.names, header.header_row, source, header.note)
