"""Where a spreadsheet's table starts and what its columns are called: the header row
found below titles, each header read as the contract column it names (in the contract's
spelling or an office's, ``scoring.contract.headers``), duplicate and nameless columns
refused."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.contract.headers import TABLE_COLUMNS, header_aliases
from scoring.errors import FileFormatError
from scoring.files.notices import Notice, column_alias_notice

_HEADER_SPACE = re.compile(r"[\s\-]+")
#: An office puts a title, a year and a blank row above the header: the header of a CSV or
#: XLSX file is the first of its first rows that names ``sme_id`` and two more columns of a
#: profile or follow-up table (``header_kind``); rows above it are not read.
HEADER_SEARCH_ROWS = 20
#: Said after a header error when no row looked like a header, so the first row was taken.
NO_HEADER_FOUND = (
    " (row {row} was taken as the header; expected a header row naming sme_id and the other "
    f"columns within the first {HEADER_SEARCH_ROWS} rows)"
)
#: The kind of table a header is read as when it names as many columns of each.
DEFAULT_KIND = "profile"


def normalise_header(name: str) -> str:
    """Column name as the contract spells it: "  Has NIB " -> "has_nib"."""
    text = str(name).replace("\ufeff", "").strip().lower()
    return _HEADER_SPACE.sub("_", text)


def _texts(cells: Iterable[object]) -> list[str]:
    return [str(c) for c in cells if c is not None and str(c).strip()]


def _named(kind: str, texts: list[str]) -> set[str]:
    aliases = header_aliases()
    return {name for name in (aliases.column(kind, text) for text in texts) if name}


def header_kind(cells: Iterable[object]) -> str | None:
    """The kind of table (``profile`` or ``followup``) whose header a row of cells is: it
    names ``sme_id`` and two more of that table's columns; of two, the one it names more
    columns of (a profile on a tie). None: the row is no header."""
    texts = _texts(cells)
    named = {kind: _named(kind, texts) for kind in TABLE_COLUMNS}
    kinds = [kind for kind, names in named.items() if "sme_id" in names and len(names) >= 3]
    if not kinds:
        return None
    return max(kinds, key=lambda kind: (len(named[kind]), kind == DEFAULT_KIND))


def is_header(cells: Iterable[object]) -> bool:
    """Whether a row of cells is a header (``header_kind``)."""
    return header_kind(cells) is not None


def table_kind(rows: Iterable[Iterable[object]]) -> str:
    """The kind of table whose columns the cells of ``rows`` name more of (a profile on a
    tie): the header rows of a table, or a row taken as its header."""
    texts = [text for cells in rows for text in _texts(cells)]
    counts = {kind: len(_named(kind, texts)) for kind in TABLE_COLUMNS}
    return max(counts, key=lambda kind: (counts[kind], kind == DEFAULT_KIND))


@dataclass
class SheetHeader:
    """The columns of a CSV or XLSX table: contract names ("" for a cell without a header)
    and a notice for every header read by another name."""

    names: list[str]
    notices: list[Notice] = field(default_factory=list)

    @property
    def letters(self) -> dict[str, str]:
        return column_letters(self.names)


def sheet_header(
    cells: Sequence[object], source: str, *, max_columns: int, kind: str | None
) -> SheetHeader:
    """Each header cell as the column of a ``kind`` table it names (``header_kind``; None: a
    row taken as the header without being recognised as one, read in the contract's
    spelling only); a cell naming none keeps its own name (``normalise_header``), refused
    later as unknown. Two cells naming one column are refused, and so are more than
    ``max_columns``."""
    raw = ["" if c is None else str(c) for c in cells]
    _check_width(raw, source, max_columns)
    aliases = header_aliases()
    names, notices = [], []
    for position, text in enumerate(raw):
        name = aliases.column(kind, text) if kind and text.strip() else None
        own = normalise_header(text)
        if name is None:
            names.append(own)
            continue
        names.append(name)
        if own != name:
            header = " ".join(text.replace("\ufeff", "").split())
            notices.append(column_alias_notice(column_letter(position + 1), header, name))
    _refuse_duplicates(raw, names, source)
    return SheetHeader(names, notices)


def column_letter(number: int) -> str:
    """The spreadsheet letters of column ``number`` (1 is A, 27 is AA): written here, not
    taken from openpyxl, so that reading CSV and Parquet never imports it (0.07 s)."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_letters(names: list[str]) -> dict[str, str]:
    """Spreadsheet column letter of each named column, by its position in the header."""
    return {name: column_letter(i + 1) for i, name in enumerate(names) if name}


def column_names(raw: Iterable[str], source: str, *, max_columns: int) -> list[str]:
    """Normalised names (JSON keys, Parquet columns: the contract's spelling only); two
    headers that mean the same column are refused, and so are more than ``max_columns``."""
    raw = list(raw)
    _check_width(raw, source, max_columns)
    names = [normalise_header(r) for r in raw]
    _refuse_duplicates(raw, names, source)
    return names


def _check_width(raw: list, source: str, max_columns: int) -> None:
    if len(raw) > max_columns:
        raise FileFormatError(
            f"{source}: {len(raw)} columns, more than the {max_columns} a profile table may "
            "have; check the separator, or that this is the right file"
        )


def _refuse_duplicates(raw: list, names: list[str], source: str) -> None:
    """Refuse two headers that name one column, naming both spellings."""
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
            row, letter = int(numbers[np.argmax(filled)]), column_letter(position + 1)
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
