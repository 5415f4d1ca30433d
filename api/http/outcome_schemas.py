"""marshmallow schemas of support decisions, export follow-ups, outcome files and the
evaluation of the score against the outcomes.

Request bodies are typed JSON (dates as ISO ``2026-03-14`` strings, booleans and numbers as
JSON booleans and numbers): the lenient readings of spreadsheets are for outcome files.
The checks that span fields or need today's date are the contract's
(``scoring.contract.outcomes``), run in the same pass as the field checks so that every
problem is named at once; an error inside a list or object is named by its path
(``decisions.3.support_kind``, items counted from 0).
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, post_load, pre_load, validates_schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.config import DefaultConfig
from api.http.schemas import COHORT, MAX_ID, FieldErrorSchema, ResponseSchema, SkippedRowSchema
from scoring.contract import fields as F
from scoring.contract.messages import PATTERN_MESSAGES
from scoring.contract.outcomes import (
    DECISIONS,
    LEARNED_VIA,
    MAX_CONTRACTS,
    MAX_EXPORT_VALUE_USD,
    OUTCOME_COLUMNS,
    SUPPORT_KINDS,
    TEXT_MAX,
    decision_problems,
    outcome_problems,
)
from scoring.outcomes import labels as L
from scoring.outcomes.evaluation import MIN_KNOWN_OUTCOMES

#: Decisions one bulk request may record.
BULK_MAX = 500
TEMPLATE_LANGUAGES = ("id", "en")
TEMPLATE_FORMATS = ("csv", "xlsx")
EVALUATED_DECISIONS = ("support", "no_support", "all")
LABEL_BASES = (
    L.EXPORTED_IN_WINDOW,
    L.EXPORTED_AFTER_WINDOW,
    L.NO_EXPORT_AFTER_WINDOW,
    L.NO_FOLLOWUP,
    L.WINDOW_OPEN,
)
NAME_MAX = 200
PLACES_MAX = 100_000
NOT_CHANGEABLE = "Cannot be changed: record a new {what} instead."
#: Western Indonesian Time (UTC+7 all year), the office's clock.
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")


def office_today() -> dt.date:
    """Today in the office's time zone (WIB, UTC+7): what "in the future" is judged by."""
    return dt.datetime.now(WIB).date()


def _sme_id(**options: Any) -> ma.String:
    return ma.String(
        validate=mv.Regexp(F.SME_ID_PATTERN, error=PATTERN_MESSAGES[F.SME_ID_PATTERN]),
        metadata={"description": "The SME's id, as in its profile."},
        **options,
    )


def _text(description: str, *, max_length: int = TEXT_MAX, **options: Any) -> ma.String:
    return ma.String(
        validate=mv.Length(min=1, max=max_length), metadata={"description": description}, **options
    )


def _day(**options: Any) -> ma.String:
    """A date in a response: ISO ``2026-03-14``."""
    return ma.String(metadata={"format": "date", **options.pop("metadata", {})}, **options)


def _choice(choices: tuple[str, ...], description: str, **options: Any) -> ma.String:
    return ma.String(validate=mv.OneOf(choices), metadata={"description": description}, **options)


class JsonBoolean(ma.Boolean):
    """A JSON ``true`` or ``false``, nothing else (``"yes"`` or ``1`` is an outcome file's)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JsonNumber(ma.Float):
    """A JSON number (not a numeric string, not a boolean)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


def flat_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages keyed by each field's path (``decisions.3.reason``)."""
    if not isinstance(messages, Mapping):
        items = messages if isinstance(messages, list) else [messages]
        if all(isinstance(m, str) for m in items):
            return {prefix or "_schema": list(items)}
        out: dict[str, list[str]] = {}
        for item in items:
            for name, found in flat_messages(item, prefix).items():
                out.setdefault(name, []).extend(found)
        return out
    out = {}
    for key, detail in messages.items():
        name = str(key)
        path = prefix if name == "_schema" and prefix else f"{prefix}.{name}" if prefix else name
        for field, found in flat_messages(detail, path).items():
            out.setdefault(field, []).extend(found)
    return out


class Documented:
    """Mixin: a response schema's own docstring is its description in the OpenAPI document
    (a schema without one has none, whatever its bases say). Not for request bodies: a
    described schema loses its ``additionalProperties: false`` there (apispec); their
    operations describe them instead."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        plain = cls.__dict__.get("Meta") or getattr(cls, "_undescribed_meta", cls.Meta)
        cls._undescribed_meta = plain
        doc = cls.__dict__.get("__doc__")
        if doc:
            plain = type("Meta", (plain,), {"description": inspect.cleandoc(doc)})
        cls.Meta = plain


class Described(Documented, ResponseSchema):
    """Base of the response bodies here: described by their docstrings."""


class RequestSchema(Schema):
    """Base of request bodies: every error named by its path; the stored record's fields
    that a body cannot change (``FIXED``) are named as such, not as unknown fields."""

    FIXED: ClassVar[dict[str, str]] = {}

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs) -> None:
        messages = flat_messages(error.messages)
        for name, message in self.FIXED.items():
            if messages.get(name) == ["Unknown field."]:
                messages[name] = [message]
        raise ValidationError(messages, data=error.data, valid_data=error.valid_data) from error


def _failed(original: Any, data: Mapping) -> set[str]:
    """The fields given in ``original`` that did not load (their own error is reported)."""
    if not isinstance(original, Mapping):
        return set()
    return {name for name in original if name not in data}


def _raise(errors: list[dict]) -> None:
    if errors:
        found: dict[str, list[str]] = {}
        for item in errors:
            found.setdefault(item["field"], []).append(item["message"])
        raise ValidationError(found)


# --- shortlists a decision came from ---------------------------------------------------------


class ShortlistSourceSchema(RequestSchema):
    """The shortlist a decision came from: its source (`cohort` or `batch_id`, at most one),
    `capacity`, `target_market`, `max_per_sector` and the SME's `position` in it."""

    cohort = ma.String(allow_none=True, **COHORT)
    batch_id = ma.Integer(
        strict=True,
        allow_none=True,
        validate=mv.Range(min=1, max=MAX_ID),
        metadata={"description": "The batch the shortlist was built from."},
    )
    capacity = ma.Integer(
        strict=True,
        allow_none=True,
        validate=mv.Range(min=1, max=PLACES_MAX),
        metadata={"description": "Support places the shortlist was built for."},
    )
    target_market = _choice(F.MARKETS, "The market it was ranked for.", allow_none=True)
    max_per_sector = ma.Integer(
        strict=True, allow_none=True, validate=mv.Range(min=1, max=PLACES_MAX)
    )
    position = ma.Integer(
        strict=True,
        allow_none=True,
        validate=mv.Range(min=1, max=PLACES_MAX),
        metadata={"description": "The SME's position in the shortlist (1 = first)."},
    )

    @validates_schema(skip_on_field_errors=False)
    def _one_source(self, data: dict, **kwargs: Any) -> None:
        if data.get("cohort") is not None and data.get("batch_id") is not None:
            message = "Give at most one of cohort or batch_id."
            raise ValidationError({"cohort": [message], "batch_id": [message]})

    @post_load
    def _given(self, data: dict, **kwargs: Any) -> dict:
        return {name: value for name, value in data.items() if value is not None}


class ShortlistRecordSchema(Described):
    """The shortlist a decision came from, as recorded."""

    cohort = ma.String()
    batch_id = ma.Integer()
    capacity = ma.Integer()
    target_market = ma.String()
    max_per_sector = ma.Integer()
    position = ma.Integer()


# --- decisions --------------------------------------------------------------------------------

_DECISION = "`support` or `no_support`."
_SUPPORT_KIND = (
    "How the SME is supported: "
    + ", ".join(SUPPORT_KINDS)
    + ". Required for `support`, empty for `no_support`."
)
_SUPPORT_OTHER = "What the support is, when `support_kind` is `other` (required then)."
_DECIDED_ON = "The day it was decided; not in the future (WIB), not before 2000-01-01."
_DECIDED_BY = "Who decided (a person or a committee); the API key's actor if left out."
_REASON = "Why the SME is not supported: required for `no_support`."


class _DecisionChecks(RequestSchema):
    """The contract's cross-field checks of a decision, with today's date in WIB."""

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _cross_field(self, data: dict, original_data: Any, **kwargs: Any) -> None:
        failed = _failed(original_data, data)
        problems = decision_problems(data, today=office_today())
        _raise([p for p in problems if p["field"] not in failed])


class DecisionRequestSchema(_DecisionChecks):
    """One support decision about a scored SME. Its score, tier, model and ruleset
    versions are copied from the SME's latest stored score when it is recorded."""

    sme_id = _sme_id(required=True)
    decision = _choice(DECISIONS, _DECISION, required=True)
    support_kind = _choice(SUPPORT_KINDS, _SUPPORT_KIND, allow_none=True)
    support_other = _text(_SUPPORT_OTHER, allow_none=True)
    target_market = _choice(F.MARKETS, "The market the support aims at.", allow_none=True)
    decided_on = ma.Date(required=True, metadata={"description": _DECIDED_ON})
    decided_by = _text(_DECIDED_BY, max_length=NAME_MAX, allow_none=True)
    reason = _text(_REASON, allow_none=True)
    shortlist = ma.Nested(ShortlistSourceSchema, allow_none=True)
    cohort = ma.String(allow_none=True, **COHORT)


class DecisionChangesSchema(RequestSchema):
    """Corrections of a recorded decision: any of its fields but `sme_id` (the score it
    rested on stays). A field sent as null is cleared. The merged decision is checked as
    a new one would be."""

    FIXED: ClassVar[dict[str, str]] = {"sme_id": NOT_CHANGEABLE.format(what="decision")}

    decision = _choice(DECISIONS, _DECISION)
    support_kind = _choice(SUPPORT_KINDS, _SUPPORT_KIND, allow_none=True)
    support_other = _text(_SUPPORT_OTHER, allow_none=True)
    target_market = _choice(F.MARKETS, "The market the support aims at.", allow_none=True)
    decided_on = ma.Date(metadata={"description": _DECIDED_ON})
    decided_by = _text("Who decided (a person or a committee).", max_length=NAME_MAX)
    reason = _text(_REASON, allow_none=True)
    shortlist = ma.Nested(ShortlistSourceSchema, allow_none=True)
    cohort = ma.String(allow_none=True, **COHORT)

    @post_load
    def _empty_shortlist(self, data: dict, **kwargs: Any) -> dict:
        if data.get("shortlist") == {}:
            data["shortlist"] = None
        return data


class BulkDecisionsRequestSchema(RequestSchema):
    """Decisions recorded together, all or none. `shortlist` is the source they share; a
    decision's own `shortlist` (its `position`, say) is laid over it."""

    decisions = ma.List(
        ma.Nested(DecisionRequestSchema),
        required=True,
        validate=mv.Length(min=1, max=BULK_MAX),
        metadata={"description": f"1 to {BULK_MAX} decisions; errors name their index from 0."},
    )
    shortlist = ma.Nested(ShortlistSourceSchema, allow_none=True)


class DecisionSchema(Described):
    """A recorded decision, with the score it rested on and the outcome label derived from
    the SME's follow-ups."""

    id = ma.Integer(required=True)
    sme_id = ma.String(required=True)
    decision = ma.String(required=True, metadata={"description": _DECISION})
    support_kind = ma.String(required=True, allow_none=True)
    support_other = ma.String(required=True, allow_none=True)
    target_market = ma.String(required=True, allow_none=True)
    decided_on = _day(required=True)
    decided_by = ma.String(required=True)
    reason = ma.String(required=True, allow_none=True)
    shortlist = ma.Nested(ShortlistRecordSchema, required=True, allow_none=True)
    cohort = ma.String(required=True, allow_none=True)
    score_id = ma.Integer(required=True, metadata={"description": "The stored score it rested on."})
    sector = ma.String(required=True)
    score = ma.Float(required=True, metadata={"description": "The score then, 0 to 100."})
    tier = ma.String(required=True, metadata={"description": "The tier then."})
    ml_probability = ma.Float(required=True)
    model_version = ma.String(required=True)
    ruleset_version = ma.String(required=True)
    scored_at = ma.String(required=True, metadata={"format": "date-time"})
    recorded_by = ma.String(required=True, metadata={"description": "Who recorded it."})
    recorded_at = ma.String(required=True, metadata={"format": "date-time"})
    updated_at = ma.String(required=True, metadata={"format": "date-time"})
    exported_within_12m = ma.Integer(
        required=True,
        allow_none=True,
        validate=mv.OneOf((0, 1)),
        metadata={
            "description": (
                "1 if the SME exported within 365 days of the decision, 0 if not, null while "
                "unknown (no follow-up since, or the year is not over): never counted as 0."
            )
        },
    )
    label_basis = ma.String(
        required=True,
        validate=mv.OneOf(LABEL_BASES),
        metadata={"description": "Why the label is what it is: " + ", ".join(LABEL_BASES)},
    )


class HeldDecisionSchema(DecisionSchema):
    """A decision as held on the SME, with the profile it rested on (no personal field)."""

    profile = ma.Dict(required=True, metadata={"description": "The profile as scored then."})


class DecisionsSchema(Described):
    decisions = ma.List(
        ma.Nested(DecisionSchema), required=True, metadata={"description": "In request order."}
    )


class DecisionListQuerySchema(Schema):
    sme_id = _sme_id()
    cohort = ma.String(**COHORT)
    sector = ma.String(validate=mv.OneOf(F.SECTORS))
    support_kind = ma.String(validate=mv.OneOf(SUPPORT_KINDS))
    decision = ma.String(validate=mv.OneOf(DECISIONS))
    decided_from = ma.Date(metadata={"description": "Decided on or after this day."})
    decided_until = ma.Date(metadata={"description": "Decided on or before this day."})
    page = ma.Integer(load_default=1, validate=mv.Range(min=1, max=1_000_000))
    per_page = ma.Integer(
        validate=mv.Range(min=1),
        metadata={
            "description": "Items per page; at most the service's PAGE_SIZE_MAX (500).",
            "maximum": DefaultConfig.PAGE_SIZE_MAX,
        },
    )


class DecisionPageSchema(Described):
    items = ma.List(
        ma.Nested(DecisionSchema),
        required=True,
        metadata={"description": "Newest decision date first."},
    )
    total = ma.Integer(required=True)
    page = ma.Integer(required=True)
    per_page = ma.Integer(required=True)


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
    learned_via = _choice(
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
        failed = _failed(original_data, data)
        _raise(outcome_problems(data, today=office_today(), failed=failed))

    @post_load
    def _as_stored(self, data: dict, **kwargs: Any) -> dict:
        """Every column (None when left out), markets without repeats."""
        data["destination_markets"] = list(dict.fromkeys(data.get("destination_markets") or []))
        columns = OUTCOME_COLUMNS if "sme_id" in data else OUTCOME_COLUMNS[1:]
        return {name: data.get(name) for name in columns}


class FollowUpRequestSchema(FollowUpReplacementSchema):
    """One follow-up of an SME: had it exported, since when, where, how much, and how the
    office learned it."""

    sme_id = _sme_id(required=True)


class FollowUpSchema(Described):
    """A recorded follow-up."""

    id = ma.Integer(required=True)
    sme_id = ma.String(required=True)
    followup_date = _day(required=True)
    exported = ma.Boolean(required=True)
    learned_via = ma.String(required=True)
    first_export_date = _day(required=True, allow_none=True)
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
    decided_on = _day(required=True)
    months = ma.Integer(
        required=True,
        metadata={"description": "The follow-up due: 3, 6 or 12 months after the decision."},
    )
    due_on = _day(required=True)
    days_overdue = ma.Integer(required=True)
    last_followup_date = _day(
        required=True, allow_none=True, metadata={"description": "null if never followed up."}
    )


class WorklistSchema(Described):
    as_of = _day(required=True, metadata={"description": "Today in WIB (UTC+7)."})
    items = ma.List(
        ma.Nested(WorklistItemSchema),
        required=True,
        metadata={"description": "Most overdue first."},
    )


# --- the evaluation ---------------------------------------------------------------------------


class EvaluationQuerySchema(Schema):
    cohort = ma.String(**COHORT)
    sector = ma.String(validate=mv.OneOf(F.SECTORS))
    support_kind = ma.String(validate=mv.OneOf(SUPPORT_KINDS))
    decided_from = ma.Date(metadata={"description": "Decisions on or after this day."})
    decided_until = ma.Date(metadata={"description": "Decisions on or before this day."})
    decision = ma.String(
        load_default="support",
        validate=mv.OneOf(EVALUATED_DECISIONS),
        metadata={
            "description": (
                "Which decisions the rates, discrimination and calibration are about: "
                "`support` (default), `no_support` or `all`."
            )
        },
    )


class CountsSchema(Described):
    """How many decisions were selected and how many have a known outcome label."""

    decisions = ma.Integer(required=True, metadata={"description": "Decisions selected."})
    known = ma.Integer(
        required=True, metadata={"description": "With a known label (1 or 0): the figures' n."}
    )
    censored = ma.Integer(
        required=True,
        metadata={
            "description": (
                "Label still unknown (no follow-up since, or the year is not over): left out "
                "of every figure, never counted as 0."
            )
        },
    )
    exported = ma.Integer(
        required=True, metadata={"description": "Known, and exported within 12 months (1)."}
    )
    not_exported = ma.Integer(
        required=True, metadata={"description": "Known, and not exported within 12 months (0)."}
    )


class EvaluationCountsSchema(Described):
    """The counts of the decisions the figures are about and of each kind of decision."""

    all = ma.Nested(
        CountsSchema,
        required=True,
        metadata={"description": "Of the decisions of kind `decision` (all kinds if null)."},
    )
    supported = ma.Nested(
        CountsSchema, required=True, metadata={"description": "Of the support decisions."}
    )
    not_supported = ma.Nested(
        CountsSchema, required=True, metadata={"description": "Of the no-support decisions."}
    )


_RATE = {
    "n": "Decisions with a known label in the group.",
    "exported": "Of them, how many exported within 12 months.",
    "rate": "exported / n (the export rate); null when n is 0.",
    "ci_low": "Lower end of the Wilson 95% interval of the rate; null when n is 0.",
    "ci_high": "Upper end of the Wilson 95% interval of the rate; null when n is 0.",
}


def _rate_fields() -> dict[str, ma.Field]:
    return {
        "n": ma.Integer(required=True, metadata={"description": _RATE["n"]}),
        "exported": ma.Integer(required=True, metadata={"description": _RATE["exported"]}),
        **{
            name: ma.Float(required=True, allow_none=True, metadata={"description": _RATE[name]})
            for name in ("rate", "ci_low", "ci_high")
        },
    }


def _rate_schema(name: str, doc: str, **fields: ma.Field) -> type[Described]:
    return type(name, (Described,), {"__doc__": doc, **fields, **_rate_fields()})


RateSchema = _rate_schema("RateSchema", "An export rate with its Wilson 95% interval.")
TierRateSchema = _rate_schema(
    "TierRateSchema",
    "The export rate of the decisions about SMEs of one tier (the tier when decided).",
    tier=ma.String(required=True, metadata={"description": "The ruleset's tier id."}),
)
BandRateSchema = _rate_schema(
    "BandRateSchema",
    "The export rate of one score band (the score when decided).",
    band=ma.String(
        required=True,
        metadata={"description": "0-20, 20-40, 40-60, 60-80 or 80-100 (100 in the last)."},
    ),
)
CalibrationBandSchema = _rate_schema(
    "CalibrationBandSchema",
    "One band of the model's probability: what it predicted and how often SMEs exported.",
    band=ma.String(
        required=True,
        metadata={"description": "0-5%, 5-10%, 10-20%, 20-40% or 40-100% of ml_probability."},
    ),
    mean_predicted=ma.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Mean ml_probability in the band; null if it is empty."},
    ),
)


class AucSchema(Described):
    """ROC AUC with a 95% interval from a bootstrap of 1000 resamples that resamples the
    SMEs that exported and those that did not each within itself."""

    auc = ma.Float(
        required=True,
        metadata={
            "description": (
                "Probability that an SME that exported ranks above one that did not (ties "
                "count half); 0.5 is no better than chance, 1 a perfect ranking."
            )
        },
    )
    ci_low = ma.Float(required=True, metadata={"description": "2.5th bootstrap percentile."})
    ci_high = ma.Float(required=True, metadata={"description": "97.5th bootstrap percentile."})


class DiscriminationSchema(Described):
    """How well a number ranks the SMEs that exported above those that did not."""

    score = ma.Nested(
        AucSchema,
        required=True,
        allow_none=True,
        metadata={"description": "Of the score; null unless both outcomes occur."},
    )
    ml_probability = ma.Nested(
        AucSchema,
        required=True,
        allow_none=True,
        metadata={"description": "Of the model's probability; null unless both outcomes occur."},
    )


class CalibrationSchema(Described):
    """Whether the model's probability matches how often SMEs exported."""

    brier = ma.Float(
        required=True,
        metadata={
            "description": (
                "Brier score: the mean squared difference of ml_probability and the label "
                "(0 is perfect; always predicting the base rate scores base_rate*(1-base_rate))."
            )
        },
    )
    base_rate = ma.Float(
        required=True, metadata={"description": "Share of the known labels that are 1."}
    )
    mean_predicted = ma.Float(
        required=True, metadata={"description": "Mean ml_probability over the known labels."}
    )
    bands = ma.List(
        ma.Nested(CalibrationBandSchema),
        required=True,
        metadata={"description": "The reliability table, by band of ml_probability."},
    )


class ComparisonBandSchema(Described):
    """Supported and not supported SMEs of one score band, and the difference of their
    export rates with Newcombe's 95% interval: an association, not the effect of support."""

    band = ma.String(required=True, metadata={"description": "The score band, as by_score_band."})
    supported = ma.Nested(
        RateSchema, required=True, metadata={"description": "Export rate of the supported."}
    )
    not_supported = ma.Nested(
        RateSchema, required=True, metadata={"description": "Export rate of the not supported."}
    )
    difference = ma.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": (
                "Supported rate minus not supported rate; null unless both groups have members."
            )
        },
    )
    ci_low = ma.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Lower end of Newcombe's 95% interval of the difference."},
    )
    ci_high = ma.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Upper end of Newcombe's 95% interval of the difference."},
    )


class ComparisonSchema(Described):
    """Supported against not supported SMEs of the same score band: an association, not the
    effect of support."""

    note = ma.String(
        required=True,
        metadata={
            "description": (
                "Says so: an association, not the effect of support, as the office chose "
                "whom to support and what made it choose may also make an SME export."
            )
        },
    )
    bands = ma.List(
        ma.Nested(ComparisonBandSchema),
        required=True,
        metadata={"description": "One per score band."},
    )


class EvaluationFiltersSchema(Described):
    """The filters of the request, echoed (null where not given)."""

    cohort = ma.String(required=True, allow_none=True, metadata={"description": "Cohort."})
    sector = ma.String(required=True, allow_none=True, metadata={"description": "Sector."})
    support_kind = ma.String(
        required=True, allow_none=True, metadata={"description": "Kind of support."}
    )
    decided_from = _day(
        required=True, allow_none=True, metadata={"description": "First decision day."}
    )
    decided_until = _day(
        required=True, allow_none=True, metadata={"description": "Last decision day."}
    )


class EvaluationSchema(Described):
    """Was the score right? Figures over the decisions whose outcome label is known.

    Below `minimum_known` known labels only the counts are given (`enough` false, `message`
    says so) and every figure is null: a rate of 1 out of 4 misleads more than it informs.
    `supported_vs_not` compares supported and not supported SMEs of the same score band:
    an association, not the effect of support (the office chose whom to support, and what
    made it choose may also make an SME export).
    """

    decision = ma.String(
        required=True,
        allow_none=True,
        metadata={"description": "The kind of decision the figures are about; null for all."},
    )
    minimum_known = ma.Integer(
        required=True,
        metadata={"description": f"Known labels needed for figures ({MIN_KNOWN_OUTCOMES})."},
    )
    enough = ma.Boolean(
        required=True,
        metadata={"description": "Whether there are at least minimum_known known labels."},
    )
    message = ma.String(
        required=True,
        allow_none=True,
        metadata={"description": "`too few outcomes to judge: ...` when not enough; else null."},
    )
    counts = ma.Nested(
        EvaluationCountsSchema,
        required=True,
        metadata={"description": "Decisions, known and censored labels: always given."},
    )
    by_tier = ma.List(
        ma.Nested(TierRateSchema),
        required=True,
        allow_none=True,
        metadata={"description": "Export rate by tier when decided, best tier first."},
    )
    by_score_band = ma.List(
        ma.Nested(BandRateSchema),
        required=True,
        allow_none=True,
        metadata={"description": "Export rate by score band when decided."},
    )
    discrimination = ma.Nested(
        DiscriminationSchema,
        required=True,
        allow_none=True,
        metadata={"description": "How well the score and the model's probability rank SMEs."},
    )
    calibration = ma.Nested(
        CalibrationSchema,
        required=True,
        allow_none=True,
        metadata={"description": "Brier score and the reliability table of ml_probability."},
    )
    supported_vs_not = ma.Nested(
        ComparisonSchema,
        required=True,
        allow_none=True,
        metadata={
            "description": (
                "Export rates of supported and not supported SMEs by score band (over both "
                "kinds of decision, whatever `decision` is): an association, not the effect "
                "of support."
            )
        },
    )
    filters = ma.Nested(
        EvaluationFiltersSchema,
        required=True,
        metadata={"description": "The filters the decisions were selected by."},
    )
