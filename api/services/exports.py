"""Bulk export of a cohort's latest scores, one flat row per SME, as NDJSON, CSV or Parquet.

Every format is streamed: rows are read from the database in chunks (``CHUNK_ROWS``) and
each chunk is written and sent before the next is read, so a large cohort never sits in
memory as one body. Parquet needs no seeking to be written: each chunk goes out as a row
group and the footer (schema and row-group offsets) comes last, so a reader needs the
whole file, which a client saves before opening it. CSV cells a spreadsheet would run as
formulas are neutralised (``scoring.files.writers``). Personal fields are columns only
when the caller may see them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

import pandas as pd
import pyarrow as pa
from flask import Response, current_app, stream_with_context
from sqlalchemy.orm import Session

from api import store
from api.services.downloads import Pipe, chunks, closing_session
from scoring.contract import fields as F
from scoring.files.writers import TableWriter

FORMATS = ("ndjson", "csv", "parquet")
MEDIA_TYPES = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
_WRITER_FORMATS = {"ndjson": "jsonl", "csv": "csv", "parquet": "parquet"}
_TYPES = {
    "score": pa.float64(),
    "rules_score": pa.float64(),
    "ml_probability": pa.float64(),
    "knockouts": pa.list_(pa.string()),
    "scored_at": pa.timestamp("us", tz="UTC"),
}


def columns(*, personal: bool) -> list[str]:
    """The export's columns, in order: the latest score's, then the personal fields."""
    return [*store.LATEST_SCORE_COLUMNS, *(F.PERSONAL_COLUMNS if personal else ())]


def parquet_schema(*, personal: bool) -> pa.Schema:
    """The Parquet file's schema: numbers as doubles, knock-outs as a list, the time as a
    UTC timestamp, everything else text."""
    return pa.schema(
        [pa.field(name, _TYPES.get(name, pa.string())) for name in columns(personal=personal)]
    )


def _frame(rows: Sequence[dict], *, names: list[str], format: str) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=names)
    if format == "parquet":
        frame["scored_at"] = pd.to_datetime(frame["scored_at"], utc=True)
    return frame


def _pieces(rows: Iterable[dict], *, format: str, personal: bool) -> Iterator[bytes]:
    """The export of ``rows``, a chunk at a time (a CSV header or an empty Parquet file
    for no rows)."""
    names = columns(personal=personal)
    schema = parquet_schema(personal=personal) if format == "parquet" else None
    pipe = Pipe()
    with TableWriter(pipe, format=_WRITER_FORMATS[format], schema=schema) as writer:
        empty = True
        for chunk in chunks(rows):
            empty = False
            writer.write(_frame(chunk, names=names, format=format))
            yield pipe.take()
        if empty:
            writer.write(_frame([], names=names, format=format))
    if rest := pipe.take():
        yield rest


def _filename(cohort: str, format: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", cohort).strip("._")[:80] or "cohort"
    return f"{safe}-latest-scores.{'ndjson' if format == 'ndjson' else format}"


def latest_scores_response(
    session: Session, *, cohort: str, format: str, personal: bool, actor: str
) -> Response | None:
    """The latest score of every SME in ``cohort`` as a streamed download, the export
    recorded in the processing log; None if the cohort has no SMEs."""
    members = len(store.cohort_members(session, cohort))
    if not members:
        return None
    store.audit(
        session,
        actor=actor,
        action="export",
        subject=f"cohort/{cohort}",
        details={"what": "latest_scores", "format": format, "rows": members, "personal": personal},
    )
    session.commit()
    rows = store.iter_latest_scores(session, cohort=cohort, personal=personal)
    pieces = closing_session(_pieces(rows, format=format, personal=personal), session)
    return current_app.response_class(
        stream_with_context(pieces),
        mimetype=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{_filename(cohort, format)}"'},
    )
