"""Merged cells of an XLSX worksheet's header: the ranges read from the sheet's XML (the
streaming reader does not give them), a merged header cell's text filled into every cell it
covers, and a header written over two rows read as one row of column names."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass

from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string

from scoring.contract.headers import header_aliases
from scoring.files.layout import header_kind, table_kind
from scoring.files.notices import Notice, merged_notice

#: ``<mergeCell ref="B1:D1"/>`` in a worksheet's XML, any namespace prefix. Cell text
#: cannot hold a ``<``, so nothing else matches.
_MERGE_CELL = re.compile(
    rb"<(?:[A-Za-z_][\w.\-]*:)?mergeCell\b[^>]*?\sref\s*=\s*[\"']\s*"
    rb"([A-Za-z]{1,3})([0-9]{1,7})(?::([A-Za-z]{1,3})([0-9]{1,7}))?\s*[\"']"
)
_PIECE_BYTES = 1 << 20
#: Bytes of one piece read again with the next, so a range cut in two is still found.
_OVERLAP_BYTES = 1024
#: Rows a header written over several rows may have.
MAX_HEADER_ROWS = 3

Row = tuple[int, tuple]


@dataclass(frozen=True)
class MergedRange:
    """Cells merged into one (1-based rows and columns, within the rows and columns read),
    and the range as the sheet names it."""

    min_row: int
    min_col: int
    max_row: int
    max_col: int
    ref: str

    @property
    def cells(self) -> int:
        return (self.max_row - self.min_row + 1) * (self.max_col - self.min_col + 1)


def merged_ranges(
    archive: zipfile.ZipFile, member: str, *, max_row: int, max_col: int
) -> list[MergedRange]:
    """The merged ranges of a worksheet within its first ``max_row`` rows and ``max_col``
    columns (cut to them). Excel lists them after the cells, so the sheet's XML is read
    through, a piece at a time. Merged ranges do not overlap: once they cover more cells
    than there are, the rest of a broken sheet's list is not read."""
    found: dict[MergedRange, None] = {}
    cells = 0
    tail = b""
    with archive.open(member) as xml:
        while piece := xml.read(_PIECE_BYTES):
            data = tail + piece
            if b"mergeCell" in data:
                for match in _MERGE_CELL.finditer(data):
                    if match.end() <= len(tail):  # found with the previous piece
                        continue
                    merged = _merged_range(match, max_row=max_row, max_col=max_col)
                    if merged is None or merged in found:
                        continue
                    found[merged] = None
                    cells += merged.cells
                    if cells > max_row * max_col:
                        return list(found)
            tail = data[-_OVERLAP_BYTES:]
    return list(found)


def _merged_range(match: re.Match, *, max_row: int, max_col: int) -> MergedRange | None:
    """The range a match names, cut to the first ``max_row`` rows and ``max_col`` columns;
    None for one cell or a range outside them."""
    first_col, first_row, last_col, last_row = match.groups()
    if last_col is None:
        return None  # one cell: nothing merged
    first_col, last_col = first_col.decode().upper(), last_col.decode().upper()
    cols = sorted(column_index_from_string(c) for c in (first_col, last_col))
    rows = sorted(int(r) for r in (first_row, last_row))
    if rows[0] < 1 or rows[0] > max_row or cols[0] > max_col:
        return None
    ref = f"{first_col}{int(first_row)}:{last_col}{int(last_row)}"
    merged = MergedRange(rows[0], cols[0], min(rows[1], max_row), min(cols[1], max_col), ref)
    return merged if merged.cells > 1 else None


def filled(rows: list[Row], merged: list[MergedRange]) -> list[Row]:
    """``rows`` (sheet row number, values) with the value of each merged range's first cell
    in every cell of the range."""
    if not merged:
        return rows
    values = {number: list(cells) for number, cells in rows}
    for m in merged:
        top = values.get(m.min_row)
        value = top[m.min_col - 1] if top is not None and len(top) >= m.min_col else None
        if value is None or not str(value).strip():
            continue
        for number in range(m.min_row, m.max_row + 1):
            cells = values.get(number)
            if cells is None:
                continue
            cells.extend([None] * (m.max_col - len(cells)))
            cells[m.min_col - 1 : m.max_col] = [value] * (m.max_col - m.min_col + 1)
    return [(number, tuple(values[number])) for number, _ in rows]


@dataclass
class HeaderRows:
    """The header of a worksheet: its first and last row, the header text each column is
    read by, the kind of table it heads, and a notice for each merged cell it read."""

    first: int
    last: int
    cells: list[str]
    kind: str
    notices: list[Notice]


def header_rows(rows: list[Row], merged: list[MergedRange]) -> HeaderRows | None:
    """The header among a sheet's first ``rows``: the first row that is one once merged
    cells are filled in, with the rows below that its merged cells reach down into, or that
    name the columns under a group title in it; None if no row is a header."""
    rows = filled(rows, merged)
    found = next((i for i, (_, cells) in enumerate(rows) if header_kind(cells)), None)
    if found is None:
        return None
    first = rows[found][0]
    last = _last_header_row(rows[found:], merged)
    block = [cells for number, cells in rows if first <= number <= last]
    kind = table_kind(block)
    width = max(len(cells) for cells in block)
    beside = {
        (row - first, column - 1)
        for m in merged
        for row in range(max(m.min_row, first), min(m.max_row, last) + 1)
        for column in range(m.min_col + 1, m.max_col + 1)
    }
    cells, taken = [], []
    for column in range(width):
        text, row = _column_header(block, column, kind, beside)
        cells.append(text)
        taken.append(first + row if row is not None else None)
    notices = _merged_notices(merged, first, last, taken, rows)
    return HeaderRows(first, last, cells, kind, notices)


def _last_header_row(rows: list[Row], merged: list[MergedRange]) -> int:
    """The last row of a header starting at ``rows[0]``: the lowest row its merged cells
    reach down into, or the next row when it names the columns under a group title."""
    first, cells = rows[0]
    last = first
    below = dict(rows[1:MAX_HEADER_ROWS])
    kind = table_kind([cells])
    aliases = header_aliases()
    for m in merged:
        if not m.min_row <= first <= m.max_row:
            continue
        if m.max_row > first:
            last = max(last, m.max_row)
        elif m.max_col > m.min_col and first + 1 in below:
            under = below[first + 1][m.min_col - 1 : m.max_col]
            if any(v is not None and aliases.column(kind, v) for v in under):
                last = max(last, first + 1)
    last = min(last, first + MAX_HEADER_ROWS - 1)
    while last > first and last not in below:
        last -= 1
    return last


def _column_header(
    block: list[tuple], column: int, kind: str, beside: set[tuple[int, int]]
) -> tuple[str, int | None]:
    """A column's header in a header of one or more rows: from the lowest row, the first
    text naming a column of the table, else the lowest text; and the row (in ``block``) it
    is in. A merged cell's text names the first column it covers only (``beside``: its
    other cells): a group title over several columns is no column's name."""
    aliases = header_aliases()
    texts = [
        (i, str(cells[column]))
        for i, cells in enumerate(block)
        if column < len(cells) and cells[column] is not None and str(cells[column]).strip()
    ]
    texts = [(i, text) for i, text in texts if (i, column) not in beside]
    for i, text in reversed(texts):
        if aliases.column(kind, text):
            return text, i
    return (texts[-1][1], texts[-1][0]) if texts else ("", None)


def _merged_notices(
    merged: list[MergedRange], first: int, last: int, taken: list[int | None], rows: list[Row]
) -> list[Notice]:
    """What each merged cell in the header, or in the row just above it, was read as: the
    header of the columns it covers, or a group title over columns named below it."""
    values = dict(rows)
    notices = []
    for m in sorted(merged, key=lambda m: (m.min_row, m.min_col)):
        if m.max_row < first - 1 or m.min_row > last or m.min_col > len(taken):
            continue
        text = values.get(m.min_row, ())[m.min_col - 1 : m.min_col]
        header = " ".join(str(text[0]).split()) if text and text[0] is not None else ""
        if not header:
            continue
        columns = range(m.min_col, min(m.max_col, len(taken)) + 1)
        named = [c for c in columns if taken[c - 1] and m.min_row <= taken[c - 1] <= m.max_row]
        if named:
            notices.append(merged_notice(m.ref, header, _letters(named), names_row=None))
        else:
            below = max((taken[c - 1] or last) for c in columns)
            notices.append(merged_notice(m.ref, header, _letters(columns), names_row=below))
    return notices


def _letters(columns: range | list[int]) -> str:
    first, last = get_column_letter(columns[0]), get_column_letter(columns[-1])
    return first if first == last else f"{first}-{last}"
