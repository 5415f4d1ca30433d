"""Validate whole tables of SME profiles against the contract, column by column.

Readers hand over a ``RawTable`` with values as read; this module turns it into the
canonical profile frame of the valid rows and one ``RowError`` per rejected row. The
work is vectorised per column (``scoring.contract.parsing``); Python loops run only over
the errors found. The single-profile schema (``scoring.contract.schema``) shares the
messages (``scoring.contract.messages``) and text rules (``scoring.contract.cells``), and a
property test keeps the two validators in agreement.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.contract.fields import (
    FIELD_BY_NAME,
    FIELDS,
    LABEL,
    LABEL_FIELD,
    NUMBER_FIELDS,
    OPTIONAL_BOOL_FIELDS,
    SME_ID_PATTERN,
    Field,
)
from scoring.contract.frames import array_frame, personal_frame, profile_frame
from scoring.contract.messages import DUPLICATE_ID, EXPORT_YEARS_WITHOUT_EXPORTS, NOT_OBJECT
from scoring.contract.parsing import ParsedColumn, arrow_text, is_empty_column, parse_column
from scoring.contract.seen_ids import SeenIds
from scoring.contract.sheets import SkippedRow, locate_errors, non_data_rows
from scoring.errors import FileFormatError

if TYPE_CHECKING:
    from scoring.files.notices import Notice
    from scoring.files.table import RawTable

# --- results ------------------------------------------------------------------------------


@dataclass
class RowError:
    """Every contract violation of one rejected row."""

    row: int
    sme_id: str | None
    errors: list[dict[str, str]]

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "sme_id": self.sme_id, "errors": [dict(e) for e in self.errors]}


@dataclass
class ValidatedBatch:
    """The valid rows in canonical form, and a report for each rejected row."""

    profiles: pd.DataFrame
    personal: pd.DataFrame
    assumed: pd.DataFrame
    row_numbers: np.ndarray
    errors: list[RowError]
    labels: np.ndarray | None
    received: int
    #: Rows of a CSV or XLSX file that are no profiles; not in ``received``.
    skipped: list[SkippedRow] = field(default_factory=list)
    #: What the reader of a CSV or XLSX file assumed (``scoring.files.notices``).
    notices: list[Notice] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return len(self.profiles)

    @property
    def rejected(self) -> int:
        return len(self.errors)


def _check_export_years(parsed: dict[str, ParsedColumn]) -> None:
    """``export_years`` must be 0 when ``has_exported`` is false (or left out)."""
    exported, years = parsed["has_exported"], parsed["export_years"]
    years_read = years.given & ~years.bad()
    rows = np.flatnonzero(~exported.bad() & ~exported.values & years_read & (years.values != 0))
    years.add(rows, EXPORT_YEARS_WITHOUT_EXPORTS)


# --- columns ------------------------------------------------------------------------------


def _checked_columns(frame: pd.DataFrame, specs: Sequence[Field], source: str) -> pd.DataFrame:
    """Refuse unknown or repeated columns; drop header-less columns that hold nothing."""
    names = [str(c) for c in frame.columns]
    empty = [
        i for i, name in enumerate(names) if not name.strip() and is_empty_column(frame.iloc[:, i])
    ]
    if empty:
        frame = frame.drop(columns=frame.columns[empty])
        names = [str(c) for c in frame.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FileFormatError(f"{source}: repeated columns {', '.join(map(repr, repeated))}.")
    known = [spec.name for spec in specs]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise FileFormatError(
            f"{source}: unknown columns {_describe_unknown(unknown, known)}.",
            code="unknown_columns",
            columns=", ".join(unknown),
        )
    return frame


def _describe_unknown(unknown: list[str], known: list[str]) -> str:
    described = []
    for name in unknown:
        if name == LABEL:
            described.append(f"'{name}' (the training label, accepted only in training data)")
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        described.append(f"'{name}' (did you mean '{close[0]}'?)" if close else f"'{name}'")
    return ", ".join(described)


# --- the table -----------------------------------------------------------------------------


@dataclass
class PreparedTable:
    """A table whose rows can be validated in any process and in any order: its columns
    checked, its non-data rows taken out, and for every ``sme_id`` it repeats (from its own
    earlier rows or an earlier chunk of the file) the row that gave it first."""

    frame: pd.DataFrame
    row_numbers: np.ndarray
    decimal: str
    source: str
    require_label: bool
    repeats: dict[str, int]
    skipped: list[SkippedRow] = field(default_factory=list)
    #: Spreadsheets: the column letter of each column, to point at a bad cell.
    columns: dict[str, str] | None = None

    def portable(self) -> PreparedTable:
        """The same table with its text columns as Arrow arrays (``arrow_text``): another
        process gets them as buffers, not as a Python object per cell to pickle."""
        frame = pd.DataFrame(
            {name: arrow_text(self.frame[name]) for name in self.frame.columns},
            index=self.frame.index,
        )
        return replace(self, frame=frame)


def _specs(require_label: bool) -> tuple[Field, ...]:
    return (*FIELDS, LABEL_FIELD) if require_label else FIELDS


def _absent(n: int) -> pd.Series:
    return pd.Series(np.full(n, None, dtype=object))


def _parsed_ids(frame: pd.DataFrame, decimal_mark: str) -> np.ndarray:
    """The ``sme_id`` column as the contract reads it (None where there is none)."""
    column = frame.get("sme_id", _absent(len(frame)))
    return parse_column(column, FIELD_BY_NAME["sme_id"], decimal_mark).values


def _prepare_frame(
    frame: pd.DataFrame,
    row_numbers: np.ndarray,
    *,
    decimal_mark: str,
    source: str,
    require_label: bool,
    seen_ids: SeenIds | None,
    ids: np.ndarray | None = None,
) -> PreparedTable:
    """Check the columns and settle which rows repeat an ``sme_id``, in reading order
    (``ids``: the ``sme_id`` column as parsed, when the caller has it)."""
    frame = _checked_columns(frame, _specs(require_label), source)
    row_numbers = np.asarray(row_numbers, dtype=np.int64)
    if ids is None:
        ids = _parsed_ids(frame, decimal_mark)
    first = (seen_ids or SeenIds()).first_rows(ids, row_numbers)
    repeated = np.flatnonzero(first >= 0).tolist()
    return PreparedTable(
        frame,
        row_numbers,
        decimal_mark,
        source,
        require_label,
        repeats={ids[r]: int(first[r]) for r in repeated},
    )


def validate_prepared(table: PreparedTable) -> ValidatedBatch:
    """Validate a prepared table: the same verdicts wherever and whenever it runs."""
    frame, row_numbers, specs = table.frame, table.row_numbers, _specs(table.require_label)
    n = len(frame)
    absent = _absent(n)
    parsed = {
        spec.name: parse_column(frame.get(spec.name, absent), spec, table.decimal) for spec in specs
    }
    _check_export_years(parsed)
    ids = parsed["sme_id"]
    first = np.array(
        [table.repeats.get(i, -1) if i is not None else -1 for i in ids.values.tolist()]
        if table.repeats
        else np.full(n, -1),
        dtype=np.int64,
    )
    first[first == row_numbers] = -1  # the row that gave a repeated id first keeps it
    repeated = np.flatnonzero(first >= 0)
    ids.add(repeated, [DUPLICATE_ID.format(row=row) for row in first[repeated].tolist()])

    rejected = np.zeros(n, dtype=bool)
    by_row: dict[int, list[dict[str, str]]] = {}
    for spec in specs:
        for rows, messages in parsed[spec.name].problems:
            rejected[rows] = True
            texts = [messages] * len(rows) if isinstance(messages, str) else messages
            for row, message in zip(rows.tolist(), texts, strict=True):
                by_row.setdefault(row, []).append({"field": spec.name, "message": message})
    sme_ids = parsed["sme_id"].values
    errors = [RowError(int(row_numbers[r]), sme_ids[r], by_row[r]) for r in by_row]
    errors.sort(key=lambda e: e.row)

    keep = ~rejected
    kept = {name: p.values[keep] for name, p in parsed.items()}
    assumed = {name: ~parsed[name].given[keep] for name in OPTIONAL_BOOL_FIELDS}
    for name in NUMBER_FIELDS:
        flags = parsed[name].assumed
        assumed[name] = np.zeros(keep.sum(), dtype=bool) if flags is None else flags[keep]
    batch = ValidatedBatch(
        profiles=profile_frame(kept),
        personal=personal_frame(kept),
        assumed=array_frame({k: np.asarray(v, dtype=bool) for k, v in assumed.items()}),
        row_numbers=row_numbers[keep],
        errors=errors,
        labels=kept[LABEL].astype(bool) if table.require_label else None,
        received=n,
        skipped=table.skipped,
    )
    if table.columns is not None:
        locate_errors(batch.errors, frame, row_numbers, table.columns)
    return batch


def spreadsheet_rows_to_skip(
    frame: pd.DataFrame, row_numbers: np.ndarray, ids: np.ndarray | None = None
) -> tuple[np.ndarray, list[SkippedRow]]:
    """``non_data_rows``, looked at cell by cell only where the ``sme_id`` cell holds no
    id (nothing, or text that cannot be one, or a total's label): a row with an id is a
    profile, and those are nearly all rows. ``ids``: the ``sme_id`` column as parsed, when
    the caller has it."""
    if list(frame.columns).count("sme_id") != 1:
        return non_data_rows(frame, row_numbers)
    if ids is None:
        ids = _parsed_ids(frame, ".")
    ids = pa.array(ids, type=pa.large_string())
    is_id = pc.and_(
        pc.match_substring_regex(ids, SME_ID_PATTERN),
        pc.invert(pc.match_substring_regex(ids, _TOTAL_LABEL, ignore_case=True)),
    )
    candidates = np.flatnonzero(~pc.fill_null(is_id, False).to_numpy(zero_copy_only=False))
    skip = np.zeros(len(frame), dtype=bool)
    if not candidates.size:
        return skip, []
    some, skipped = non_data_rows(frame.iloc[candidates], np.asarray(row_numbers)[candidates])
    skip[candidates[some]] = True
    return skip, skipped


#: A total's label alone (``scoring.contract.sheets``): never an ``sme_id``, though it looks one.
_TOTAL_LABEL = "^(jumlah|total|sub[ -]?total|grand[ -]?total)$"


# --- public entry points --------------------------------------------------------------------


def prepare_table(
    raw: RawTable, *, require_label: bool = False, seen_ids: SeenIds | None = None
) -> PreparedTable:
    """The part of ``validate_table`` that must run in reading order: the columns checked,
    a spreadsheet's totals, notes and signatures taken out, and the ``sme_id``s repeated
    from earlier rows found (``seen_ids``, else ``raw.seen_ids``, remembers them).
    Raises ``FileFormatError`` when the table has unknown or repeated columns."""
    row_numbers = raw.source_rows().astype(np.int64)
    frame, skipped, ids = raw.frame, [], None
    if raw.columns is not None:  # a spreadsheet: totals, notes and signatures are no profiles
        if list(frame.columns).count("sme_id") == 1:  # parsed once, for both steps
            ids = _parsed_ids(frame, raw.decimal)
        skip, skipped = spreadsheet_rows_to_skip(frame, row_numbers, ids)
        if skip.any():
            frame, row_numbers = frame[~skip].reset_index(drop=True), row_numbers[~skip]
            ids = None if ids is None else ids[~skip]
    table = _prepare_frame(
        frame,
        row_numbers,
        decimal_mark=raw.decimal,
        source=raw.source,
        require_label=require_label,
        seen_ids=seen_ids or raw.seen_ids,
        ids=ids,
    )
    table.skipped, table.columns = skipped, raw.columns
    return table


def validate_table(
    raw: RawTable, *, require_label: bool = False, seen_ids: SeenIds | None = None
) -> ValidatedBatch:
    """Validate every row of a table read from a file; bad rows are reported, not raised.

    A row repeating the ``sme_id`` of an earlier row is rejected; the chunks of one
    ``iter_tables`` share ``raw.seen_ids``, so repeats across chunks are caught too
    (``seen_ids``, if given, is used instead). The same as ``validate_prepared`` of
    ``prepare_table``, which a caller can run in two processes.
    Raises ``FileFormatError`` when the table has unknown or repeated columns.
    """
    batch = validate_prepared(prepare_table(raw, require_label=require_label, seen_ids=seen_ids))
    batch.notices = list(raw.notices)
    return batch


def validate_records(
    records: Sequence[Any],
    *,
    require_label: bool = False,
    source: str = "records",
    first_row: int = 1,
    seen_ids: SeenIds | None = None,
) -> ValidatedBatch:
    """Validate a parsed JSON array of profiles; rows are numbered from ``first_row`` (1:
    the whole array; a chunk of it starts at its first item's number). Repeated ``sme_id``s
    are rejected as in ``validate_table``."""
    records = list(records)
    is_object = np.array([isinstance(r, Mapping) for r in records], dtype=bool)
    objects = [dict(r) for r, ok in zip(records, is_object, strict=True) if ok]
    frame = pd.DataFrame(objects) if objects else pd.DataFrame(index=pd.RangeIndex(0))
    table = _prepare_frame(
        frame,
        np.flatnonzero(is_object) + first_row,
        decimal_mark=".",
        source=source,
        require_label=require_label,
        seen_ids=seen_ids,
    )
    batch = validate_prepared(table)
    if not is_object.all():
        not_objects = [
            RowError(int(i) + first_row, None, [{"field": "_schema", "message": NOT_OBJECT}])
            for i in np.flatnonzero(~is_object)
        ]
        batch.errors = sorted(batch.errors + not_objects, key=lambda e: e.row)
    batch.received = len(records)
    return batch
