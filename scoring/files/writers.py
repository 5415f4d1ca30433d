"""Write flat result tables as CSV, XLSX, Parquet, JSON or JSON Lines.

Text that a spreadsheet would run as a formula is neutralised in CSV and XLSX output
(formula injection). ``TableWriter`` writes chunk by chunk for streamed batches; its
output equals ``write_table`` of the concatenated chunks.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.files.formats import FORMATS

#: Text starting with one of these is a formula (or a DDE payload) to a spreadsheet.
_FORMULA_START = r"[=+\-@\t\r]"
#: ...unless the text is just a signed number such as "-12.5" or "-1.500.000,50".
_PLAIN_NUMBER = r"[+-]?[.,]?\d(?:[\d.,]*\d)?(?:[eE][+-]?\d+)?"
_LIST_SEPARATOR = "; "
_CR = r"\r\n?"


def write_table(frame: pd.DataFrame, dest: str | Path | BinaryIO, *, format: str) -> None:
    """Write ``frame`` (without its index) to ``dest`` in one of ``FORMATS``."""
    with TableWriter(dest, format=format) as writer:
        writer.write(frame)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where text cells a spreadsheet would run as formulas start with ``'``.

    Only text cells change: numeric columns, non-text cells and text that is a plain
    signed number ("-12.5") are kept as they are.
    """
    out = frame.copy()
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if not _may_hold_text(column):
            continue
        starts = column.str.match(_FORMULA_START, na=False).to_numpy(dtype=bool)
        if not starts.any():
            continue
        number = column.str.fullmatch(_PLAIN_NUMBER, na=False).to_numpy(dtype=bool)
        risky = starts & ~number
        if risky.any():
            fixed = column.copy()
            fixed[risky] = ("'" + column[risky].astype(str)).to_numpy()
            out.isetitem(position, fixed)
    return out


class TableWriter:
    """Incremental writer: ``write`` chunks with the same columns, then ``close``.

    CSV, JSON and JSON Lines are appended as they come; Parquet goes through one
    ``ParquetWriter`` (schema from the first chunk unless ``schema`` is given); XLSX
    through a write-only openpyxl workbook saved on ``close``. ``abort`` gives up: a
    file this writer created is deleted. As a context manager it closes on success and
    aborts on an exception. A path ``dest`` is opened and closed here; a file object is
    left open.
    """

    def __init__(
        self,
        dest: str | Path | BinaryIO,
        *,
        format: str,
        schema: pa.Schema | None = None,
    ):
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        if schema is not None and format != "parquet":
            raise ValueError("schema is only used for the parquet format")
        self.format = format
        self._path = Path(dest) if isinstance(dest, str | os.PathLike) else None
        self._owns_handle = self._path is not None
        # The handle lives as long as the writer; ``close`` (or ``__exit__``) closes it.
        self._handle: BinaryIO = self._path.open("wb") if self._path else dest
        if format == "parquet":
            self._sink = _ParquetSink(self._handle, schema)
        else:
            self._sink = _SINKS[format](self._handle)
        self._columns: list | None = None
        self._closed = False

    @classmethod
    def open(
        cls, dest: str | Path | BinaryIO, *, format: str, schema: pa.Schema | None = None
    ) -> TableWriter:
        return cls(dest, format=format, schema=schema)

    def write(self, chunk: pd.DataFrame) -> None:
        if self._closed:
            raise ValueError("write to a closed TableWriter")
        columns = list(chunk.columns)
        if self._columns is None:
            self._columns = columns
        elif columns != self._columns:
            raise ValueError(
                f"every chunk must have the columns of the first one: {self._columns}, "
                f"got {columns}"
            )
        self._sink.write(chunk)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sink.close()
        finally:
            if self._owns_handle:
                self._handle.close()

    def abort(self) -> None:
        """Stop without finishing the output; delete the file if this writer created it."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sink.abort()
        finally:
            if self._path is not None:
                self._handle.close()
                self._path.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --- cell preparation -----------------------------------------------------------------


def _may_hold_text(column: pd.Series) -> bool:
    if isinstance(column.dtype, pd.StringDtype):
        return True
    if column.dtype != object:
        return False
    return pd.api.types.infer_dtype(column, skipna=True) in ("string", "mixed", "mixed-integer")


def _join_list(value: object) -> object:
    if isinstance(value, list | tuple | np.ndarray):
        return _LIST_SEPARATOR.join(str(item) for item in value)
    return value


def _lists_to_text(frame: pd.DataFrame) -> pd.DataFrame:
    """List cells as "A; B", for formats whose cells hold one value."""
    out = frame
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "mixed":
            if out is frame:
                out = frame.copy()
            out.isetitem(position, column.map(_join_list))
    return out


def _python_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Object frame of Python values with None for every missing value."""
    values = frame.astype(object)
    return values.where(frame.notna(), None)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | tuple | set | frozenset):
        return list(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _json_lines(chunk: pd.DataFrame) -> list[str]:
    """One compact JSON object per row: floats as numbers, NaN as null."""
    return [
        json.dumps(
            record,
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
            separators=(",", ":"),
        )
        for record in _python_values(chunk).to_dict("records")
    ]


def _sheet_values(chunk: pd.DataFrame) -> pd.DataFrame:
    """Cells openpyxl can store: no lists, formulas, control characters or time zones.

    Line breaks become LF, as XML would turn a stored CR into LF on reading anyway.
    """
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    chunk = neutralise_formulas(_lists_to_text(chunk))
    for position in range(chunk.shape[1]):
        column = chunk.iloc[:, position]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            iso = column.map(lambda t: t.isoformat(), na_action="ignore")
            chunk.isetitem(position, iso.astype(object))
        elif _may_hold_text(column):
            cleaned = column.str.replace(ILLEGAL_CHARACTERS_RE, "", regex=True).str.replace(
                _CR, "\n", regex=True
            )
            chunk.isetitem(position, column.where(column.isna() | cleaned.isna(), cleaned))
    return _python_values(chunk)


# --- one sink per format --------------------------------------------------------------


class _CsvSink:
    """UTF-8, "," separated, "." decimal, one header row.

    Lines end in CRLF (RFC 4180): with both characters in the line terminator, the csv
    module quotes every cell holding a CR or LF, so a lone CR cannot split a row.
    """

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._header = True

    def write(self, chunk: pd.DataFrame) -> None:
        text = neutralise_formulas(_lists_to_text(chunk)).to_csv(
            None, index=False, header=self._header, sep=",", decimal=".", lineterminator="\r\n"
        )
        self._handle.write(text.encode("utf-8"))
        self._header = False

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None


class _JsonLinesSink:
    def __init__(self, handle: BinaryIO):
        self._handle = handle

    def write(self, chunk: pd.DataFrame) -> None:
        lines = _json_lines(chunk)
        if lines:
            self._handle.write(("\n".join(lines) + "\n").encode("utf-8"))

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None


class _JsonSink:
    """A JSON array of records, one record per line, written as chunks come."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._started = False

    def write(self, chunk: pd.DataFrame) -> None:
        lines = _json_lines(chunk)
        if not lines:
            return
        opening = ",\n" if self._started else "[\n"
        self._handle.write((opening + ",\n".join(lines)).encode("utf-8"))
        self._started = True

    def close(self) -> None:
        self._handle.write(b"\n]\n" if self._started else b"[]\n")

    def abort(self) -> None:
        return None


class _ParquetSink:
    def __init__(self, handle: BinaryIO, schema: pa.Schema | None):
        self._handle = handle
        self._schema = schema
        self._writer: pq.ParquetWriter | None = None

    def write(self, chunk: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(chunk, schema=self._schema, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._handle, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._handle, self._schema or pa.schema([]))
        self._writer.close()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _XlsxSink:
    """One worksheet, bold header row; openpyxl streams rows to disk until ``close``."""

    def __init__(self, handle: BinaryIO):
        # imported here: processes that write CSV or Parquet (rescoring's) never load openpyxl
        from openpyxl import Workbook

        self._handle = handle
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet("results")
        self._header = True

    def write(self, chunk: pd.DataFrame) -> None:
        if self._header:
            self._sheet.append([self._bold(str(name)) for name in chunk.columns])
            self._header = False
        for row in _sheet_values(chunk).itertuples(index=False, name=None):
            self._sheet.append(row)

    def _bold(self, value: str):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        cell = WriteOnlyCell(self._sheet, value=value)
        cell.font = Font(bold=True)
        return cell

    def close(self) -> None:
        self._workbook.save(self._handle)

    def abort(self) -> None:
        # Saving is openpyxl's one public way to finish the sheets and delete their
        # temporary files; the bytes go nowhere.
        self._workbook.save(_Discard())


class _Discard(io.RawIOBase):
    """A write-only stream that drops what it is given."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)


_SINKS = {"csv": _CsvSink, "json": _JsonSink, "jsonl": _JsonLinesSink, "xlsx": _XlsxSink}
