"""The input of a run read chunk by chunk and prepared for validation (in reading order:
spreadsheet rows that are no profiles, ids repeated from earlier chunks), with an estimate of
its rows. Validating and scoring a prepared chunk can happen in any process."""

from __future__ import annotations

import contextlib
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scoring.contract.seen_id_digests import SeenIdDigests
from scoring.contract.validate import PreparedTable, RowError, prepare_table
from scoring.errors import FileFormatError
from scoring.files.readers import detect_format, iter_tables

_FIRST_SHEET = "xl/worksheets/sheet1.xml"
_DIMENSION = re.compile(r'<(?:\w+:)?dimension\s+ref="[A-Z]+\d+(?::[A-Z]+(\d+))?"')


@dataclass
class Chunk:
    """A chunk on its way to being written: prepared, then what scoring it gave."""

    index: int
    table: PreparedTable | None  # dropped once handed on to be scored
    received: int = 0
    scored: int = 0
    errors: list[RowError] = field(default_factory=list)
    skipped: int = 0  # totals, notes and signatures of an office spreadsheet: not profiles


class InputChunks:
    """The input's chunks, prepared, but for the first ``skip`` (read for their ids only);
    and how many rows the input holds: exact for Parquet (metadata), estimated from the
    bytes read so far for CSV and JSON Lines and from the sheet's stored used range for
    XLSX. Parquet chunks keep their Arrow columns. The ids of the file are remembered as
    digests (``SeenIdDigests``), so memory stays flat for files of millions of rows."""

    def __init__(self, source: Path, *, chunk_rows: int, skip: int):
        self.source, self.chunk_rows, self.skip = source, chunk_rows, skip
        self.seen_ids = SeenIdDigests()
        with source.open("rb") as handle:
            self.format = _input_format(source.name, handle.read(64 * 1024))
        self.rows: int | None = None
        if self.format == "parquet":
            with contextlib.suppress(pa.ArrowException, OSError):  # iter_tables says what
                self.rows = pq.ParquetFile(source).metadata.num_rows
        elif self.format == "xlsx":
            self.rows = _xlsx_rows_estimate(source)

    def __iter__(self) -> Iterator[Chunk]:
        size = self.source.stat().st_size
        estimate = self.format in ("csv", "jsonl") and size > 0
        seen = 0
        with self.source.open("rb") as handle:
            tables = iter_tables(
                handle, filename=self.source.name, chunk_rows=self.chunk_rows, arrow=True
            )
            for index, raw in enumerate(tables):
                seen += len(raw.frame)
                read = min(raw.bytes_read or handle.tell(), size)
                if estimate and read > 0:
                    self.rows = max(seen, round(seen * size / read))
                elif self.rows is not None and seen > self.rows:  # a stored range too small
                    self.rows = seen
                # every chunk's ids are remembered: a repeated id in a later chunk is still one
                table = prepare_table(raw, seen_ids=self.seen_ids)
                del raw  # the cells as read are the largest thing a chunk holds: not kept
                if index >= self.skip:
                    yield Chunk(index, table)


def _xlsx_rows_estimate(source: Path) -> int | None:
    """Data rows of the first sheet by the used range stored at its start (below the header
    row), for the progress bar only: the reader itself reads every cell, whatever the range
    says. Only the sheet's first 4 KB are unpacked, so a hostile file costs nothing here."""
    try:
        with zipfile.ZipFile(source) as archive, archive.open(_FIRST_SHEET) as sheet:
            head = sheet.read(4096).decode("utf-8", "replace")
    except (OSError, EOFError, KeyError, ValueError, RuntimeError, zipfile.BadZipFile, zlib.error):
        return None  # iter_tables says what is wrong with the file
    found = _DIMENSION.search(head)
    last = int(found.group(1)) if found and found.group(1) else 0
    return last - 1 if last > 1 else None


def _input_format(name: str, head: bytes) -> str | None:
    try:
        return detect_format(name, head)
    except FileFormatError:
        return None  # iter_tables says what is wrong
