"""From a request to stored scores: read and validate profiles, score them, store them.

Files and JSON arrays go through ``scoring.readers`` and ``scoring.validate`` exactly as on
the command line, and every row is scored by the process' ``Scorer``; the store writes
profiles, personal data and scores in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pandas as pd
from sqlalchemy.orm import Session

from api import store
from scoring.engine import Scorer, now_utc
from scoring.readers import iter_tables
from scoring.validate import (
    RowError,
    ValidatedBatch,
    profiles_to_records,
    validate_records,
    validate_table,
)

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


@dataclass
class Scored:
    """What the store needs for one request's scored rows."""

    profiles: list[dict[str, Any]]
    personal: list[dict[str, Any]]
    records: list[dict[str, Any]]


def read_file(stream: BinaryIO, *, filename: str | None, max_rows: int) -> Intake:
    """Validate every row of an uploaded CSV, XLSX, Parquet or JSON file.

    Raises ``FileFormatError`` for a file that cannot be read as a table and
    ``TooManyRows`` as soon as the file turns out longer than ``max_rows``.
    """
    intake = Intake()
    rows = 0
    chunk_rows = max(1, min(max_rows + 1, MAX_CHUNK_ROWS))
    for raw in iter_tables(stream, filename=filename, chunk_rows=chunk_rows):
        rows += len(raw.frame)
        if rows > max_rows:
            raise TooManyRows(max_rows)
        intake.chunks.append(validate_table(raw))
    return intake


def read_records(items: Sequence[Any], *, max_rows: int) -> Intake:
    """Validate a JSON array of profiles (rows numbered from 1)."""
    if len(items) > max_rows:
        raise TooManyRows(max_rows)
    return Intake([validate_records(items, source="request body")])


def score(
    intake: Intake | ValidatedBatch, scorer: Scorer, *, lang: str, keep_profiles: bool = True
) -> Scored:
    """Score every valid row; one ``scored_at`` for the whole request. ``keep_profiles=False``
    (a dry run, which stores nothing) skips turning the profiles back into records."""
    chunks = intake.chunks if isinstance(intake, Intake) else [intake]
    scored_at = now_utc()
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
    values = personal.astype(object)
    return values.where(values.notna(), None).to_dict("records")


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
