"""Read profile tables from CSV, XLSX, Parquet, JSON and JSON Lines files into ``RawTable``s.

Readers only turn bytes into a table: header names are normalised and values are kept
as read (text for CSV), so judging values is the validator's job. Large files are read
in chunks with bounded memory, and every chunk keeps the row numbers a person sees in
the source file. Every failure to parse is a ``FileFormatError`` with a one-line reason.

Input may be hostile: ``ReadLimits`` bounds what a file may ask for (columns, line length,
unpacked size and compression ratio of XLSX and Parquet) and is checked before the bytes
are parsed, so a zip bomb, a million columns or a 100 MB cell is refused in bounded time
and memory. XLSX XML is parsed with defusedxml (entity declarations refused).

This module tells the format and hands the bytes to that format's reader: ``delimited``
(CSV), ``xlsx``, ``columnar`` (Parquet) or ``jsonl`` (JSON and JSON Lines); ``limits``
holds the guards, ``layout`` the header rules, ``table`` the ``RawTable`` they all build.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.contract.seen_ids import SeenIds
from scoring.errors import FileFormatError
from scoring.files.columnar import iter_parquet
from scoring.files.delimited import iter_csv, looks_like_csv
from scoring.files.formats import FORMATS
from scoring.files.jsonl import iter_json, iter_jsonl
from scoring.files.limits import DEFAULT_LIMITS, UTF8_BOM, ReadLimits
from scoring.files.notices import merge_notices
from scoring.files.streams import HEAD_BYTES, Source, open_source, peek
from scoring.files.table import RawTable, raw_table, with_columns

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
    text = head.removeprefix(UTF8_BOM).lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl" if _first_line_is_object(text) else "json"
    if looks_like_csv(text):
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
    frame = pd.concat([with_columns(table.frame, columns) for table in tables], ignore_index=True)
    numbers = np.concatenate([table.source_rows() for table in tables])
    first = tables[0]
    table = raw_table(frame, numbers, decimal=first.decimal, source=first.source, next_row=0)
    table.header_row, table.columns = first.header_row, first.columns
    table.notices = merge_notices(notice for chunk in tables for notice in chunk.notices)
    return table


def iter_tables(
    source: Source,
    *,
    chunk_rows: int = 50_000,
    filename: str | None = None,
    format: str | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    arrow: bool = False,
) -> Iterator[RawTable]:
    """Read ``source`` in chunks of at most ``chunk_rows`` rows, with bounded memory.

    Row numbers stay those of the source file across chunks. At least one table is
    yielded: a file with a header and no rows gives one empty frame with its columns.
    A file beyond ``limits`` is refused with a ``FileFormatError`` naming the limit.
    With ``arrow``, Parquet columns keep their Arrow arrays and CSV cells are read into Arrow
    arrays of text (``pd.ArrowDtype``) instead of becoming Python values: validation reads
    them as they are, and they travel to other processes as Arrow buffers.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    with open_source(source, filename) as (stream, name):
        head, stream = peek(stream, HEAD_BYTES)
        fmt = format or detect_format(filename or name, head)
        seen_ids = SeenIds()
        reader = partial(_READERS[fmt], arrow=True) if arrow and fmt in _ARROW else _READERS[fmt]
        for table in reader(stream, name, head, chunk_rows, limits):
            table.seen_ids = seen_ids
            yield table


def _first_line_is_object(text: bytes) -> bool:
    try:
        return isinstance(json.loads(text.split(b"\n", 1)[0]), dict)
    except (ValueError, RecursionError):
        return False


def _xlsx_tables(*args, **options) -> Iterator[RawTable]:
    """``iter_xlsx``, imported when a spreadsheet is read: openpyxl takes about 0.07 s to
    import, which a run over CSV or Parquet (a pool process too) need not pay."""
    from scoring.files.xlsx import iter_xlsx

    return iter_xlsx(*args, **options)


#: The formats whose reader can keep the cells as Arrow arrays (``iter_tables(arrow=True)``).
_ARROW = ("csv", "parquet")

_READERS = {
    "csv": iter_csv,
    "xlsx": _xlsx_tables,
    "parquet": iter_parquet,
    "json": iter_json,
    "jsonl": iter_jsonl,
}
