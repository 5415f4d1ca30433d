"""CSV files (any of ";", tab and "," as separator): the header found, the text checked as
it streams, and the rows read in chunks, by pandas (a Python string per cell) or, for a
reader that validates Arrow arrays as they are, by Arrow's CSV reader (the same cells, no
Python string made); blank rows skipped and counted."""

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
import pyarrow as pa
import pyarrow.csv as pa_csv

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
from scoring.files.limits import (
    DEFAULT_LIMITS,
    SCAN_BYTES,
    CheckedText,
    ReadLimits,
    decode_utf8,
    size_text,
)
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
        return _too_many_cells(source, int(row), int(saw), int(expected))
    found = _OPEN_QUOTE_ERROR.search(str(exc))
    if found:
        return _unclosed_quote(source, int(found.group(1)) + 1)
    reason = str(exc).replace("Error tokenizing data. C error: ", "").strip()
    return FileFormatError(f"{source}: cannot read as CSV ({reason}); expected a CSV table")


def iter_csv(
    stream: BinaryIO,
    source: str,
    head: bytes,
    chunk_rows: int,
    limits: ReadLimits,
    *,
    arrow: bool = False,
) -> Iterator[RawTable]:
    """The chunks of a CSV file; blank rows are dropped (told in the chunk that follows
    them, or the last), row numbers kept. With ``arrow`` the cells are read by Arrow's CSV
    reader and kept as Arrow arrays of text (``pd.ArrowDtype``): the same cells, chunks,
    row numbers, notices and errors as pandas gives."""
    header = _csv_header(head, source, max_columns=limits.max_columns)
    decimal = "," if header.separator == ";" else "."
    checked = io.BufferedReader(
        CheckedText(stream, source, max_line=limits.max_line_bytes), buffer_size=SCAN_BYTES
    )
    read = _arrow_blocks if arrow else _pandas_blocks
    next_row = header.header_row + 1
    yielded = False
    blank = BlankRows()
    for chunk, numbers, empty, read_to in read(checked, header, source, chunk_rows, limits):
        next_row = int(numbers[-1]) + 1 if len(numbers) else next_row
        blank.add(numbers[empty])
        frame = named_columns(chunk[~empty], header.names, numbers[~empty], source, header.note)
        if len(frame):
            told = [] if yielded else header.notices
            yielded = True
            yield raw_table(
                frame,
                numbers[~empty],
                decimal=decimal,
                source=source,
                next_row=next_row,
                header_row=header.header_row,
                columns=header.letters,
                notices=[*told, *blank.take()],
                bytes_read=read_to,
            )
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


#: What a CSV reader hands ``iter_csv``: a chunk's records (positional columns ``c0``...,
#: None or NA for an empty cell), their row numbers, which of them are blank, and about how
#: many bytes of the file the reader had used for them (None: the stream's position says).
_Block = tuple[pd.DataFrame, np.ndarray, np.ndarray, int | None]


def _pandas_blocks(
    checked: BinaryIO, header: _CsvHeader, source: str, chunk_rows: int, limits: ReadLimits
) -> Iterator[_Block]:
    positional = [f"c{i}" for i in range(len(header.names))]
    next_row = header.header_row + 1
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
                    raise _first_row_too_long(source, next_row, len(positional))
                numbers = np.arange(next_row, next_row + len(chunk), dtype=np.int64)
                next_row += len(chunk)
                missing = chunk.isna()
                yield chunk.mask(missing, None), numbers, missing.all(axis=1).to_numpy(), None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _csv_parse_error(source, exc) from exc


def _first_row_too_long(source: str, row: int, cells: int) -> FileFormatError:
    return FileFormatError(
        f"{source}: row {row} has more cells than the header "
        f"({cells}); check the separator and the quotes in that row"
    )


def _unclosed_quote(source: str, row: int) -> FileFormatError:
    return FileFormatError(
        f'{source}: row {row} opens a quote that is never closed; expected quotes in pairs ("...")'
    )


def _too_many_cells(source: str, row: int, saw: int, expected: int) -> FileFormatError:
    return FileFormatError(
        f"{source}: row {row} has {saw} cells but the header has {expected}; "
        "check the separator and the quotes in that row"
    )


class _UnevenRows:
    """Records whose number of cells is not the header's, as Arrow's reader meets them: a
    short one is kept, its missing cells empty (as pandas reads it); a long one is refused
    when its chunk is reached (as pandas refuses it)."""

    def __init__(self, source: str, separator: str, width: int, first: int):
        self.source, self.separator, self.width, self.first = source, separator, width, first
        self.short: dict[int, list[str | None]] = {}
        self.long: dict[int, int] = {}  # row number -> its cells
        self.unclosed: int | None = None  # the row whose quote the file ends in

    def __call__(self, row) -> str:  # a ``pyarrow.csv.InvalidRow``
        if row.number is None:  # never with one thread
            return "error"
        if row.actual_columns > row.expected_columns:
            self.long[row.number] = row.actual_columns
            return "skip"
        cells = next(csv.reader(io.StringIO(row.text, newline=""), delimiter=self.separator), [])
        cells = [cell if cell != "" else None for cell in cells]
        self.short[row.number] = cells + [None] * (self.width - len(cells))
        return "skip"

    def refuse_below(self, end: int) -> None:
        """Raise what pandas raises for a chunk whose records are numbered below ``end``: the
        first record it cannot read (a quote never closed, more cells than expected), where
        a first row with more cells than the header sets how many are expected (pandas reads
        its extra cells as an index, and refuses that only once the chunk is read)."""
        expected = max(self.width, self.long.get(self.first, 0))
        rows = [n for n, cells in self.long.items() if n < end and cells > expected]
        if self.unclosed is not None and self.unclosed < end:
            rows.append(self.unclosed)
        if rows:
            row = min(rows)
            if row == self.unclosed:  # a quote left open hides the row's end: cells not counted
                raise _unclosed_quote(self.source, row)
            raise _too_many_cells(self.source, row, self.long[row], expected)
        if self.first in self.long and self.first < end:
            raise _first_row_too_long(self.source, self.first, self.width)

    def numbers_of(self, valid: int, after: int) -> np.ndarray:
        """Row numbers of the next ``valid`` records Arrow kept, the last one numbered
        ``after``: the numbers from there on that are not uneven rows'."""
        uneven = sorted(n for n in (*self.short, *self.long) if n > after)
        candidates = np.arange(after + 1, after + 1 + valid + len(uneven), dtype=np.int64)
        if uneven:
            candidates = candidates[~np.isin(candidates, uneven)]
        return candidates[:valid]

    def take_short(self, up_to: int) -> tuple[list[int], list[list[str | None]]]:
        numbers = sorted(n for n in self.short if n <= up_to)
        return numbers, [self.short.pop(n) for n in numbers]


def _arrow_blocks(
    checked: BinaryIO, header: _CsvHeader, source: str, chunk_rows: int, limits: ReadLimits
) -> Iterator[_Block]:
    """``_pandas_blocks`` with Arrow's reader: records cut into chunks of ``chunk_rows``
    row numbers as pandas cuts them, short records filled out, long ones refused."""
    positional = [f"c{i}" for i in range(len(header.names))]
    first = header.header_row + 1
    uneven = _UnevenRows(source, header.separator, len(positional), first)
    # A line, or a quoted cell over lines, is at most max_line_bytes (CheckedText), so one
    # fits in a block. Arrow reads about 32 blocks ahead of the rows it hands over: the
    # blocks are kept small for that.
    block_size = limits.max_line_bytes + 2**16
    try:
        reader = pa_csv.open_csv(
            _EndMarked(checked),
            read_options=pa_csv.ReadOptions(
                skip_rows=header.header_row,
                column_names=positional,
                use_threads=False,
                block_size=block_size,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=header.separator,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=uneven,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(positional, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _arrow_parse_error(source, exc) from exc
    pending: list[pa.Table] = []
    pending_numbers: list[np.ndarray] = []
    last = header.header_row  # the last row number read so far
    chunk_end = first + chunk_rows  # the first row number of the next chunk
    blocks = rows = handed = 0  # Arrow makes one batch of each block it reads
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            batch = None
        except pa.ArrowInvalid as exc:
            raise _arrow_parse_error(source, exc, after=last, limit=block_size) from exc
        if batch is not None:
            blocks += 1
            rows += batch.num_rows
            numbers = uneven.numbers_of(batch.num_rows, last)
            last = int(numbers[-1]) if len(numbers) else last
            table = pa.Table.from_batches([batch])
        else:  # the records after Arrow's last kept one are all uneven ones
            numbers, table = (
                np.empty(0, np.int64),
                pa.table({name: pa.array([], pa.string()) for name in positional}),
            )
            last = max([last, *uneven.short, *uneven.long])
        short_numbers, short_rows = uneven.take_short(last)
        if short_rows:
            cells = {
                name: pa.array([row[i] for row in short_rows], pa.string())
                for i, name in enumerate(positional)
            }
            table = pa.concat_tables([table, pa.table(cells)])
            numbers = np.concatenate([numbers, np.asarray(short_numbers, np.int64)])
            order = np.argsort(numbers, kind="stable")
            table, numbers = table.take(pa.array(order)), numbers[order]
        if batch is None:
            table, numbers, last = _without_end_mark(table, numbers, last, uneven)
        pending.append(table)
        pending_numbers.append(numbers)
        while last >= chunk_end or (batch is None and last >= chunk_end - chunk_rows):
            block = _arrow_chunk(pending, pending_numbers, chunk_end, uneven)
            chunk_end += chunk_rows
            handed += len(block[1])
            if len(block[1]):  # the bytes read for the records handed over, about
                yield *block, blocks * block_size * handed // max(rows, handed)
        if batch is None:
            return


#: What ``_EndMarked`` adds after the last byte of a file: a record of its own, unless the
#: file ends inside a quoted cell, which then takes it in.
_END_MARK = "\x02"


class _EndMarked(io.RawIOBase):
    """A CSV stream with a line holding ``_END_MARK`` added at its end. Arrow's reader ends a
    quoted cell left open at the end of the file without a word (pandas refuses it); with the
    mark, the last record tells which it was: the mark alone, or a cell that took it in."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._last = b"\n"
        self._tail: bytes | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes | bytearray:
        """One block for Arrow, made once: Arrow keeps the object it is given as the block,
        so no copy of it is made here (``RawIOBase.read`` would make two)."""
        if size is None or size < 0:
            return self.readall()
        block = bytearray(size)
        del block[self.readinto(block) :]
        return block

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` as far as the stream goes: Arrow takes each read as a block, and
        the rows it skips (the header and any above it) must be in the first one."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._tail is None:
            read = self._stream.readinto(view[filled:])
            if not read:
                ending = b"" if self._last in (b"\n", b"\r") else b"\n"
                self._tail = ending + _END_MARK.encode() + b"\n"
                break
            filled += read
            self._last = bytes(view[filled - 1 : filled])
        if self._tail is not None:
            data = self._tail[: len(view) - filled]
            self._tail = self._tail[len(data) :]
            view[filled : filled + len(data)] = data
            filled += len(data)
        return filled


def _without_end_mark(
    table: pa.Table, numbers: np.ndarray, last: int, uneven: _UnevenRows
) -> tuple[pa.Table, np.ndarray, int]:
    """The last records without the ``_END_MARK`` record; if a quoted cell took the mark in,
    its record is refused (as pandas refuses a quote never closed)."""
    ends_here = len(numbers) and int(numbers[-1]) == last
    cells = table.slice(table.num_rows - 1).to_pylist()[0] if ends_here else {}
    if list(cells.values()) == [_END_MARK] + [None] * (len(cells) - 1):
        return table.slice(0, table.num_rows - 1), numbers[:-1], last - 1
    uneven.unclosed = last
    return table, numbers, last


def _arrow_chunk(
    pending: list[pa.Table], pending_numbers: list[np.ndarray], end: int, uneven: _UnevenRows
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The records numbered below ``end`` taken out of ``pending``, or the refusal of one of
    them (pandas refuses a chunk holding a record it cannot read)."""
    uneven.refuse_below(end)
    table = pa.concat_tables(pending)
    numbers = np.concatenate(pending_numbers)
    cut = int(np.searchsorted(numbers, end))
    pending[:] = [table.slice(cut)]
    pending_numbers[:] = [numbers[cut:]]
    chunk = table.slice(0, cut).combine_chunks()
    frame = pd.DataFrame(
        {
            name: pd.Series(pd.arrays.ArrowExtensionArray(chunk.column(name)), copy=False)
            for name in chunk.column_names
        },
        index=pd.RangeIndex(chunk.num_rows),
    )
    empty = np.ones(chunk.num_rows, dtype=bool)
    for column in chunk.columns:
        empty &= column.is_null().to_numpy(zero_copy_only=False)
    return frame, numbers[:cut], empty


def _arrow_parse_error(
    source: str, exc: Exception, *, after: int | None = None, limit: int | None = None
) -> FileFormatError:
    if "straddl" in str(exc) and limit is not None:  # one record over two of Arrow's blocks
        return FileFormatError(
            f"{source}: a row after row {after} is longer than {size_text(limit)} with the line "
            "ends inside its quoted cells; expected rows shorter than that (check the quotes)"
        )
    reason = str(exc).replace("CSV parse error: ", "").strip()
    return FileFormatError(f"{source}: cannot read as CSV ({reason}); expected a CSV table")


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
