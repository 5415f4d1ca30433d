"""Read profile tables from CSV, XLSX, Parquet, JSON and JSON Lines files into ``RawTable``s.

Readers only turn bytes into a table: header names are normalised and values are kept
as read (text for CSV), so judging values is the validator's job. Large files are read
in chunks with bounded memory, and every chunk keeps the row numbers a person sees in
the source file. Every failure to parse is a ``FileFormatError`` with a one-line reason.

Input may be hostile: ``ReadLimits`` bounds what a file may ask for (columns, line length,
unpacked size and compression ratio of XLSX and Parquet) and is checked before the bytes
are parsed, so a zip bomb, a million columns or a 100 MB cell is refused in bounded time
and memory. XLSX XML is parsed with defusedxml (entity declarations refused).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import json
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from defusedxml import DefusedXmlException
from openpyxl.utils import get_column_letter

from scoring.contract.fields import ALL_COLUMNS, LABEL
from scoring.contract.cells import SPREADSHEET_DECIMAL
from scoring.contract.seen_ids import SeenIds
from scoring.errors import FileFormatError

FORMATS = ("csv", "xlsx", "parquet", "json", "jsonl")

#: A path (``str`` is always a path, never content), raw bytes, or a binary file object.
Source = str | os.PathLike[str] | bytes | BinaryIO

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_MAGIC = b"PAR1"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls and other Office 97-2003 files
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BOM = codecs.BOM_UTF8
_HEAD_BYTES = 64 * 1024
#: Column separators, in the order that wins a tie.
_SEPARATORS = (";", "\t", ",")
_HEADER_SPACE = re.compile(r"[\s\-]+")
_MIB = 1024 * 1024
#: Bytes the CSV checks look at in one go; a line limit below it could not be enforced.
_SCAN_BYTES = 256 * 1024
#: Parts smaller than this may compress as well as they like (tiny XML is very regular).
_RATIO_FLOOR = _MIB
#: Rows of one Excel worksheet; a sheet claiming more is not a spreadsheet Excel made.
_XLSX_MAX_ROWS = 1_048_576
#: An office puts a title, a year and a blank row above the header: the header of a CSV or
#: XLSX file is the first of its first rows that names ``sme_id`` and two more contract
#: columns (after ``normalise_header``); rows above it are not read.
HEADER_SEARCH_ROWS = 20
_KNOWN_COLUMNS = frozenset((*ALL_COLUMNS, LABEL))
#: Said after a header error when no row looked like a header, so the first row was taken.
_NO_HEADER_FOUND = (
    " (row {row} was taken as the header; expected a header row naming sme_id and the other "
    f"columns within the first {HEADER_SEARCH_ROWS} rows)"
)


@dataclass(frozen=True)
class ReadLimits:
    """What one file may ask of the reader; past any limit it is refused (``FileFormatError``).

    The defaults are far beyond any real profile table (the contract has about 40 columns)
    and keep a hostile file within a few hundred MB and seconds.
    """

    #: Columns of the header (all formats).
    max_columns: int = 1_000
    #: One line of CSV or JSON Lines, and one quoted CSV cell spanning lines; so any cell.
    max_line_bytes: int = 1 * _MIB
    #: A JSON array document is parsed whole; larger files should be JSON Lines.
    max_json_bytes: int = 100 * _MIB
    #: Uncompressed size of an XLSX archive's parts together, or of one Parquet row group.
    max_unpacked_bytes: int = 512 * _MIB
    #: Uncompressed / compressed size of one XLSX part or Parquet row group over 1 MiB.
    max_unpack_ratio: float = 100.0

    def __post_init__(self) -> None:
        if self.max_line_bytes < _SCAN_BYTES:
            raise ValueError(f"max_line_bytes must be at least {_SCAN_BYTES}")


DEFAULT_LIMITS = ReadLimits()


def _size(n: float) -> str:
    """Byte count for a message: "1 MiB", "64 KiB", "12 bytes"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", _MIB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


@dataclass
class RawTable:
    """One table, or one chunk of it, as read from a file and before validation.

    ``frame`` has one column per header (names from ``normalise_header``) and values as
    read: ``str`` for CSV (empty cell -> None); native Python/numpy values for XLSX, JSON
    and Parquet (None/NaN for missing, lists for list cells). ``first_row_number`` is the
    source row number of ``frame.iloc[0]`` (header is row 1 in CSV/XLSX; JSON items,
    JSON Lines lines and Parquet rows count from 1). ``decimal`` is the decimal separator
    of numbers given as text: "," or "." for CSV, ``SPREADSHEET_DECIMAL`` for XLSX text
    cells (the Indonesian rules first, see ``scoring.contract.cells``). ``row_numbers``, when
    not None, holds the source row number of every frame row (int64): set when blank rows
    were skipped; None means consecutive
    numbers from ``first_row_number``.
    """

    frame: pd.DataFrame
    first_row_number: int
    decimal: str
    source: str
    row_numbers: np.ndarray | None = None
    #: CSV and XLSX: the source row number of the header, and the spreadsheet column letter
    #: of each column (``{"sme_id": "A", ...}``); None for formats without rows and letters.
    header_row: int | None = None
    columns: dict[str, str] | None = None
    #: The ``sme_id``s of the file's chunks validated so far, one object shared by every
    #: chunk ``iter_tables`` yields, so a repeated id is caught in any later chunk.
    seen_ids: SeenIds | None = None

    def source_rows(self) -> np.ndarray:
        """Source row number of every frame row, whether or not rows were skipped."""
        if self.row_numbers is not None:
            return self.row_numbers
        start = self.first_row_number
        return np.arange(start, start + len(self.frame), dtype=np.int64)


def normalise_header(name: str) -> str:
    """Column name as the contract spells it: "  Has NIB " -> "has_nib"."""
    text = str(name).replace("\ufeff", "").strip().lower()
    return _HEADER_SPACE.sub("_", text)


def is_header(cells: Iterable[object]) -> bool:
    """Whether a row of cells is a header: it names ``sme_id`` and two more contract columns."""
    names = {normalise_header(c) for c in cells if c is not None and str(c).strip()}
    return "sme_id" in names and len(names & _KNOWN_COLUMNS) >= 3


def _letters(names: list[str]) -> dict[str, str]:
    """Spreadsheet column letter of each named column, by its position in the header."""
    return {name: get_column_letter(i + 1) for i, name in enumerate(names) if name}


def detect_format(filename: str | None, head: bytes) -> str:
    """One of ``FORMATS``, from the first bytes of a file and its name.

    Binary signatures (ZIP for XLSX, ``PAR1`` for Parquet) are unambiguous and win; text
    formats go by extension, else by content (``[`` JSON, ``{`` JSON Lines when the
    first line is a whole object, a separated header line CSV).
    """
    name = filename or "input"
    suffix = Path(filename).suffix.lower() if filename else ""
    if head.startswith(_OLE2_MAGIC) or suffix == ".xls":
        raise FileFormatError(
            f"{name}: old Excel .xls files are not supported; save it as .xlsx or CSV UTF-8",
            code="old_excel",
        )
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head.startswith(_UTF16_BOMS):
        raise FileFormatError(f"{name}: the file is UTF-16 text; save it as UTF-8 (CSV UTF-8)")
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    text = head.removeprefix(_BOM).lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl" if _first_line_is_object(text) else "json"
    if _looks_like_csv(text):
        return "csv"
    raise FileFormatError(
        f"{name}: unknown file format; expected CSV, XLSX, Parquet, JSON or JSON Lines "
        "(.csv, .xlsx, .parquet, .json, .jsonl)",
        code="unknown_format",
    )


def read_table(
    source: Source,
    *,
    filename: str | None = None,
    format: str | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> RawTable:
    """The whole table in one ``RawTable``; the concatenation of ``iter_tables``."""
    tables = list(iter_tables(source, filename=filename, format=format, limits=limits))
    if len(tables) == 1:
        return tables[0]
    columns = list(dict.fromkeys(name for table in tables for name in table.frame.columns))
    frame = pd.concat([_with_columns(table.frame, columns) for table in tables], ignore_index=True)
    numbers = np.concatenate([table.source_rows() for table in tables])
    first = tables[0]
    table = _table(frame, numbers, decimal=first.decimal, source=first.source, next_row=0)
    table.header_row, table.columns = first.header_row, first.columns
    return table


def iter_tables(
    source: Source,
    *,
    chunk_rows: int = 50_000,
    filename: str | None = None,
    format: str | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Iterator[RawTable]:
    """Read ``source`` in chunks of at most ``chunk_rows`` rows, with bounded memory.

    Row numbers stay those of the source file across chunks. At least one table is
    yielded: a file with a header and no rows gives one empty frame with its columns.
    A file beyond ``limits`` is refused with a ``FileFormatError`` naming the limit.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    with _open_source(source, filename) as (stream, name):
        head, stream = _peek(stream, _HEAD_BYTES)
        fmt = format or detect_format(filename or name, head)
        seen_ids = SeenIds()
        for table in _READERS[fmt](stream, name, head, chunk_rows, limits):
            table.seen_ids = seen_ids
            yield table


# --- sources -------------------------------------------------------------------------


@contextmanager
def _open_source(source: Source, filename: str | None) -> Iterator[tuple[BinaryIO, str]]:
    """A binary stream and the name to use in messages; files we open are closed."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(bytes(source)), filename or "<bytes>"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        with path.open("rb") as handle:
            yield handle, filename or path.name
    else:
        name = getattr(source, "name", None)
        yield source, filename or (Path(name).name if isinstance(name, str) else "<stream>")


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _peek(stream: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """The first ``size`` bytes, and a stream that still starts at them."""
    if _seekable(stream):
        start = stream.tell()
        head = _read_up_to(stream, size)
        stream.seek(start)
        return head, stream
    head = _read_up_to(stream, size)
    return head, io.BufferedReader(_Prefixed(head, stream))


def _random_access(stream: BinaryIO) -> BinaryIO:
    """ZIP (XLSX) and Parquet keep their directory at the end: they need to seek."""
    return stream if _seekable(stream) else io.BytesIO(stream.read())


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of the stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO):
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _CheckedText(io.RawIOBase):
    """Passes CSV bytes through, refusing what the CSV parser should never be given.

    Invalid UTF-8 and NUL bytes are refused with their byte offset and line; a line, or a
    quoted cell spanning lines, longer than ``max_line`` is refused as soon as it passes
    the limit, so a 100 MB cell or a million-column row never reaches the parser whole.
    Every check is a C-level scan of each block (``find``/``count``), not a loop per byte.
    """

    def __init__(self, raw: BinaryIO, source: str, *, max_line: int):
        self._raw = raw
        self._source = source
        self._max_line = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0
        self._line = 1
        self._line_start = 0  # byte offset where the current line starts
        self._quote_start: tuple[int, int] | None = None  # (offset, line) of an open quote

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(min(len(buffer), _SCAN_BYTES))
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            where = self._offset - pending + exc.start
            line = self._line + data.count(b"\n", 0, max(where - self._offset, 0))
            raise _utf8_error(self._source, where, line) from exc
        nul = data.find(b"\0")
        if nul >= 0:
            line = self._line + data.count(b"\n", 0, nul)
            raise FileFormatError(
                f"{self._source}: NUL byte at byte offset {self._offset + nul} (line {line}); "
                "a CSV file is text, this looks like a binary file"
            )
        self._check_lengths(data)
        self._offset += len(data)
        self._line += data.count(b"\n")
        buffer[: len(data)] = data
        return len(data)

    def _check_lengths(self, data: bytes) -> None:
        """Lines within one block are shorter than the limit; check those crossing blocks.
        A line ends at "\n" or "\r" (old Mac files end lines with "\r" alone)."""
        end = self._offset + len(data)
        ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
        line_end = self._offset + min(ends) if ends else end
        if line_end - self._line_start > self._max_line:
            raise FileFormatError(
                f"{self._source}: line {self._line} is longer than {_size(self._max_line)}; "
                "expected a table of profiles (check the line ends and the separator)"
            )
        if ends:
            self._line_start = self._offset + max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        quotes = data.count(b'"')
        if quotes % 2:
            self._quote_start = None if self._quote_start else (0, 0)
        if self._quote_start and quotes:  # the last quote of the block opened the open cell
            last = data.rfind(b'"')
            self._quote_start = (self._offset + last, self._line + data.count(b"\n", 0, last))
        if self._quote_start and end - self._quote_start[0] > self._max_line:
            raise FileFormatError(
                f"{self._source}: the quoted cell opened on line {self._quote_start[1]} is "
                f'longer than {_size(self._max_line)}; expected quotes in pairs ("...")'
            )


def _utf8_error(source: str, offset: int, line: int) -> FileFormatError:
    return FileFormatError(
        f"{source}: not valid UTF-8 at byte offset {offset} (line {line}); "
        "save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    )


def _decode_utf8(data: bytes, source: str, *, final: bool) -> str:
    """Text of ``data`` without its BOM; ``final=False`` allows a cut character at the end."""
    body = data.removeprefix(_BOM)
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(body, final=final)
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        raise _utf8_error(source, offset, data.count(b"\n", 0, offset) + 1) from exc


def _first_line_is_object(text: bytes) -> bool:
    try:
        return isinstance(json.loads(text.split(b"\n", 1)[0]), dict)
    except (ValueError, RecursionError):
        return False


def _looks_like_csv(text: bytes) -> bool:
    try:
        decoded = codecs.getincrementaldecoder("utf-8")("strict").decode(text, final=False)
    except UnicodeDecodeError:
        return False
    first = decoded.split("\n", 1)[0]
    return any(sep in first for sep in _SEPARATORS)


# --- shared table building -----------------------------------------------------------


def _table(
    frame: pd.DataFrame,
    numbers: np.ndarray,
    *,
    decimal: str,
    source: str,
    next_row: int,
    header_row: int | None = None,
    columns: dict[str, str] | None = None,
) -> RawTable:
    """A ``RawTable`` whose rows have the (increasing) source row numbers ``numbers``."""
    numbers = np.asarray(numbers, dtype=np.int64)
    first = int(numbers[0]) if len(numbers) else next_row
    consecutive = len(numbers) == 0 or int(numbers[-1] - numbers[0]) == len(numbers) - 1
    return RawTable(
        frame=frame.reset_index(drop=True),
        first_row_number=first,
        decimal=decimal,
        source=source,
        row_numbers=None if consecutive else numbers,
        header_row=header_row,
        columns=columns,
    )


def _column_names(raw: Iterable[str], source: str, *, max_columns: int) -> list[str]:
    """Normalised names; two headers that mean the same column are refused, and so are
    more than ``max_columns``."""
    raw = list(raw)
    if len(raw) > max_columns:
        raise FileFormatError(
            f"{source}: {len(raw)} columns, more than the {max_columns} a profile table may "
            "have; check the separator, or that this is the right file"
        )
    names = [normalise_header(r) for r in raw]
    spellings: dict[str, list[str]] = {}
    for original, name in zip(raw, names, strict=True):
        if name:
            spellings.setdefault(name, []).append(original)
    duplicates = {name: seen for name, seen in spellings.items() if len(seen) > 1}
    if duplicates:
        detail = "; ".join(
            f"{' and '.join(repr(s) for s in seen)} both mean {name!r}"
            for name, seen in duplicates.items()
        )
        raise FileFormatError(
            f"{source}: duplicate column(s): {detail}; each column must appear once"
        )
    return names


def _named_columns(
    frame: pd.DataFrame, names: list[str], numbers: np.ndarray, source: str, note: str = ""
) -> pd.DataFrame:
    """Give ``frame`` (positional columns) its header names; drop empty unnamed columns.
    ``note`` ends the message of a value without a header (which row was the header)."""
    keep = []
    for position, name in enumerate(names):
        if name:
            keep.append(position)
            continue
        filled = frame.iloc[:, position].notna().to_numpy()
        if filled.any():
            row, letter = int(numbers[np.argmax(filled)]), get_column_letter(position + 1)
            raise FileFormatError(
                f"{source}: column {letter} has a value in row {row} "
                f"but no header; give the column a name or delete it{note}",
                code="no_header",
                column=letter,
                row=row,
            )
    frame = frame.iloc[:, keep]
    frame.columns = [names[p] for p in keep]
    return frame


def _with_columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with exactly ``columns``; missing ones are filled with None."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        filler = pd.DataFrame({c: pd.Series([None] * len(frame), dtype=object) for c in missing})
        frame = pd.concat([frame.reset_index(drop=True), filler], axis=1)
    return frame[columns]


def _object_column(values: list) -> pd.Series:
    """Values kept as they are (lists stay one cell each)."""
    return pd.Series(values, dtype=object)


# --- CSV ------------------------------------------------------------------------------


@dataclass
class _CsvHeader:
    separator: str
    names: list[str]
    header_row: int  # 1-based record number of the header; blank lines above it count
    found: bool = True  # False: no line looked like a header, the first one was taken

    @property
    def note(self) -> str:
        return "" if self.found else _NO_HEADER_FOUND.format(row=self.header_row)

    @property
    def letters(self) -> dict[str, str]:
        return _letters(self.names)


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
        for separator in _SEPARATORS:
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
    text = _decode_utf8(head, source, final=len(head) < _HEAD_BYTES)
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
    counts = dict.fromkeys(_SEPARATORS, 0)
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
        if len(head) >= _HEAD_BYTES:
            raise FileFormatError(
                f"{source}: no end to the header row in the first 64 KiB "
                "(an unclosed quote?); expected one header row of column names"
            )
    if not text[position:end].strip(" \t;,"):
        raise FileFormatError(f"{source}: the file is empty; expected a header row", code="empty")
    separator = max(_SEPARATORS, key=counts.__getitem__)
    try:
        cells = next(csv.reader([text[position:end]], delimiter=separator))
    except csv.Error as exc:  # a quote inside a cell, not around it, hides a line end
        raise FileFormatError(
            f"{source}: cannot read the header row ({exc}); expected one header row of "
            'column names, quotes only around whole names ("...")'
        ) from exc
    names = _column_names(cells, source, max_columns=max_columns)
    return _CsvHeader(separator, names, header_row, found=found is not None)


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


def _iter_csv(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    header = _csv_header(head, source, max_columns=limits.max_columns)
    decimal = "," if header.separator == ";" else "."
    positional = [f"c{i}" for i in range(len(header.names))]
    checked = io.BufferedReader(
        _CheckedText(stream, source, max_line=limits.max_line_bytes), buffer_size=_SCAN_BYTES
    )
    next_row = header.header_row + 1
    yielded = False
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
                chunk = chunk.mask(missing, None)
                frame = _named_columns(
                    chunk[filled], header.names, numbers[filled], source, header.note
                )
                if len(frame):
                    yielded = True
                    yield _table(
                        frame,
                        numbers[filled],
                        decimal=decimal,
                        source=source,
                        next_row=next_row,
                        header_row=header.header_row,
                        columns=header.letters,
                    )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _csv_parse_error(source, exc) from exc
    if not yielded:
        empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in header.names if name})
        yield _table(
            empty,
            np.empty(0, np.int64),
            decimal=decimal,
            source=source,
            next_row=header.header_row + 1,
            header_row=header.header_row,
            columns=header.letters,
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
        frame = _named_columns(block[filled], self.names, numbers[filled], self.source, self.note)
        return _table(
            frame,
            numbers[filled],
            decimal=self.decimal,
            source=self.source,
            next_row=first_row,
            header_row=self.header_row,
            columns=_letters(self.names),
        )


def csv_layout(head: bytes, source: str) -> CsvLayout:
    """The layout of a CSV file from its first 64 KiB (``FileFormatError`` if unreadable)."""
    header = _csv_header(head, source, max_columns=DEFAULT_LIMITS.max_columns)
    return CsvLayout(header.separator, header.names, header.header_row, source, header.note)


# --- XLSX -----------------------------------------------------------------------------


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
    return _column_names(cells, source, max_columns=max_columns)


def _xml_reason(exc: BaseException) -> str:
    """One line on why openpyxl failed; defusedxml's refusal may be wrapped in its error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, DefusedXmlException):
            return f"XML entity or DTD declarations are not allowed ({type(cause).__name__})"
        cause = cause.__cause__ or cause.__context__
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _check_xlsx_archive(stream: BinaryIO, source: str, limits: ReadLimits) -> None:
    """Refuse a zip bomb from the archive's directory, before anything is inflated.

    ``zipfile`` never inflates a part beyond the size its directory declares (a lie ends
    in a CRC error), so the declared sizes bound the work.
    """
    start = stream.tell()
    try:
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise FileFormatError(
            f"{source}: not a readable XLSX workbook ({type(exc).__name__}: {exc}); "
            "expected an Excel .xlsx file"
        ) from exc
    stream.seek(start)
    total = sum(part.file_size for part in parts)
    if total > limits.max_unpacked_bytes:
        raise FileFormatError(
            f"{source}: the workbook unpacks to {_size(total)}, more than the "
            f"{_size(limits.max_unpacked_bytes)} allowed; split it or save it as CSV"
        )
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > _RATIO_FLOOR and ratio > limits.max_unpack_ratio:
            raise FileFormatError(
                f"{source}: part {part.filename!r} unpacks {ratio:.0f} times its packed size "
                f"(at most {limits.max_unpack_ratio:.0f}); this looks like a zip bomb, "
                "not a workbook"
            )


def _iter_xlsx(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    stream = _random_access(stream)
    _check_xlsx_archive(stream, source, limits)
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
        frame = _named_columns(frame, names, taken, source, note)
        return _table(
            frame,
            taken,
            decimal=SPREADSHEET_DECIMAL,
            source=source,
            next_row=header_row + 1,
            header_row=header_row,
            columns=_letters(names),
        )

    for number, values in rows:
        cells = [_xlsx_value(v) for v in values]
        if all(c is None for c in cells):
            continue
        if names is None:
            names, header_row = _xlsx_header(values, source, max_columns=max_columns), number
            years = [i for i, name in enumerate(names) if name in _YEAR_COLUMNS]
            note = "" if found is not None else _NO_HEADER_FOUND.format(row=number)
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


# --- Parquet --------------------------------------------------------------------------

_ARROW_ERRORS = (pa.ArrowException, OSError, ValueError, TypeError)


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or str(kind) == "string_view"


def _arrow_frame(batch: pa.RecordBatch | pa.Table, names: list[str]) -> pd.DataFrame:
    """Arrow columns as pandas; text as ``str``/None and list cells as Python lists."""
    columns = {}
    for position in range(batch.num_columns):
        column = batch.column(position)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_nested(column.type):
            columns[position] = _object_column(column.to_pylist())
        elif _is_text(column.type):
            columns[position] = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
        else:
            columns[position] = column.to_pandas()
    frame = pd.DataFrame(columns, index=pd.RangeIndex(batch.num_rows))
    frame.columns = names
    return frame


def _check_parquet_sizes(metadata: pq.FileMetaData, source: str, limits: ReadLimits) -> None:
    """Refuse a decompression bomb from the footer, before any page is read."""
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        unpacked = group.total_byte_size
        if unpacked > limits.max_unpacked_bytes:
            raise FileFormatError(
                f"{source}: row group {index + 1} unpacks to {_size(unpacked)}, more than the "
                f"{_size(limits.max_unpacked_bytes)} allowed; write smaller row groups"
            )
        if unpacked > _RATIO_FLOOR:
            packed = sum(group.column(i).total_compressed_size for i in range(group.num_columns))
            ratio = unpacked / max(packed, 1)
            if ratio > limits.max_unpack_ratio:
                raise FileFormatError(
                    f"{source}: row group {index + 1} unpacks {ratio:.0f} times its packed "
                    f"size (at most {limits.max_unpack_ratio:.0f}); this looks like a "
                    "decompression bomb, not a table of profiles"
                )


def _iter_parquet(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    try:
        # pre_buffer would keep every row group read so far in memory until the file is done.
        parquet = pq.ParquetFile(_random_access(stream), pre_buffer=False)
        schema = parquet.schema_arrow
    except _ARROW_ERRORS as exc:
        raise FileFormatError(
            f"{source}: not a readable Parquet file ({exc}); expected a .parquet file"
        ) from exc
    names = _column_names(schema.names, source, max_columns=limits.max_columns)
    _check_parquet_sizes(parquet.metadata, source, limits)
    if "" in names:
        raise FileFormatError(f"{source}: a Parquet column has an empty name; name every column")
    batches = parquet.iter_batches(batch_size=chunk_rows)
    next_row, yielded = 1, False
    while True:
        try:
            batch = next(batches, None)
        except _ARROW_ERRORS as exc:
            raise FileFormatError(
                f"{source}: cannot read Parquet data after row {next_row - 1} ({exc}); "
                "expected a valid .parquet file"
            ) from exc
        if batch is None:
            break
        if batch.num_rows == 0:
            continue
        numbers = np.arange(next_row, next_row + batch.num_rows, dtype=np.int64)
        next_row += batch.num_rows
        yielded = True
        yield _table(
            _arrow_frame(batch, names), numbers, decimal=".", source=source, next_row=next_row
        )
    if not yielded:
        frame = _arrow_frame(schema.empty_table(), names)
        yield _table(frame, np.empty(0, np.int64), decimal=".", source=source, next_row=1)


# --- JSON and JSON Lines --------------------------------------------------------------


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _records_frame(records: list[dict], keys: dict[str, str]) -> pd.DataFrame:
    """Records as columns of native values; a key an object lacks gives None."""
    present = dict.fromkeys(key for record in records for key in record)
    frame = pd.DataFrame(
        {keys[key]: _object_column([r.get(key) for r in records]) for key in present},
        index=pd.RangeIndex(len(records)),
    )
    return frame


def _register_keys(
    keys: dict[str, str], records: list[dict], source: str, *, max_columns: int
) -> None:
    """Add the records' keys to ``keys`` (original -> normalised), refusing clashes."""
    new = [k for k in dict.fromkeys(k for r in records for k in r) if k not in keys]
    if not new:
        return
    names = _column_names([*keys, *new], source, max_columns=max_columns)
    if "" in names:
        raise FileFormatError(f"{source}: an object has an empty key; name every field")
    keys.update(zip(new, names[len(keys) :], strict=True))


def _iter_json(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    data = _read_up_to(stream, limits.max_json_bytes + 1)
    if len(data) > limits.max_json_bytes:
        raise FileFormatError(
            f"{source}: a JSON array file may hold at most {_size(limits.max_json_bytes)}; "
            "write larger files as JSON Lines (.jsonl, one object per line)"
        )
    text = _decode_utf8(data, source, final=True)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            "expected an array of objects"
        ) from exc
    except RecursionError as exc:
        raise FileFormatError(
            f"{source}: JSON nested too deeply; expected an array of flat objects"
        ) from exc
    except ValueError as exc:  # an integer of thousands of digits
        raise FileFormatError(f"{source}: unreadable JSON number ({exc})") from exc
    if not isinstance(document, list):
        raise FileFormatError(
            f"{source}: the JSON document is {_json_kind(document)}; "
            "expected an array of objects ([{...}, ...]) or JSON Lines"
        )
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise FileFormatError(
                f"{source}: item {index + 1} of the JSON array is {_json_kind(item)}; "
                "expected an object"
            )
    keys: dict[str, str] = {}
    _register_keys(keys, document, source, max_columns=limits.max_columns)
    columns = list(keys.values())
    for start in range(0, len(document), chunk_rows):
        part = document[start : start + chunk_rows]
        frame = _with_columns(_records_frame(part, keys), columns)
        numbers = np.arange(start + 1, start + 1 + len(part), dtype=np.int64)
        yield _table(frame, numbers, decimal=".", source=source, next_row=start + 1)
    if not document:
        yield _table(pd.DataFrame(), np.empty(0, np.int64), decimal=".", source=source, next_row=1)


def _iter_jsonl(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    keys: dict[str, str] = {}
    records: list[dict] = []
    numbers: list[int] = []
    offset, yielded, line_number = 0, False, 0
    longest = limits.max_line_bytes

    def flush() -> RawTable:
        _register_keys(keys, records, source, max_columns=limits.max_columns)
        frame = _records_frame(records, keys)
        return _table(frame, np.asarray(numbers), decimal=".", source=source, next_row=1)

    lines = iter(lambda: stream.readline(longest + 1), b"")  # never more than a line in memory
    for line_number, raw in enumerate(lines, start=1):
        if len(raw) > longest:
            raise FileFormatError(
                f"{source}: line {line_number} is longer than {_size(longest)}; "
                "expected one JSON object per line"
            )
        line = raw.removeprefix(_BOM) if line_number == 1 else raw
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = offset + len(raw) - len(line) + exc.start
            raise _utf8_error(source, where, line_number) from exc
        offset += len(raw)
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileFormatError(
                f"{source}: invalid JSON at line {line_number}, column {exc.colno}: {exc.msg}; "
                "expected one JSON object per line"
            ) from exc
        except RecursionError as exc:
            raise FileFormatError(
                f"{source}: JSON nested too deeply at line {line_number}; expected flat objects"
            ) from exc
        except ValueError as exc:  # an integer of thousands of digits
            raise FileFormatError(
                f"{source}: unreadable JSON number at line {line_number} ({exc})"
            ) from exc
        if not isinstance(record, dict):
            raise FileFormatError(
                f"{source}: line {line_number} is {_json_kind(record)}; "
                "expected one JSON object per line"
            )
        records.append(record)
        numbers.append(line_number)
        if len(records) == chunk_rows:
            yield flush()
            yielded = True
            records, numbers = [], []
    if records or not yielded:
        yield flush()


_READERS = {
    "csv": _iter_csv,
    "xlsx": _iter_xlsx,
    "parquet": _iter_parquet,
    "json": _iter_json,
    "jsonl": _iter_jsonl,
}
