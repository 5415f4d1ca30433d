"""Batches: upload a file (or a JSON array) of profiles, score every valid row, read results."""

from __future__ import annotations

from flask import request, url_for
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import READ, SCORE, current_actor, require_scope
from api.http.batch_schemas import (
    BatchQuerySchema,
    BatchResultsSchema,
    BatchSchema,
    IdempotencyHeaderSchema,
    ResultsQuerySchema,
)
from api.http.negotiation import JSON, MULTIPART, accepts, is_json
from api.http.paging import LINK_HEADER, Pager
from api.http.schemas import MAX_ID
from api.services import batch_service, downloads, ingest
from scoring.contract.schema import ProfileSchema
from scoring.errors import FileFormatError

blp = Blueprint(
    "batches", __name__, url_prefix="/api/v1/batches", description="Score files of profiles."
)

#: The file upload. ``POST /api/v1/batches`` takes a JSON array of profiles too (SPEC); the
#: document describes that body on ``POST /api/v1/batches/profiles``, as one operation with
#: two request bodies is more than client generators handle.
_UPLOAD_BODY = {
    "required": True,
    "description": (
        "A CSV (`;` or `,` separated, decimal commas allowed), XLSX, Parquet, JSON array or "
        "JSON Lines file in the multipart field `file`; the cohort in the query or the form."
    ),
    "content": {
        MULTIPART: {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "cohort": {"type": "string", "minLength": 1, "maxLength": 100},
                },
                "required": ["file"],
            }
        }
    },
}
_PROFILES_BODY = {
    "required": True,
    "description": (
        "A JSON array of profiles. Each is checked on its own: an invalid one is reported "
        "in the batch's `errors` with its position (from 1), the others are scored."
    ),
    "content": {JSON: {"schema": {"type": "array", "items": ProfileSchema}}},
}
_CREATED = "Scored; counts and every rejected row."
_QUEUED = "Queued (a large input) or still running: poll `Location` for progress."

IDEMPOTENCY_KEY = "Idempotency-Key"


def _cohort(query_cohort: str | None) -> str | None:
    """The cohort from the query, else from the multipart form."""
    cohort = query_cohort
    if cohort is None and request.mimetype == MULTIPART:
        cohort = (request.form.get("cohort") or "").strip() or None
        if cohort is not None and len(cohort) > 100:
            abort(422, errors=[{"field": "cohort", "message": "Longer than maximum length 100."}])
    return cohort


def _idempotency_key() -> str | None:
    """The request's ``Idempotency-Key`` header, if it has one."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= batch_service.MAX_IDEMPOTENCY_KEY_LENGTH:
        message = f"Give 1 to {batch_service.MAX_IDEMPOTENCY_KEY_LENGTH} characters."
        abort(422, message=message, errors=[{"field": IDEMPOTENCY_KEY, "message": message}])
    return key


def _submit(*, cohort: str | None, lang: str) -> dict:
    """Hand the request body to the batch service; file-level problems are 422."""
    options = {
        "cohort": cohort,
        "actor": current_actor(),
        "lang": lang,
        "idempotency_key": _idempotency_key(),
    }
    session = get_session()
    try:
        if is_json(request.mimetype):
            items = request.get_json()
            if not isinstance(items, list):
                abort(
                    422,
                    message="The JSON body must be an array of profiles.",
                    errors=[{"field": "_schema", "message": "Expected a JSON array."}],
                )
            return batch_service.submit_records(session, items, **options)
        upload = request.files.get("file")
        if upload is None:
            abort(422, errors=[{"field": "file", "message": "Missing data for required field."}])
        filename = upload.filename or None
        return batch_service.submit_file(session, upload.stream, filename=filename, **options)
    except ingest.TooManyRows as exc:
        abort(422, message=str(exc), errors=[{"field": "file", "message": str(exc)}])
    except FileFormatError as exc:
        reason = " ".join(str(exc).split())
        abort(422, message=reason, errors=[{"field": "file", "message": reason}])
    except batch_service.IdempotencyKeyReused as exc:
        abort(422, message=str(exc), errors=[{"field": IDEMPOTENCY_KEY, "message": str(exc)}])


def _created(batch: dict):
    location = url_for("batches.get_batch", batch_id=batch["batch_id"])
    status = 202 if batch["status"] in ("queued", "running") else 201
    return batch, status, {"Location": location}


@blp.route("", methods=["POST"])
@require_scope(SCORE)
@accepts(MULTIPART, JSON)
@blp.arguments(BatchQuerySchema, location="query", as_kwargs=True)
@blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@blp.doc(requestBody=_UPLOAD_BODY)
@blp.response(201, BatchSchema, description=_CREATED)
@blp.alt_response(202, schema=BatchSchema, description=_QUEUED)
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def create_batch(lang: str, cohort: str | None = None, **_header: str):
    """Score a file of profiles

    Every valid row is scored and stored; every invalid row is reported with its row
    number, `sme_id` where readable and all its field errors (`received == scored +
    rejected`). The batch is stored atomically: its results appear once it is complete.

    A small input is scored in the request (201, `complete`). A larger one (the server's
    `BATCH_BACKGROUND_BYTES` upload size or `BATCH_BACKGROUND_ROWS` JSON profiles) is
    queued and scored in the background (202, `queued`): `GET` the `Location` for its
    `progress` until it is `complete` or `failed`. With an `Idempotency-Key` header, a
    repeated request returns the batch the first one made (201 or 202 by its status)
    instead of a new one; the same key with a different body is 422.

    This operation also takes a JSON array of profiles (`Content-Type: application/json`),
    as `POST /api/v1/batches/profiles` does.
    """
    return _created(_submit(cohort=_cohort(cohort), lang=lang))


@blp.route("/profiles", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(BatchQuerySchema, location="query", as_kwargs=True)
@blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@blp.doc(requestBody=_PROFILES_BODY)
@blp.response(201, BatchSchema, description=_CREATED)
@blp.alt_response(202, schema=BatchSchema, description=_QUEUED)
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def create_batch_from_profiles(lang: str, cohort: str | None = None, **_header: str):
    """Score a JSON array of profiles

    The same batch as a file upload to `POST /api/v1/batches` makes (counts, row errors,
    201 or 202, `Idempotency-Key`), from a JSON array of profiles; row numbers count the
    array's items from 1.
    """
    return _created(_submit(cohort=cohort, lang=lang))


def _batch_or_404(session, batch_id: int) -> dict:
    batch = store.get_batch(session, batch_id) if batch_id <= MAX_ID else None
    if batch is None:
        abort(404, message=f"No batch with id {batch_id}.")
    return batch


@blp.route("/<int:batch_id>", methods=["GET"])
@require_scope(READ)
@blp.response(200, BatchSchema)
@blp.alt_response(404, response="NOT_FOUND")
def get_batch(batch_id: int):
    """Status, counts and row errors of a batch"""
    return _batch_or_404(get_session(), batch_id)


_RESULTS = "Results as JSON, or CSV or XLSX by `format` or `Accept`; formula cells neutralised."
_OCTET_STREAM = "application/octet-stream"


def _results(batch_id: int, format: str, *, mimetype: str | None = None):
    session = get_session()
    batch = _batch_or_404(session, batch_id)
    if batch["status"] != "complete":
        abort(409, message=f"Batch {batch_id} is {batch['status']}; results exist once complete.")
    return downloads.batch_results_response(
        session, batch, actor=current_actor(), format=format, mimetype=mimetype
    )


def _results_page(batch_id: int, *, cursor: str | None, limit: int | None):
    """One page of a complete batch's results as JSON, the export recorded."""
    pager = Pager.from_query(
        "batch-results", ("id",), filters={"batch_id": batch_id}, cursor=cursor, limit=limit
    )
    session = get_session()
    batch = _batch_or_404(session, batch_id)
    if batch["status"] != "complete":
        abort(409, message=f"Batch {batch_id} is {batch['status']}; results exist once complete.")
    after = pager.after[0] if pager.after else None
    rows = store.batch_results_page(session, batch_id, limit=pager.fetch, after=after)
    rows, info, headers = pager.body(rows, lambda row: (row[0],))
    store.audit(
        session,
        actor=current_actor(),
        action="export",
        subject=f"batch/{batch_id}",
        details={"format": "json", "rows": len(rows)},
    )
    session.commit()
    return {"batch_id": batch_id, "results": [result for _, result in rows], **info}, 200, headers


@blp.route("/<int:batch_id>/results", methods=["GET"])
@require_scope(READ)
@blp.arguments(ResultsQuerySchema, location="query", as_kwargs=True)
@blp.response(200, BatchResultsSchema, description=_RESULTS, headers=LINK_HEADER)
@blp.alt_response(
    200,
    success=True,
    content_type=downloads.MEDIA_TYPES["csv"],
    schema={"type": "string"},
    description=_RESULTS,
)
@blp.alt_response(
    200,
    success=True,
    content_type=downloads.MEDIA_TYPES["xlsx"],
    schema={"type": "string", "format": "binary"},
    description=_RESULTS,
)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT")
def batch_results(
    batch_id: int,
    format: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
):
    """Results of a batch, with the change against each SME's previous score

    `previous_score` is the SME's latest score before this batch (null for a first
    score) and `change` the difference. JSON unless `format` (`json`, `csv`, `xlsx`) or,
    without it, the `Accept` header asks for CSV (`text/csv`) or XLSX. The CSV and XLSX
    tables are also `GET .../results.csv` and `.../results.xlsx`. Large results are
    streamed; the JSON results can also be read page by page, in row order, with `limit`
    and then each page's `next_cursor`.
    """
    if format is None:
        by_type = {media_type: name for name, media_type in downloads.MEDIA_TYPES.items()}
        best = request.accept_mimetypes.best_match(
            list(by_type), default=downloads.MEDIA_TYPES["json"]
        )
        format = by_type[best]
    paging = [name for name, value in (("cursor", cursor), ("limit", limit)) if value is not None]
    if paging and format != "json":
        message = "Only the JSON results are paged; CSV and XLSX come whole."
        abort(422, errors=[{"field": name, "message": message} for name in paging])
    if paging:
        return _results_page(batch_id, cursor=cursor, limit=limit)
    return _results(batch_id, format)


@blp.route("/<int:batch_id>/results.csv", methods=["GET"])
@require_scope(READ)
@blp.response(
    200,
    {"type": "string"},
    content_type=downloads.MEDIA_TYPES["csv"],
    description="The results table as CSV (UTF-8, `,` separated); formula cells neutralised.",
)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT")
def batch_results_csv(batch_id: int):
    """Results of a batch as a CSV table

    One row per result (the columns of the XLSX table): score, change, tier, category
    and market scores, knock-outs, top actions, versions. Streamed.
    """
    return _results(batch_id, "csv")


@blp.route("/<int:batch_id>/results.xlsx", methods=["GET"])
@require_scope(READ)
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type=downloads.MEDIA_TYPES["xlsx"],
    description=(
        "The results table as an XLSX workbook; formula cells neutralised. Sent as "
        "`application/octet-stream` to a client that asks for that type."
    ),
)
@blp.alt_response(
    200,
    success=True,
    content_type=_OCTET_STREAM,
    schema={"type": "string", "format": "binary"},
    description="The same workbook, for clients that only take generic binary bodies.",
)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT")
def batch_results_xlsx(batch_id: int):
    """Results of a batch as an XLSX workbook

    The table of `results.csv` in one worksheet.
    """
    xlsx = downloads.MEDIA_TYPES["xlsx"]
    best = request.accept_mimetypes.best_match([xlsx, _OCTET_STREAM], default=xlsx)
    return _results(batch_id, "xlsx", mimetype=best)
