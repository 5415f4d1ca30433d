"""marshmallow schemas of export follow-ups, an SME's decisions and follow-ups, outcome
files (import answer, template query) and the follow-up worklist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import Schema, post_load, pre_load, validates_schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.decision_schemas import DecisionSchema
from api.http.outcome_fields import (
    NOT_CHANGEABLE,
    TEMPLATE_FORMATS,
    TEMPLATE_LANGUAGES,
    Described,
    JsonBoolean,
    JsonNumber,
    RequestSchema,
    choice_field,
    day_field,
    failed_fields,
    office_today,
    raise_field_errors,
    sme_id_field,
)
from api.http.schemas import FieldErrorSchema, NoticeSchema, SkippedRowSchema
from scoring.contract import fields as F
from scoring.contract.outcomes import (
    LEARNED_VIA,
    MAX_CONTRACTS,
    MAX_EXPORT_VALUE_USD,
    OUTCOME_COLUMNS,
    TEXT_MAX,
    outcome_problems,
)

# --- follow-ups -------------------------------------------------------------------------------


class FollowUpReplacementSchema(RequestSchema):
    """Every field of a follow-up but its SME, which stays; a field left out is emptied."""

    FIXED: ClassVar[dict[str, str]] = {"sme_id": NOT_CHANGEABLE.format(what="follow-up")}

    followup_date = ma.Date(
        required=True,
        metadata={"description": "When the office followed the SME up; not in the future."},
    )
    exported = JsonBoolean(
        required=True,
        metadata={"description": "Had the SME exported since the support decision?"},
    )
    learned_via = choice_field(
        LEARNED_VIA, "How the office learned it: " + ", ".join(LEARNED_VIA) + ".", required=True
    )
    first_export_date = ma.Date(
        allow_none=True,
        metadata={
            "description": "Its first export shipment; only if exported, not after the follow-up."
        },
    )
    destination_markets = ma.List(
        ma.String(validate=mv.OneOf(F.MARKETS)),
        allow_none=True,
        validate=mv.Length(max=len(F.MARKETS) * 4),
        metadata={"description": "Where it exported to; only if exported."},
    )
    export_value_usd = JsonNumber(
        allow_none=True,
        validate=mv.Range(min=0, max=int(MAX_EXPORT_VALUE_USD)),
        metadata={"description": "Export value so far in US dollars; only if exported."},
    )
    contracts = ma.Integer(
        strict=True,
        allow_none=True,
        validate=mv.Range(min=0, max=MAX_CONTRACTS),
        metadata={"description": "Export contracts or buyers; only if exported."},
    )
    note = ma.String(
        allow_none=True,
        validate=mv.Length(max=TEXT_MAX),
        metadata={"description": "Anything else worth knowing; no buyer's contact details."},
    )

    @pre_load
    def _no_blank_note(self, data: Any, **kwargs: Any) -> Any:
        note = data.get("note") if isinstance(data, Mapping) else None
        if isinstance(note, str) and not note.strip():
            return {**data, "note": None}
        return data

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _cross_field(self, data: dict, original_data: Any, **kwargs: Any) -> None:
        """The contract's checks that span fields, with today's date in WIB."""
        failed = failed_fields(original_data, data)
        raise_field_errors(outcome_problems(data, today=office_today(), failed=failed))

    @post_load
    def _as_stored(self, data: dict, **kwargs: Any) -> dict:
        """Every column (None when left out), markets without repeats."""
        data["destination_markets"] = list(dict.fromkeys(data.get("destination_markets") or []))
        columns = OUTCOME_COLUMNS if "sme_id" in data else OUTCOME_COLUMNS[1:]
        return {name: data.get(name) for name in columns}


class FollowUpRequestSchema(FollowUpReplacementSchema):
    """One follow-up of an SME: had it exported, since when, where, how much, and how the
    office learned it."""

    sme_id = sme_id_field(required=True)


class FollowUpSchema(Described):
    """A recorded follow-up."""

    id = ma.Integer(required=True)
    sme_id = ma.String(required=True)
    followup_date = day_field(required=True)
    exported = ma.Boolean(required=True)
    learned_via = ma.String(required=True)
    first_export_date = day_field(required=True, allow_none=True)
    destination_markets = ma.List(ma.String(), required=True)
    export_value_usd = ma.Float(required=True, allow_none=True)
    contracts = ma.Integer(required=True, allow_none=True)
    note = ma.String(required=True, allow_none=True)
    recorded_by = ma.String(required=True)
    recorded_at = ma.String(required=True, metadata={"format": "date-time"})
    updated_at = ma.String(required=True, metadata={"format": "date-time"})


class SmeOutcomesSchema(Described):
    """An SME's support decisions (with their labels) and follow-ups."""

    sme_id = ma.String(required=True)
    decisions = ma.List(
        ma.Nested(DecisionSchema), required=True, metadata={"description": "Oldest first."}
    )
    followups = ma.List(
        ma.Nested(FollowUpSchema),
        required=True,
        metadata={"description": "Oldest follow-up date first."},
    )


# --- outcome files ----------------------------------------------------------------------------


class CellErrorSchema(FieldErrorSchema):
    column = ma.String(metadata={"description": "The cell's column letter (spreadsheets)."})
    value = ma.String(metadata={"description": "The value as read (never a note's)."})


class OutcomeRowErrorSchema(Described):
    row = ma.Integer(
        required=True, metadata={"description": "Row number as in the file (header = row 1)."}
    )
    sme_id = ma.String(required=True, allow_none=True)
    errors = ma.List(ma.Nested(CellErrorSchema), required=True)


class OutcomeImportSchema(Described):
    """What an outcome file held and what was stored."""

    received = ma.Integer(
        required=True,
        metadata={"description": "Data rows read (`stored + already_recorded + rejected`)."},
    )
    stored = ma.Integer(required=True, metadata={"description": "New follow-ups stored."})
    already_recorded = ma.Integer(
        required=True,
        metadata={"description": "Rows identical to a follow-up stored before: not stored twice."},
    )
    rejected = ma.Integer(required=True, metadata={"description": "Invalid rows, none stored."})
    errors = ma.List(
        ma.Nested(OutcomeRowErrorSchema),
        required=True,
        metadata={"description": "Every problem of every rejected row, by row."},
    )
    skipped = ma.List(
        ma.Nested(SkippedRowSchema),
        required=True,
        metadata={"description": "Rows that are no follow-ups (totals, notes): not received."},
    )
    notices = ma.List(
        ma.Nested(NoticeSchema),
        required=True,
        metadata={
            "description": "What was assumed in reading a CSV/XLSX file: its header, headers "
            "read as follow-up columns, merged header cells, blank rows skipped."
        },
    )
    followup_ids = ma.List(ma.Integer(), required=True, metadata={"description": "The new ones."})


class TemplateQuerySchema(Schema):
    lang = ma.String(
        load_default="id",
        validate=mv.OneOf(TEMPLATE_LANGUAGES),
        metadata={"description": "Language of the XLSX drop-downs and instructions."},
    )
    format = ma.String(load_default="xlsx", validate=mv.OneOf(TEMPLATE_FORMATS))


# --- the worklist -----------------------------------------------------------------------------


class WorklistItemSchema(Described):
    sme_id = ma.String(required=True)
    name = ma.String(required=True, allow_none=True, metadata={"description": "Business name."})
    decision_id = ma.Integer(required=True)
    support_kind = ma.String(required=True, allow_none=True)
    decided_on = day_field(required=True)
    months = ma.Integer(
        required=True,
        metadata={"description": "The follow-up due: 3, 6 or 12 months after the decision."},
    )
    due_on = day_field(required=True)
    days_overdue = ma.Integer(required=True)
    last_followup_date = day_field(
        required=True, allow_none=True, metadata={"description": "null if never followed up."}
    )


class WorklistSchema(Described):
    as_of = day_field(required=True, metadata={"description": "Today in WIB (UTC+7)."})
    items = ma.List(
        ma.Nested(WorklistItemSchema),
        required=True,
        metadata={"description": "Most overdue first."},
    )
