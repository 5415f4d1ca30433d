"""Batches: upload a file (or a JSON array) of profiles, score every valid row, read results."""

from __future__ import annotations

from flask import jsonify, request, url_for
from flask_smorest import Blueprint, abort

from api import batch_service, downloads, ingest, store
from api.auth import READ, SCORE, current_actor, require_scope
from api.db import get_session
from api.lookups import exported_results
from api.negotiation import JSON, MULTIPART, accepts, is_json
from api.schemas import (
    MAX_ID,
    BatchQuerySchema,
    BatchResultsSchema,
    BatchSchema,
    ResultsQuerySchema,
)
from scoring.errors import FileFormatError

blp = Blueprint(
    "batches", __name__, url_prefix="/api/v1/batches", description="Score files of profiles."
)

_UPLOAD_BODY = {
    "required": True,
    "description": (
        "A CSV (`;` or `,` separated, decimal commas allowed), XLSX, Parquet, JSON array or "
        "JSON Lines file in the multipart field `file`, or a JSON array of profiles."
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
        },
        # Items are rows, not the request: each is validated on its own and an invalid one
        # is reported in the batch's `errors` (201), so the document does not refuse them.
        JSON: {
            "schema": {
                "type": "array",
                "items": {"description": "A profile (schema Profile); checked row by row."},
            }
        },
    },
}


_RESULTS = "Results as JSON, CSV or XLSX (`format`); formula cells neutralised in CSV/XLSX."

IDEMPOTENCY_KEY = "Idempotency-Key"
_IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": IDEMPOTENCY_KEY,
    "required": False,
    "description": (
        "A key of the client's choosing (1 to 255 characters) that makes a retry safe: the "
        "same key from the same API key returns the batch it first created."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


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


@blp.route("", methods=["POST"])
@require_scope(SCORE)
@accepts(MULTIPART, JSON)
@blp.arguments(BatchQuerySchema, location="query", as_kwargs=True)
@blp.doc(requestBody=_UPLOAD_BODY, parameters=[_IDEMPOTENCY_PARAMETER])
@blp.response(201, BatchSchema, description="Scored; counts and every rejected row.")
@blp.alt_response(
    202,
    schema=BatchSchema,
    description="Queued (a large input) or still running: poll `Location` for progress.",
)
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def create_batch(lang: str, cohort: str | None = None):
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
    """
    batch = _submit(cohort=_cohort(cohort), lang=lang)
    location = url_for("batches.get_batch", batch_id=batch["batch_id"])
    status = 202 if batch["status"] in ("queued", "running") else 201
    return batch, status, {"Location": location}


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


@blp.route("/<int:batch_id>/results", methods=["GET"])
@require_scope(READ)
@blp.arguments(ResultsQuerySchema, location="query", as_kwargs=True)
@blp.response(200, BatchResultsSchema, description=_RESULTS)
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
def batch_results(batch_id: int, format: str):
    """Results of a batch, with the change against each SME's previous score

    `previous_score` is the SME's latest score before this batch (null for a first
    score) and `change` the difference. JSON, CSV or XLSX (`format`).
    """
    session = get_session()
    batch = _batch_or_404(session, batch_id)
    if batch["status"] != "complete":
        abort(409, message=f"Batch {batch_id} is {batch['status']}; results exist once complete.")
    rows = exported_results(session, batch, actor=current_actor(), format=format)
    if format == "json":
        # Rows are already in ResultRowSchema's shape; skipping the per-field dump keeps
        # large batches fast (the schemathesis test checks the shape against the document).
        return jsonify({"batch_id": batch_id, "results": rows})
    return downloads.table_response(
        downloads.results_frame(rows), format=format, filename=f"batch-{batch_id}-results"
    )
