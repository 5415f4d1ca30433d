"""Batch results as JSON, CSV or XLSX downloads, with formula cells neutralised.

A batch's results are streamed from the database: the JSON array and the CSV table are
sent in pieces as the rows are read (a 6,000-row batch never sits in memory as one
body), the XLSX workbook is written row by row to a temporary file (openpyxl's
write-only mode) and sent from there.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import pandas as pd
from flask import Response, current_app, send_file, stream_with_context
from sqlalchemy.orm import Session

from api import store
from api.services.lookups import iter_exported_results
from scoring.contract.fields import MARKETS
from scoring.files.writers import TableWriter, write_table

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TOP_ACTIONS = 3
#: Result rows read, converted and sent at a time.
CHUNK_ROWS = 100
_LEADING = ("sme_id", "name", "sector", "score", "previous_score", "change", "tier")


def _join(values: Iterable[str]) -> str:
    return "; ".join(values)


def result_columns(rows: Iterable[dict]) -> tuple[list[str], list[str]]:
    """The categories (in the order rows first name them) and the targeted markets (in
    ``MARKETS`` order) that the result table has a column for."""
    categories: dict[str, None] = {}
    targeted: set[str] = set()
    for row in rows:
        categories.update(dict.fromkeys(row["category_scores"]))
        targeted.update(row["market_readiness"])
    return list(categories), [m for m in MARKETS if m in targeted]


def results_frame(
    rows: Sequence[dict],
    *,
    categories: Sequence[str] | None = None,
    markets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per result: the columns of ``ScoreTable.to_frame`` plus the change columns.

    The category and market columns are those of ``rows`` unless given (a chunk of a
    larger table has the table's columns).
    """
    if categories is None or markets is None:
        categories, markets = result_columns(rows)
    table = []
    for row in rows:
        flat = {name: row.get(name) for name in _LEADING}
        flat["rules_score"] = row["rules_score"]
        flat["ml_probability"] = row["ml_probability"]
        for category in categories:
            flat[f"category_{category}"] = row["category_scores"].get(category)
        for market in markets:
            readiness = row["market_readiness"].get(market)
            flat[f"market_{market}"] = None if readiness is None else readiness["score"]
        flat["knockouts"] = _join(row["knockouts"])
        flat["top_actions"] = _join(
            f"{a['criterion']} (+{a['gain']:.1f})" for a in row["action_plan"][:TOP_ACTIONS]
        )
        flat["assumed"] = _join(row["assumed"])
        flat["model_version"] = row["model_version"]
        flat["ruleset_version"] = row["ruleset_version"]
        flat["scored_at"] = row["scored_at"]
        table.append(flat)
    return pd.DataFrame(table)


def _attachment(filename: str, format: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}.{format}"'}


def table_response(frame: pd.DataFrame, *, format: str, filename: str) -> Response:
    """``frame`` as a CSV or XLSX download (``scoring.files.writers`` neutralises formulas)."""
    buffer = io.BytesIO()
    write_table(frame, buffer, format=format)
    return current_app.response_class(
        buffer.getvalue(), mimetype=MEDIA_TYPES[format], headers=_attachment(filename, format)
    )


def chunks(rows: Iterable[dict]) -> Iterator[list[dict]]:
    """``rows`` in lists of ``CHUNK_ROWS``: what is read, converted and sent at a time."""
    rows = iter(rows)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


def _frames(
    rows: Iterable[dict], *, categories: list[str], markets: list[str]
) -> Iterator[pd.DataFrame]:
    """The result table of ``rows`` in chunks; an empty table for no rows."""
    empty = True
    for chunk in chunks(rows):
        empty = False
        yield results_frame(chunk, categories=categories, markets=markets)
    if empty:
        yield results_frame([])


class Pipe(io.RawIOBase):
    """A write-only file whose bytes are taken out by whoever streams them (a raw stream,
    as pyarrow's Parquet writer wants)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def closing_session(pieces: Iterator, session: Session) -> Iterator:
    """``pieces``, then ``session`` closed: the request's own teardown has run before a
    streamed body is sent, so the rows' transaction (and cursor) ends here."""
    try:
        yield from pieces
    finally:
        session.close()


def _json_pieces(batch_id: int, rows: Iterable[dict]) -> Iterator[str]:
    """``{"batch_id": .., "results": [..]}`` as ``jsonify`` writes it, a chunk at a time."""
    dumps = current_app.json.dumps
    envelope = dumps({"batch_id": batch_id, "results": []}, separators=(",", ":"))
    head, tail = envelope[: -len("]}")], "]}\n"
    separator = ""
    for chunk in chunks(rows):
        body = ",".join(dumps(row, separators=(",", ":")) for row in chunk)
        yield head + separator + body
        head, separator = "", ","
    yield head + tail


def _table_pieces(
    rows: Iterable[dict], *, categories: list[str], markets: list[str]
) -> Iterator[bytes]:
    """The CSV table of ``rows``, a chunk of rows at a time (header first)."""
    pipe = Pipe()
    with TableWriter(pipe, format="csv") as writer:
        for frame in _frames(rows, categories=categories, markets=markets):
            writer.write(frame)
            yield pipe.take()
    if rest := pipe.take():
        yield rest


def batch_results_response(
    session: Session, batch: dict, *, actor: str, format: str, mimetype: str | None = None
) -> Response:
    """A complete batch's results (the export recorded in the processing log) as a
    streamed JSON body or CSV download, or an XLSX download from a temporary file.

    ``mimetype`` overrides the format's media type (``application/octet-stream``).
    """
    batch_id = batch["batch_id"]
    mimetype = mimetype or MEDIA_TYPES[format]
    if format == "json":
        rows = iter_exported_results(session, batch, actor=actor, format=format)
        pieces = closing_session(_json_pieces(batch_id, rows), session)
        return current_app.response_class(stream_with_context(pieces), mimetype=mimetype)
    # The columns depend on every row: one light pass first, then the rows again.
    categories, markets = result_columns(store.iter_batch_results(session, batch_id))
    rows = iter_exported_results(session, batch, actor=actor, format=format)
    filename = f"batch-{batch_id}-results"
    if format == "csv":
        pieces = _table_pieces(rows, categories=categories, markets=markets)
        pieces = closing_session(pieces, session)
        return current_app.response_class(
            stream_with_context(pieces), mimetype=mimetype, headers=_attachment(filename, format)
        )
    # Closed (and so deleted) when the response is: it outlives this function.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        with TableWriter(spool, format="xlsx") as writer:
            for frame in _frames(rows, categories=categories, markets=markets):
                writer.write(frame)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    response = send_file(spool, mimetype=mimetype, max_age=0)
    response.headers.update(_attachment(filename, format))
    return response
