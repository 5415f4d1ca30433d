"""marshmallow schemas the HTTP API shares: errors, score records, SMEs, scoring, health.

The OpenAPI document is generated from these, from those of batches (``batch_schemas``),
shortlists (``shortlist_schemas``) and governance (``governance_schemas``), and from
``scoring.contract.schema.ProfileSchema`` for profiles, so the documentation and the
validation are the same objects.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.paging import (
    CursorQuerySchema,
    PageInfoSchema,
    PagingQuerySchema,
    next_cursor_field,
    updated_since_field,
)
from scoring.contract import fields as F
from scoring.files.notices import NOTICE_CODES

LANGUAGES = ("en", "id")
#: Largest database id (32-bit integer columns); larger ids cannot exist.
MAX_ID = 2**31 - 1
COHORT = {"validate": mv.Length(min=1, max=100), "metadata": {"description": "Cohort name."}}


class ResponseSchema(Schema):
    """Base of response bodies: the document does not forbid members added later."""

    class Meta:
        unknown = EXCLUDE


# --- errors ---------------------------------------------------------------------------


class FieldErrorSchema(ResponseSchema):
    field = ma.String(required=True, metadata={"description": "Field name, or _schema."})
    message = ma.String(required=True)


class ProblemSchema(ResponseSchema):
    """RFC 9457 problem details, the body of every error response."""

    type = ma.String(required=True, metadata={"example": "about:blank"})
    title = ma.String(required=True)
    status = ma.Integer(required=True)
    detail = ma.String(required=True)
    errors = ma.List(
        ma.Nested(FieldErrorSchema),
        metadata={"description": "Every field error (422 only)."},
    )
    instance = ma.String(metadata={"description": "Reference of a logged unexpected error."})


class SkippedRowSchema(ResponseSchema):
    row = ma.Integer(required=True, metadata={"description": "Row number as in the file."})
    reason = ma.String(
        required=True, metadata={"description": "total row, or note or signature row."}
    )


class NoticeRowsSchema(ResponseSchema):
    first = ma.Integer(required=True)
    last = ma.Integer(required=True)


class NoticeSchema(ResponseSchema):
    """Something the reader assumed about a CSV or XLSX file; the members besides ``code``
    and ``message`` depend on the code."""

    code = ma.String(
        required=True,
        validate=mv.OneOf(NOTICE_CODES),
        metadata={
            "description": "header_row: the header was found below titles or over two rows "
            "(row, last_row); column_alias: a header read as a contract column (column, "
            "header, field); merged_header: a merged cell read as the header of the columns "
            "it covers (cells, header, columns); merged_group: a merged cell taken as a group "
            "title over columns named in a row below (cells, header, columns, row); "
            "blank_rows: blank rows skipped, not in received (count, rows)."
        },
    )
    message = ma.String(required=True, metadata={"description": "The notice in English."})
    row = ma.Integer(metadata={"description": "Row number as in the file."})
    last_row = ma.Integer()
    column = ma.String(metadata={"description": "Spreadsheet column letter."})
    columns = ma.String(metadata={"description": "Column letters: 'B' or 'B-D'."})
    cells = ma.String(metadata={"description": "A merged range, e.g. 'B1:D1'."})
    header = ma.String(metadata={"description": "The header as written in the file."})
    field = ma.String(metadata={"description": "The contract column it was read as."})
    count = ma.Integer()
    rows = ma.List(
        ma.Nested(NoticeRowsSchema),
        metadata={"description": "Runs of consecutive row numbers, first to last."},
    )


class RowErrorSchema(ResponseSchema):
    row = ma.Integer(
        required=True,
        metadata={"description": "Row number as in the file (header = row 1; JSON from 1)."},
    )
    sme_id = ma.String(required=True, allow_none=True)
    errors = ma.List(ma.Nested(FieldErrorSchema), required=True)


# --- score records (SPEC section 4) -----------------------------------------------------


class CriterionResultSchema(ResponseSchema):
    id = ma.String(required=True)
    category = ma.String(required=True)
    met = ma.Boolean(required=True)
    points = ma.Float(required=True)
    max_points = ma.Float(required=True)
    label = ma.String(required=True)


class MarketReadinessSchema(ResponseSchema):
    score = ma.Float(required=True)
    missing = ma.List(
        ma.String(),
        required=True,
        metadata={
            "description": "Unmet requirements of the market: its own criteria, those it "
            "enforces for the sector, and failed knock-outs."
        },
    )


class ReasonSchema(ResponseSchema):
    feature = ma.String(required=True)
    effect = ma.Float(required=True, metadata={"description": "Signed effect on ml_probability."})


class ActionSchema(ResponseSchema):
    criterion = ma.String(required=True)
    gain = ma.Float(required=True, metadata={"description": "Score gain of meeting it."})
    knockout = ma.Boolean(
        metadata={
            "description": "True for a failed knock-out criterion: meeting it lifts the "
            "knock-out, which is why it comes first. Absent in scores stored before it existed."
        }
    )
    label = ma.String(required=True)
    recommendation = ma.String()


class ScoreRecordSchema(ResponseSchema):
    """One score: SPEC section 4."""

    sme_id = ma.String(required=True)
    score = ma.Float(required=True, metadata={"description": "0 to 100, one decimal."})
    tier = ma.String(required=True)
    rules_score = ma.Float(required=True)
    ml_probability = ma.Float(required=True)
    category_scores = ma.Dict(
        keys=ma.String(),
        values=ma.Float(allow_none=True),
        required=True,
        metadata={"description": "null where no criterion of the category applies."},
    )
    criteria = ma.List(ma.Nested(CriterionResultSchema), required=True)
    knockouts = ma.List(ma.String(), required=True)
    market_readiness = ma.Dict(
        keys=ma.String(), values=ma.Nested(MarketReadinessSchema), required=True
    )
    reasons = ma.List(ma.Nested(ReasonSchema), required=True)
    action_plan = ma.List(ma.Nested(ActionSchema), required=True)
    assumed = ma.List(ma.String(), required=True)
    model_version = ma.String(required=True)
    ruleset_version = ma.String(required=True)
    scored_at = ma.String(required=True, metadata={"format": "date-time"})


# --- profiles as stored -------------------------------------------------------------------


def _stored_field(spec: F.Field) -> ma.Field:
    options: dict[str, Any] = {
        "required": spec.required,
        "allow_none": not spec.required,
        "metadata": {"description": spec.help},
    }
    if spec.kind in (F.Kind.STRING, F.Kind.ENUM):
        return ma.String(**options)
    if spec.kind is F.Kind.INT:
        return ma.Integer(**options)
    if spec.kind is F.Kind.FLOAT:
        return ma.Float(**options)
    if spec.kind is F.Kind.BOOL:
        return ma.Boolean(**options)
    return ma.List(ma.String(), **options)


StoredProfileSchema = type(
    "StoredProfileSchema",
    (ResponseSchema,),
    {
        "__doc__": "A profile as stored, personal fields included (only for its own SME).",
        **{spec.name: _stored_field(spec) for spec in F.FIELDS},
    },
)


# --- SMEs ---------------------------------------------------------------------------------


class ScoreSummarySchema(ResponseSchema):
    score = ma.Float(required=True)
    tier = ma.String(required=True)
    rules_score = ma.Float()
    ml_probability = ma.Float()
    scored_at = ma.String(required=True, metadata={"format": "date-time"})
    model_version = ma.String()
    ruleset_version = ma.String()


class SmeSummarySchema(ResponseSchema):
    """An SME in a list: no personal data."""

    sme_id = ma.String(required=True)
    name = ma.String(required=True)
    sector = ma.String(required=True)
    cohorts = ma.List(ma.String(), required=True)
    latest_score = ma.Nested(ScoreSummarySchema, required=True, allow_none=True)


class SmePageSchema(PageInfoSchema, ResponseSchema):
    items = ma.List(ma.Nested(SmeSummarySchema), required=True)


class SmeSchema(ResponseSchema):
    """One SME with its profile (personal fields included) and latest score."""

    sme_id = ma.String(required=True)
    profile = ma.Nested(StoredProfileSchema, required=True)
    cohorts = ma.List(ma.String(), required=True)
    latest_score = ma.Nested(ScoreRecordSchema, required=True, allow_none=True)


class ScoreHistorySchema(ResponseSchema):
    sme_id = ma.String(required=True)
    scores = ma.List(
        ma.Nested(ScoreRecordSchema), required=True, metadata={"description": "Oldest first."}
    )
    next_cursor = next_cursor_field()
    limit = ma.Integer(required=True, metadata={"description": "Scores per page."})


class SmeListQuerySchema(PagingQuerySchema):
    sector = ma.String(validate=mv.OneOf(F.SECTORS))
    tier = ma.String(validate=mv.Length(min=1, max=50))
    cohort = ma.String(**COHORT)
    updated_since = updated_since_field(
        "Only SMEs changed at or after this time (ISO 8601; without a zone, UTC): a new "
        "profile, score or cohort."
    )


class ScoreHistoryQuerySchema(CursorQuerySchema):
    updated_since = updated_since_field(
        "Only scores scored at or after this time (ISO 8601; without a zone, UTC)."
    )


# --- scoring ------------------------------------------------------------------------------


class ScoreQuerySchema(Schema):
    dry_run = ma.Boolean(load_default=False, metadata={"description": "Score only; store nothing."})
    lang = ma.String(load_default="en", validate=mv.OneOf(LANGUAGES))
    cohort = ma.String(**COHORT)


# --- health -------------------------------------------------------------------------------


class HealthSchema(ResponseSchema):
    status = ma.String(required=True, metadata={"example": "ok"})


class CheckSchema(ResponseSchema):
    ok = ma.Boolean(required=True)
    detail = ma.String(required=True)


class ReadinessSchema(ResponseSchema):
    status = ma.String(required=True, metadata={"example": "ready"})
    checks = ma.Dict(keys=ma.String(), values=ma.Nested(CheckSchema), required=True)


class ReadinessProblemSchema(ProblemSchema):
    checks = ma.Dict(keys=ma.String(), values=ma.Nested(CheckSchema), required=True)
