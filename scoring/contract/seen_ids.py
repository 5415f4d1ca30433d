"""The ``sme_id``s of one file read so far: a repeated id is rejected in any later chunk."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scoring.contract.fields import FIELD_BY_NAME
from scoring.contract.parsing import parse_column

if TYPE_CHECKING:
    from scoring.files.table import RawTable


class SeenIds:
    """The ``sme_id`` of every row of one file read so far, with the row that gave it first:
    validating chunk after chunk with one ``SeenIds`` rejects a repeated id in any later
    chunk. Memory grows with the distinct ids only (one dict entry each)."""

    def __init__(self, first: dict[str, int] | None = None) -> None:
        """``first``: ids already known with the row that gave each first (a cluster finds
        the repeated ids of a whole file before its partitions are validated apart)."""
        self._first: dict[str, int] = dict(first or {})

    def first_rows(self, ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each id (None: not given) the row that gave it first, -1 where this row is
        the first; the ids of this chunk are remembered."""
        out = np.full(len(ids), -1, dtype=np.int64)
        first = self._first
        for position, (sme_id, row) in enumerate(zip(ids.tolist(), rows.tolist(), strict=True)):
            if sme_id is None:
                continue
            seen = first.setdefault(sme_id, row)
            if seen != row:
                out[position] = seen
        return out

    def remember(self, raw: RawTable) -> None:
        """Note the ids of a chunk that is not validated (a resumed run skips it)."""
        self.first_rows(table_ids(raw), raw.source_rows())


def table_ids(raw: RawTable) -> np.ndarray:
    """Each row's ``sme_id`` as validation reads it (trimmed; None where not given)."""
    spec = FIELD_BY_NAME["sme_id"]
    column = raw.frame.get("sme_id", pd.Series(np.full(len(raw.frame), None, dtype=object)))
    return parse_column(column, spec, raw.decimal).values


def first_rows_of_repeats(ids: pd.DataFrame) -> dict[str, int]:
    """``{sme_id: first row}`` for the ids given more than once in ``ids`` (columns
    ``sme_id`` and ``row``, one entry per row of a file)."""
    given = ids.dropna(subset=["sme_id"])
    repeated = given[given["sme_id"].duplicated(keep=False)]
    return {str(k): int(v) for k, v in repeated.groupby("sme_id")["row"].min().items()}
