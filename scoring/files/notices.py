"""What a reader assumed about a spreadsheet's layout, told with the result so that nothing
is read differently than the office meant without it being said: the header found below
titles or over two rows, a column read by another name, a merged header cell, blank rows
skipped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: ``Notice.code``s: the header's rows; a header read as a contract column; a merged header
#: cell naming the columns it covers, or a group title over columns named in the row below;
#: blank rows skipped.
HEADER_ROW = "header_row"
COLUMN_ALIAS = "column_alias"
MERGED_HEADER = "merged_header"
MERGED_GROUP = "merged_group"
BLANK_ROWS = "blank_rows"
NOTICE_CODES = (HEADER_ROW, COLUMN_ALIAS, MERGED_HEADER, MERGED_GROUP, BLANK_ROWS)
#: Runs of blank rows a message lists; the count is always whole.
LISTED_RUNS = 20


@dataclass(frozen=True)
class Notice:
    """One assumption: ``message`` is the English line, ``details`` the values a page puts
    in its own wording (row numbers, column letters, the header as written)."""

    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


def header_row_notice(first: int, last: int) -> Notice:
    """The header is in rows ``first`` to ``last``; rows above it are not read."""
    where = f"row {first}" if first == last else f"rows {first} to {last} (read together)"
    return Notice(
        HEADER_ROW,
        f"the header was found in {where}; rows above it are not read",
        {"row": first, "last_row": last},
    )


def column_alias_notice(column: str, header: str, name: str) -> Notice:
    """Column ``column``'s header ``header`` was read as the contract column ``name``."""
    return Notice(
        COLUMN_ALIAS,
        f"column {column} {header!r} read as {name}",
        {"column": column, "header": header, "field": name},
    )


def merged_notice(cells: str, header: str, columns: str, *, names_row: int | None) -> Notice:
    """A merged header cell: the header of the columns it covers, or (``names_row`` given) a
    group title over columns whose names are in that row."""
    span = f"columns {columns}" if "-" in columns else f"column {columns}"
    details = {"cells": cells, "header": header, "columns": columns}
    if names_row is None:
        message = f"merged cell {cells} {header!r} read as the header of {span}"
        return Notice(MERGED_HEADER, message, details)
    message = f"merged cell {cells} {header!r} taken as a group title over {span}"
    return Notice(
        MERGED_GROUP, f"{message}, named in row {names_row}", {**details, "row": names_row}
    )


def blank_rows_notice(runs: list[tuple[int, int]]) -> Notice:
    """Blank rows skipped: their count and the rows, as runs of consecutive row numbers."""
    count = sum(last - first + 1 for first, last in runs)
    rows = rows_text(runs)
    what = "1 blank row" if count == 1 else f"{count} blank rows"
    return Notice(
        BLANK_ROWS,
        f"{what} skipped: {'row' if count == 1 else 'rows'} {rows}",
        {"count": count, "rows": [{"first": first, "last": last} for first, last in runs]},
    )


def rows_text(runs: Iterable[tuple[int, int]]) -> str:
    """Row numbers as a person reads them: "7, 12, 13, 20-25", the first ``LISTED_RUNS``
    runs then "..."."""
    parts = []
    for i, (first, last) in enumerate(runs):
        if i == LISTED_RUNS:
            parts.append("...")
            break
        if last - first >= 2:
            parts.append(f"{first}-{last}")
        else:
            parts.extend(str(row) for row in range(first, last + 1))
    return ", ".join(parts)


def notice_runs(notice: Mapping[str, Any]) -> list[tuple[int, int]]:
    """The ``(first, last)`` runs of a blank-rows notice given as a dict (``to_dict``)."""
    return [(int(run["first"]), int(run["last"])) for run in notice.get("rows", [])]


class BlankRows:
    """Blank rows met while reading, kept as runs of consecutive row numbers, so a sheet with
    thousands of formatted but empty rows costs a few numbers."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []

    def add(self, rows: Iterable[int] | np.ndarray) -> None:
        """Add row numbers, each above every row added before."""
        for row in np.asarray(rows, dtype=np.int64).tolist():
            self.add_run(row, row)

    def add_run(self, first: int, last: int) -> None:
        """Add the rows ``first`` to ``last``, above every row added before."""
        if self.runs and self.runs[-1][1] == first - 1:
            self.runs[-1] = (self.runs[-1][0], last)
        else:
            self.runs.append((first, last))

    def take(self) -> list[Notice]:
        """A notice of the rows added since the last ``take`` (none if there are none)."""
        runs, self.runs = self.runs, []
        return [blank_rows_notice(runs)] if runs else []


def merge_notices(notices: Iterable[Notice]) -> list[Notice]:
    """The notices of a whole file from those of its chunks: each chunk's blank rows joined
    into one notice, after the others."""
    others: list[Notice] = []
    blank = BlankRows()
    for notice in notices:
        if notice.code != BLANK_ROWS:
            others.append(notice)
            continue
        for first, last in notice_runs(notice.details):
            blank.add_run(first, last)
    return [*others, *blank.take()]
