"""What spreadsheet rows hold besides profiles (totals, notes, signatures: skipped), and
where in the sheet each error of a rejected row is (its column letter and value)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scoring.contract.cells import is_missing, strip_text
from scoring.contract.fields import FIELD_BY_NAME, SME_ID_PATTERN

if TYPE_CHECKING:
    from scoring.contract.validate import RowError

#: Why a spreadsheet row without an ``sme_id`` is skipped as not a profile (``SkippedRow``).
TOTAL_ROW = "total row"
NOTE_ROW = "note or signature row"
#: A row naming no ``sme_id`` with text in at most this many cells is a title, note or
#: signature line ("Catatan: ...", "Bandung, 3 Desember 2026", "Kepala Dinas").
NOTE_MAX_CELLS = 2
#: How an office labels a totals row ("Jumlah", "Total", "Sub total", "Grand total").
TOTAL_LABEL = re.compile(r"^(jumlah|total|sub[ -]?total|grand[ -]?total)\b", re.IGNORECASE)
_SME_ID_RE = re.compile(SME_ID_PATTERN)
#: A total's label alone in a cell: in the ``sme_id`` column it is no SME's id.
_TOTAL_WORD = re.compile(r"(jumlah|total|sub[ -]?total|grand[ -]?total)", re.IGNORECASE)
_NUMBER_CELL = re.compile(r"^(rp\.?)?[\s\d.,%+\-]*\d[\s\d.,%]*$", re.IGNORECASE)


@dataclass
class SkippedRow:
    """A spreadsheet row that is not a profile (a total, a note, a signature): not read,
    not counted in ``received``."""

    row: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "reason": self.reason}


def non_data_rows(
    frame: pd.DataFrame, row_numbers: np.ndarray
) -> tuple[np.ndarray, list[SkippedRow]]:
    """Which rows are no profiles, and a ``SkippedRow`` for each: no ``sme_id`` (an empty
    cell or text that cannot be one), and either a total label beside numbers, or text in at
    most ``NOTE_MAX_CELLS`` cells and nothing else."""
    skip = np.zeros(len(frame), dtype=bool)
    if "sme_id" not in frame.columns:
        return skip, []
    skipped = []
    no_id = np.flatnonzero([not _is_sme_id(v) for v in frame["sme_id"].tolist()])
    for position in no_id.tolist():
        cells = [v for v in frame.iloc[position].tolist() if not is_missing(v)]
        texts = [
            strip_text(v)
            for v in cells
            if isinstance(v, str) and not _NUMBER_CELL.match(strip_text(v))
        ]
        if any(isinstance(v, bool | list) for v in cells) or len(texts) > NOTE_MAX_CELLS:
            continue
        if any(TOTAL_LABEL.match(text) for text in texts):
            reason = TOTAL_ROW
        elif texts and len(texts) == len(cells):
            reason = NOTE_ROW
        else:
            continue
        skip[position] = True
        skipped.append(SkippedRow(int(row_numbers[position]), reason))
    return skip, skipped


def _is_sme_id(value: Any) -> bool:
    """Whether a cell holds an ``sme_id`` (a note in that column does not: "Catatan: ...",
    nor a total's label written there: "Jumlah", "TOTAL")."""
    if is_missing(value):
        return False
    if not isinstance(value, str):
        return True
    text = strip_text(value)
    return _SME_ID_RE.match(text) is not None and _TOTAL_WORD.fullmatch(text) is None


def locate_errors(
    errors: list[RowError], frame: pd.DataFrame, row_numbers: np.ndarray, letters: dict[str, str]
) -> None:
    """Add to each field error of a spreadsheet row its ``column`` letter and, unless the
    field is personal, the ``value`` as read, so the web page can point at the cell."""
    if not errors:  # nearly every chunk: no row is looked up
        return
    rows = np.asarray(row_numbers)
    wanted = np.array([error.row for error in errors], dtype=rows.dtype)
    found = np.flatnonzero(np.isin(rows, wanted))
    positions = {int(rows[i]): int(i) for i in found}
    for error in errors:
        position = positions.get(error.row)
        for item in error.errors:
            name = item["field"]
            if name not in letters or name not in frame.columns or position is None:
                continue
            item["column"] = letters[name]
            spec = FIELD_BY_NAME.get(name)
            value = frame[name].iloc[position]
            if (spec is None or not spec.personal) and not is_missing(value):
                item["value"] = _cell_text(value)


def _cell_text(value: Any) -> str:
    """A cell's value as a person reads it back: whole numbers without ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return strip_text(str(value))
