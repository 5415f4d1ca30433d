"""Parquet files: read one record batch at a time, Arrow columns turned into pandas ones:
holding Python values (lists as lists), or, for a reader that validates them as they are,
holding the Arrow arrays (``pd.ArrowDtype``, no Python value made)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.errors import FileFormatError
from scoring.files.layout import column_names
from scoring.files.limits import ReadLimits, check_parquet_sizes
from scoring.files.streams import random_access
from scoring.files.table import RawTable, object_column, raw_table

_ARROW_ERRORS = (pa.ArrowException, OSError, ValueError, TypeError)


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or str(kind) == "string_view"


def _arrow_frame(
    batch: pa.RecordBatch | pa.Table, names: list[str], *, arrow: bool = False
) -> pd.DataFrame:
    """Arrow columns as pandas: Python values (``_python_column``), or with ``arrow`` the
    Arrow arrays themselves (``pd.ArrowDtype``)."""
    columns = {}
    for position in range(batch.num_columns):
        column = batch.column(position)
        columns[position] = (
            pd.Series(pd.arrays.ArrowExtensionArray(column), copy=False)
            if arrow
            else _python_column(column)
        )
    frame = pd.DataFrame(columns, index=pd.RangeIndex(batch.num_rows))
    frame.columns = names
    return frame


def _python_column(column: pa.Array) -> pd.Series:
    """Text as ``str``/None, list cells as Python lists, numbers and booleans as pandas."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_nested(column.type):
        return object_column(column.to_pylist())
    if _is_text(column.type):
        return pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
    return column.to_pandas()


def iter_parquet(
    stream: BinaryIO,
    source: str,
    head: bytes,
    chunk_rows: int,
    limits: ReadLimits,
    *,
    arrow: bool = False,
) -> Iterator[RawTable]:
    """The chunks of a Parquet file, one record batch of at most ``chunk_rows`` each; with
    ``arrow`` their columns keep the Arrow arrays (``_arrow_frame``)."""
    try:
        # pre_buffer would keep every row group read so far in memory until the file is done.
        parquet = pq.ParquetFile(random_access(stream), pre_buffer=False)
        schema = parquet.schema_arrow
    except _ARROW_ERRORS as exc:
        raise FileFormatError(
            f"{source}: not a readable Parquet file ({exc}); expected a .parquet file"
        ) from exc
    names = column_names(schema.names, source, max_columns=limits.max_columns)
    check_parquet_sizes(parquet.metadata, source, limits)
    if "" in names:
        raise FileFormatError(f"{source}: a Parquet column has an empty name; name every column")
    # Decoded on this thread: a rescoring run keeps each core busy with a process of its
    # own, and Arrow's threads decoding beside it held 30 to 40 MB more at 5M rows for no
    # gain in time (docs/benchmarks.md).
    batches = parquet.iter_batches(batch_size=chunk_rows, use_threads=False)
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
        yield raw_table(
            _arrow_frame(batch, names, arrow=arrow),
            numbers,
            decimal=".",
            source=source,
            next_row=next_row,
        )
    if not yielded:
        frame = _arrow_frame(schema.empty_table(), names, arrow=arrow)
        yield raw_table(frame, np.empty(0, np.int64), decimal=".", source=source, next_row=1)
