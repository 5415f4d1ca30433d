"""marshmallow schemas of batches: uploading them, their progress and their results."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.paging import CursorQuerySchema
from api.http.schemas import (
    COHORT,
    LANGUAGES,
    NoticeSchema,
    ResponseSchema,
    RowErrorSchema,
    ScoreRecordSchema,
    SkippedRowSchema,
)

RESULT_FORMATS = ("json", "csv", "xlsx")


class BatchQuerySchema(Schema):
    lang = ma.String(load_default="en", validate=mv.OneOf(LANGUAGES))
    cohort = ma.String(**COHORT)


class IdempotencyHeaderSchema(Schema):
    """The optional ``Idempotency-Key`` header (the view checks it: 422 naming it)."""

    class Meta:
        unknown = EXCLUDE

    idempotency_key = ma.String(
        data_key="Idempotency-Key",
        metadata={
            "description": (
                "A key of the client's choosing (1 to 255 characters) that makes a retry "
                "safe: the same key from the same API key returns the batch it first created."
            ),
            "minLength": 1,
            "maxLength": 255,
        },
    )


class BatchProgressSchema(ResponseSchema):
    rows_done = ma.Integer(
        required=True, metadata={"description": "Input rows validated and scored so far."}
    )
    rows_total = ma.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Input rows in all; null until the input has been read."},
    )


class BatchSchema(ResponseSchema):
    """A batch as ``store.get_batch`` returns it, under the API's member names."""

    id = ma.Integer(required=True, attribute="batch_id")
    status = ma.String(
        required=True,
        validate=mv.OneOf(("queued", "running", "complete", "failed")),
        metadata={
            "description": "queued (waits for a worker), running, complete (results exist) "
            "or failed (see reason)."
        },
    )
    cohort = ma.String(required=True, allow_none=True)
    filename = ma.String(required=True, allow_none=True)
    received = ma.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Counts are 0 until the batch is complete."},
    )
    scored = ma.Integer(required=True, allow_none=True)
    rejected = ma.Integer(required=True, allow_none=True)
    created_at = ma.String(required=True, metadata={"format": "date-time"})
    finished_at = ma.String(required=True, allow_none=True, metadata={"format": "date-time"})
    errors = ma.List(ma.Nested(RowErrorSchema), required=True, attribute="row_errors")
    skipped = ma.List(
        ma.Nested(SkippedRowSchema),
        required=True,
        metadata={
            "description": "CSV/XLSX rows that are no profiles (totals, notes, signatures): "
            "not read, not in received."
        },
    )
    notices = ma.List(
        ma.Nested(NoticeSchema),
        required=True,
        metadata={
            "description": "What was assumed in reading a CSV/XLSX file: the header found "
            "below titles or over two rows, headers read as contract columns (Indonesian "
            "names), merged header cells, blank rows skipped."
        },
    )
    reason = ma.String(
        allow_none=True,
        attribute="failure_reason",
        metadata={"description": "Why a failed batch failed."},
    )
    progress = ma.Nested(BatchProgressSchema, required=True)


class ResultsQuerySchema(CursorQuerySchema):
    format = ma.String(
        validate=mv.OneOf(RESULT_FORMATS),
        metadata={
            "description": (
                "json, csv or xlsx; without it, the `Accept` header chooses (JSON by default). "
                "Generated clients read CSV and XLSX from `results.csv` and `results.xlsx`."
            )
        },
    )


class ResultRowSchema(ScoreRecordSchema):
    """A batch result: the score and its change against the SME's score before the batch."""

    name = ma.String(required=True, allow_none=True, metadata={"description": "Business name."})
    sector = ma.String(required=True, allow_none=True)

    previous_score = ma.Float(
        required=True, allow_none=True, metadata={"description": "null for a first score."}
    )
    change = ma.Float(required=True, allow_none=True)


class BatchResultsSchema(ResponseSchema):
    """Every result, or with `cursor` or `limit` one page of them."""

    batch_id = ma.Integer(required=True)
    results = ma.List(ma.Nested(ResultRowSchema), required=True)
    next_cursor = ma.String(
        allow_none=True,
        metadata={
            "description": "Paging by cursor: pass as `cursor` for the next page; null on "
            'the last page (also the `Link` header, rel="next"). Absent without paging.'
        },
    )
    limit = ma.Integer(metadata={"description": "Paging by cursor: results per page."})
