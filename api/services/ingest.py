"""From a request to stored scores: read and validate profiles, score them, store them.

Files and JSON arrays go through ``scoring.files.readers`` and
``scoring.contract.validate`` exactly as on the command line, and every row is scored by
the process' ``Scorer``; the store writes profiles, personal data and scores in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pandas as pd
from sqlalchemy.orm import Session

from api import store
from scoring.contract.frames import profiles_to_records
from scoring.contract.seen_ids import SeenIds
from scoring.contract.sheets import SkippedRow
from scoring.contract.validate import RowError, ValidatedBatch, validate_records, validate_table
from scoring.engine import Scorer, now_utc
from scoring.files.notices import Notice, merge_notices
from scoring.files.readers import iter_tables

MAX_CHUNK_ROWS = 50_000


class TooManyRows(ValueError):
    """The upload has more rows than one batch may hold."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"A batch holds at most {limit} rows; split the file.")


@dataclass
class Intake:
    """Validated rows of one request, in chunks as read; row errors of the rejected ones."""

    chunks: list[ValidatedBatch] = field(default_factory=list)

    @property
    def received(self) -> int:
        return sum(chunk.received for chunk in self.chunks)

    @property
    def scored(self) -> int:
        return sum(chunk.scored for chunk in self.chunks)

    @property
    def errors(self) -> list[RowError]:
        return [error for chunk in self.chunks for error in chunk.errors]

    @property
    def skipped(self) -> list[SkippedRow]:
        """Spreadsheet rows that are no profiles; not in ``received``."""
        return [row for chunk in self.chunks for row in chunk.skipped]

    @property
    def notices(self) -> list[Notice]:
        """What the reader of a CSV or XLSX file assumed: its header, columns read by another
        name, merged header cells, blank rows skipped."""
        return merge_notices(notice for chunk in self.chunks for notice in chunk.notices)


@dataclass
class Scored:
    """What the store needs for one request's scored rows."""

    profiles: list[dict[str, Any]]
    personal: list[dict[str, Any]]
    records: list[dict[str, Any]]

    def extend(self, other: Scored) -> None:
        """Append another chunk's rows (a background batch is scored chunk by chunk)."""
        self.profiles.extend(other.profiles)
        self.personal.extend(other.personal)
        self.records.extend(other.records)


#: Why a row that gives personal fields is rejected from a key without the ``personal`` scope.
PERSONAL_NEEDS_SCOPE = "storing personal fields needs an API key with the 'personal' scope"


def refuse_personal(chunk: ValidatedBatch) -> ValidatedBatch:
    """``chunk`` without the rows that give a personal field: those become row errors
    naming the fields (for a batch from a key that may not store personal data)."""
    given = chunk.personal.notna().to_numpy()
    refused = given.any(axis=1)
    if not refused.any():
        return chunk
    names = list(chunk.personal.columns)
    errors = [
        RowError(
            int(chunk.row_numbers[i]),
            str(chunk.profiles["sme_id"].iloc[i]),
            [{"field": names[j], "message": PERSONAL_NEEDS_SCOPE} for j in given[i].nonzero()[0]],
        )
        for i in refused.nonzero()[0]
    ]
    kept = ~refused
    return ValidatedBatch(
        profiles=chunk.profiles.iloc[kept].reset_index(drop=True),
        personal=chunk.personal.iloc[kept].reset_index(drop=True),
        assumed=chunk.assumed.iloc[kept].reset_index(drop=True),
        row_numbers=chunk.row_numbers[kept],
        errors=sorted([*chunk.errors, *errors], key=lambda error: error.row),
        labels=None if chunk.labels is None else chunk.labels[kept],
        received=chunk.received,
        skipped=chunk.skipped,
        notices=chunk.notices,
    )


#: Why a queued batch's row is not stored: its SME was erased after the upload.
ERASED_WHILE_QUEUED = "erased on request after this batch was uploaded; not stored"


def withhold(intake: Intake, scored: Scored, sme_ids: set[str]) -> list[RowError]:
    """Take the rows of ``sme_ids`` out of ``scored``, as rejected rows without the sme_id
    (as erasure leaves the row errors of earlier batches)."""
    rows = [int(row) for chunk in intake.chunks for row in chunk.row_numbers]
    erased = [profile["sme_id"] in sme_ids for profile in scored.profiles]
    for name in ("profiles", "personal", "records"):
        kept = [item for item, gone in zip(getattr(scored, name), erased, strict=True) if not gone]
        setattr(scored, name, kept)
    message = [{"field": "sme_id", "message": ERASED_WHILE_QUEUED}]
    return [RowError(row, None, message) for row, gone in zip(rows, erased, strict=True) if gone]


def read_file(stream: BinaryIO, *, filename: str | None, max_rows: int) -> Intake:
    """Validate every row of an uploaded CSV, XLSX, Parquet or JSON file.

    Raises ``FileFormatError`` for a file that cannot be read as a table and
    ``TooManyRows`` as soon as the file turns out longer than ``max_rows``.
    """
    chunk_rows = max(1, min(max_rows + 1, MAX_CHUNK_ROWS))
    return Intake(
        list(iter_file(stream, filename=filename, max_rows=max_rows, chunk_rows=chunk_rows))
    )


def iter_file(
    stream: BinaryIO, *, filename: str | None, max_rows: int, chunk_rows: int
) -> Iterator[ValidatedBatch]:
    """``read_file`` one chunk of at most ``chunk_rows`` rows at a time (background batches
    report their progress per chunk)."""
    rows = 0
    for raw in iter_tables(stream, filename=filename, chunk_rows=min(chunk_rows, max_rows + 1)):
        rows += len(raw.frame)
        if rows > max_rows:
            raise TooManyRows(max_rows)
        yield validate_table(raw)


def read_records(items: Sequence[Any], *, max_rows: int) -> Intake:
    """Validate a JSON array of profiles (rows numbered from 1)."""
    if len(items) > max_rows:
        raise TooManyRows(max_rows)
    return Intake([validate_records(items, source="request body")])


def iter_records(
    items: Sequence[Any], *, max_rows: int, chunk_rows: int
) -> Iterator[ValidatedBatch]:
    """``read_records`` in chunks of ``chunk_rows`` items, numbered as in the whole array."""
    if len(items) > max_rows:
        raise TooManyRows(max_rows)
    seen_ids = SeenIds()  # a repeated sme_id is rejected in any later chunk too
    for start in range(0, max(len(items), 1), chunk_rows):
        yield validate_records(
            items[start : start + chunk_rows],
            source="request body",
            first_row=start + 1,
            seen_ids=seen_ids,
        )


def score(
    intake: Intake | ValidatedBatch,
    scorer: Scorer,
    *,
    lang: str,
    keep_profiles: bool = True,
    scored_at: str | None = None,
) -> Scored:
    """Score every valid row; one ``scored_at`` for the whole request (now, unless given:
    a background batch scored chunk by chunk keeps one). ``keep_profiles=False`` (a dry
    run, which stores nothing) skips turning the profiles back into records."""
    chunks = intake.chunks if isinstance(intake, Intake) else [intake]
    scored_at = scored_at or now_utc()
    out = Scored([], [], [])
    for chunk in chunks:
        if not len(chunk.profiles):
            continue
        table = scorer.score(chunk.profiles, assumed=chunk.assumed, scored_at=scored_at)
        out.records.extend(table.to_records(lang=lang))
        if keep_profiles:
            out.profiles.extend(profiles_to_records(chunk.profiles))
            out.personal.extend(_personal_records(chunk.personal))
    return out


def _personal_records(personal: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's given personal fields; a blank one is left out, so its stored value is
    kept (``store.save_scored``)."""
    values = personal.astype(object)
    records = values.where(values.notna(), None).to_dict("records")
    return [{k: v for k, v in row.items() if v is not None} for row in records]


def store_scored(
    session: Session, scored: Scored, *, cohort: str | None, batch_id: int | None, actor: str
) -> None:
    """Hand the scored rows to the store (the caller commits)."""
    store.save_scored(
        session,
        profiles=scored.profiles,
        personal=scored.personal,
        records=scored.records,
        cohort=cohort,
        batch_id=batch_id,
        actor=actor,
    )
