"""Where a spreadsheet's table starts and what its columns are called: the header row
found below titles, names normalised to the contract's spelling, duplicate and nameless
columns refused."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

from scoring.contract.fields import ALL_COLUMNS, LABEL
from scoring.contract.outcomes import OUTCOME_COLUMNS
from scoring.errors import FileFormatError

_HEADER_SPACE = re.compile(r"[\s\-]+")
#: An office puts a title, a year and a blank row above the header: the header of a CSV or
#: XLSX file is the first of its first rows that names ``sme_id`` and two more contract
#: columns of a profile or follow-up file (after ``normalise_header``); rows above it are
#: not read.
HEADER_SEARCH_ROWS = 20
_KNOWN_COLUMNS = frozenset((*ALL_COLUMNS, LABEL, *OUTCOME_COLUMNS))
#: Said after a header error when no row looked like a header, so the first row was taken.
NO_HEADER_FOUND = (
    " (row {row} was taken as the header; expected a header row naming sme_id and the other "
    f"columns within the first {HEADER_SEARCH_ROWS} rows)"
)


def normalise_header(name: str) -> str:
    """Column name as the contract spells it: "  Has NIB " -> "has_nib"."""
    text = str(name).replace("\ufeff", "").strip().lower()
    return _HEADER_SPACE.sub("_", text)


def is_header(cells: Iterable[object]) -> bool:
    """Whether a row of cells is a header: it names ``sme_id`` and two more contract columns."""
    names = {normalise_header(c) for c in cells if c is not None and str(c).strip()}
    return "sme_id" in names and len(names & _KNOWN_COLUMNS) >= 3


def column_letters(names: list[str]) -> dict[str, str]:
    """Spreadsheet column letter of each named column, by its position in the header."""
    return {name: get_column_letter(i + 1) for i, name in enumerate(names) if name}


def column_names(raw: Iterable[str], source: str, *, max_columns: int) -> list[str]:
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


def named_columns(
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
