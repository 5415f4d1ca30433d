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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scoring.contract.fields import (
    FIELDS,
    LABEL,
    LABEL_FIELD,
    NUMBER_FIELDS,
    OPTIONAL_BOOL_FIELDS,
    Field,
)
from scoring.contract.frames import array_frame, personal_frame, profile_frame
from scoring.contract.messages import DUPLICATE_ID, EXPORT_YEARS_WITHOUT_EXPORTS, NOT_OBJECT
from scoring.contract.parsing import ParsedColumn, is_empty_column, parse_column
from scoring.contract.seen_ids import SeenIds
from scoring.contract.sheets import SkippedRow, locate_errors, non_data_rows
from scoring.errors import FileFormatError

if TYPE_CHECKING:
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


def _validate_frame(
    frame: pd.DataFrame,
    row_numbers: np.ndarray,
    *,
    decimal_mark: str,
    source: str,
    require_label: bool,
    seen_ids: SeenIds | None = None,
) -> ValidatedBatch:
    specs = (*FIELDS, LABEL_FIELD) if require_label else FIELDS
    frame = _checked_columns(frame, specs, source)
    n = len(frame)
    absent = pd.Series(np.full(n, None, dtype=object))
    parsed = {
        spec.name: parse_column(frame.get(spec.name, absent), spec, decimal_mark) for spec in specs
    }
    _check_export_years(parsed)
    ids = parsed["sme_id"]
    first = (seen_ids or SeenIds()).first_rows(ids.values, np.asarray(row_numbers))
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
    return ValidatedBatch(
        profiles=profile_frame(kept),
        personal=personal_frame(kept),
        assumed=array_frame({k: np.asarray(v, dtype=bool) for k, v in assumed.items()}),
        row_numbers=np.asarray(row_numbers, dtype=np.int64)[keep],
        errors=errors,
        labels=kept[LABEL].astype(bool) if require_label else None,
        received=n,
    )


# --- public entry points --------------------------------------------------------------------


def validate_table(
    raw: RawTable, *, require_label: bool = False, seen_ids: SeenIds | None = None
) -> ValidatedBatch:
    """Validate every row of a table read from a file; bad rows are reported, not raised.

    A row repeating the ``sme_id`` of an earlier row is rejected; the chunks of one
    ``iter_tables`` share ``raw.seen_ids``, so repeats across chunks are caught too
    (``seen_ids``, if given, is used instead).
    Raises ``FileFormatError`` when the table has unknown or repeated columns.
    """
    row_numbers = raw.source_rows().astype(np.int64)
    frame, skipped = raw.frame, []
    if raw.columns is not None:  # a spreadsheet: totals, notes and signatures are no profiles
        skip, skipped = non_data_rows(frame, row_numbers)
        if skip.any():
            frame, row_numbers = frame[~skip].reset_index(drop=True), row_numbers[~skip]
    batch = _validate_frame(
        frame,
        row_numbers,
        decimal_mark=raw.decimal,
        source=raw.source,
        require_label=require_label,
        seen_ids=seen_ids or raw.seen_ids,
    )
    batch.skipped = skipped
    if raw.columns is not None:
        locate_errors(batch.errors, frame, row_numbers, raw.columns)
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
    batch = _validate_frame(
        frame,
        np.flatnonzero(is_object) + first_row,
        decimal_mark=".",
        source=source,
        require_label=require_label,
        seen_ids=seen_ids,
    )
    if not is_object.all():
        not_objects = [
            RowError(int(i) + first_row, None, [{"field": "_schema", "message": NOT_OBJECT}])
            for i in np.flatnonzero(~is_object)
        ]
        batch.errors = sorted(batch.errors + not_objects, key=lambda e: e.row)
    batch.received = len(records)
    return batch
