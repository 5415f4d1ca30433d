"""``RawTable``: one table, or one chunk of it, as a reader hands it to validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scoring.files.notices import Notice

if TYPE_CHECKING:
    from scoring.contract.seen_ids import SeenIds


@dataclass
class RawTable:
    """One table, or one chunk of it, as read from a file and before validation.

    ``frame`` has one column per header (the contract's names, ``scoring.files.layout``) and
    values as read: ``str`` for CSV (empty cell -> None); native Python/numpy values for XLSX, JSON
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
    #: CSV and XLSX: what the reader assumed (the header's rows, columns read by another
    #: name, merged header cells: in the first chunk) and the blank rows it skipped (in the
    #: chunk they were met in); ``merge_notices`` joins the chunks' notices.
    notices: list[Notice] = field(default_factory=list)
    #: About how many bytes of the file the reader had used by this chunk's last row, where
    #: the stream's position does not say (a reader that reads far ahead); for estimates.
    bytes_read: int | None = None

    def source_rows(self) -> np.ndarray:
        """Source row number of every frame row, whether or not rows were skipped."""
        if self.row_numbers is not None:
            return self.row_numbers
        start = self.first_row_number
        return np.arange(start, start + len(self.frame), dtype=np.int64)


def raw_table(
    frame: pd.DataFrame,
    numbers: np.ndarray,
    *,
    decimal: str,
    source: str,
    next_row: int,
    header_row: int | None = None,
    columns: dict[str, str] | None = None,
    notices: list[Notice] | None = None,
    bytes_read: int | None = None,
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
        notices=list(notices or []),
        bytes_read=bytes_read,
    )


def with_columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with exactly ``columns``; missing ones are filled with None."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        filler = pd.DataFrame({c: pd.Series([None] * len(frame), dtype=object) for c in missing})
        frame = pd.concat([frame.reset_index(drop=True), filler], axis=1)
    return frame[columns]


def object_column(values: list) -> pd.Series:
    """Values kept as they are (lists stay one cell each)."""
    return pd.Series(values, dtype=object)
