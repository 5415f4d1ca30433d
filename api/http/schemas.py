"""marshmallow schemas of the HTTP API's requests and responses.

The OpenAPI document is generated from these (and from ``scoring.contract.schema.ProfileSchema``
for profiles), so the documentation and the validation are the same objects.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, pre_load, validates_schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.config import DefaultConfig
from scoring.contract import fields as F

LANGUAGES = ("en", "id")
RESULT_FORMATS = ("json", "csv", "xlsx")
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
    missing = ma.List(ma.String(), required=True)


class ReasonSchema(ResponseSchema):
    feature = ma.String(required=True)
    effect = ma.Float(required=True, metadata={"description": "Signed effect on ml_probability."})


class ActionSchema(ResponseSchema):
    criterion = ma.String(required=True)
    gain = ma.Float(required=True, metadata={"description": "Score gain of meeting it."})
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


class ResultRowSchema(ScoreRecordSchema):
    """A batch result: the score and its change against the SME's score before the batch."""

    name = ma.String(required=True, allow_none=True, metadata={"description": "Business name."})
    sector = ma.String(required=True, allow_none=True)

    previous_score = ma.Float(
        required=True, allow_none=True, metadata={"description": "null for a first score."}
    )
    change = ma.Float(required=True, allow_none=True)


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


class SmePageSchema(ResponseSchema):
    items = ma.List(ma.Nested(SmeSummarySchema), required=True)
    total = ma.Integer(required=True)
    page = ma.Integer(required=True)
    per_page = ma.Integer(required=True)


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


class SmeListQuerySchema(Schema):
    sector = ma.String(validate=mv.OneOf(F.SECTORS))
    tier = ma.String(validate=mv.Length(min=1, max=50))
    cohort = ma.String(**COHORT)
    page = ma.Integer(load_default=1, validate=mv.Range(min=1, max=1_000_000))
    per_page = ma.Integer(
        validate=mv.Range(min=1),
        metadata={
            "description": "Items per page; at most the service's PAGE_SIZE_MAX (500).",
            # Documented so that clients (and schemathesis) know a larger page is refused;
            # the view enforces the configured value.
            "maximum": DefaultConfig.PAGE_SIZE_MAX,
        },
    )


# --- scoring ------------------------------------------------------------------------------


class ScoreQuerySchema(Schema):
    dry_run = ma.Boolean(load_default=False, metadata={"description": "Score only; store nothing."})
    lang = ma.String(load_default="en", validate=mv.OneOf(LANGUAGES))
    cohort = ma.String(**COHORT)


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
    reason = ma.String(
        allow_none=True,
        attribute="failure_reason",
        metadata={"description": "Why a failed batch failed."},
    )
    progress = ma.Nested(BatchProgressSchema, required=True)


class ResultsQuerySchema(Schema):
    format = ma.String(
        validate=mv.OneOf(RESULT_FORMATS),
        metadata={
            "description": (
                "json, csv or xlsx; without it, the `Accept` header chooses (JSON by default). "
                "Generated clients read CSV and XLSX from `results.csv` and `results.xlsx`."
            )
        },
    )


class BatchResultsSchema(ResponseSchema):
    batch_id = ma.Integer(required=True)
    results = ma.List(ma.Nested(ResultRowSchema), required=True)


# --- shortlists ---------------------------------------------------------------------------

SOURCES = ("cohort", "batch_id", "sme_ids")


class LanguageQuerySchema(Schema):
    lang = ma.String(
        load_default="en",
        validate=mv.OneOf(LANGUAGES),
        metadata={"description": "Language of reasons and labels: en or id (Bahasa Indonesia)."},
    )


class ShortlistRequestSchema(Schema):
    """Whom to choose from: exactly one of `cohort`, `batch_id` or `sme_ids` (none, or more
    than one, is 422 naming them); how many places (`capacity`), optionally for which
    `target_market` and with at most `max_per_sector` from one sector."""

    cohort = ma.String(**COHORT)
    batch_id = ma.Integer(validate=mv.Range(min=1, max=MAX_ID))
    sme_ids = ma.List(
        ma.String(validate=mv.Regexp(F.SME_ID_PATTERN)),
        validate=mv.Length(min=1, max=100_000),
    )
    capacity = ma.Integer(required=True, validate=mv.Range(min=1, max=100_000))
    target_market = ma.String(validate=mv.OneOf(F.MARKETS))
    max_per_sector = ma.Integer(validate=mv.Range(min=1, max=100_000))

    @pre_load
    def drop_nulls(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @validates_schema
    def one_source(self, data: dict, **kwargs: Any) -> None:
        """Exactly one source: the error names the sources given, or all three if none."""
        given = [name for name in SOURCES if name in data]
        if len(given) != 1:
            message = "Give exactly one of cohort, batch_id or sme_ids" + (
                f" (got {', '.join(given)})." if given else "."
            )
            raise ValidationError({name: [message] for name in given or SOURCES})


class ShortlistEntrySchema(ResponseSchema):
    sme_id = ma.String(required=True)
    sector = ma.String(required=True, allow_none=True)
    score = ma.Float(required=True)
    tier = ma.String(required=True)
    ranking_score = ma.Float(required=True)
    position = ma.Integer(required=True)
    rank = ma.Integer()
    reason = ma.String(required=True)
    lacks = ma.List(ma.Dict())


class ExcludedSchema(ResponseSchema):
    sme_id = ma.String(required=True)
    sector = ma.String(required=True, allow_none=True)
    reason = ma.String(required=True)
    knockouts = ma.List(ma.String(), required=True)


class ShortlistSchema(ResponseSchema):
    capacity = ma.Integer(required=True)
    target_market = ma.String(required=True, allow_none=True)
    max_per_sector = ma.Integer(required=True, allow_none=True)
    ranked_by = ma.String(required=True)
    eligible = ma.Integer(required=True)
    selected = ma.List(ma.Nested(ShortlistEntrySchema), required=True)
    near_misses = ma.List(ma.Nested(ShortlistEntrySchema), required=True)
    excluded = ma.List(ma.Nested(ExcludedSchema), required=True)


# --- model and ruleset --------------------------------------------------------------------


class TrainingDataSchema(ResponseSchema):
    source = ma.String()
    rows = ma.Integer()
    positives = ma.Integer()
    fingerprint = ma.String()
    synthetic = ma.Boolean(
        required=True, metadata={"description": "True: trained on generated data, not outcomes."}
    )


class ModelCardSchema(ResponseSchema):
    version = ma.String(required=True)
    created_at = ma.String(allow_none=True)
    kind = ma.String(allow_none=True)
    sha256 = ma.String(allow_none=True)
    ruleset_version = ma.String(allow_none=True)
    metrics = ma.Dict(
        required=True, metadata={"description": "Held-out metrics from the manifest."}
    )
    training_data = ma.Nested(TrainingDataSchema, required=True)
    features = ma.List(ma.String(), required=True)
    libraries = ma.Dict(keys=ma.String(), values=ma.String())
    notes = ma.List(ma.String(), required=True)


class BilingualSchema(ResponseSchema):
    en = ma.String(required=True)
    id = ma.String(required=True)


class LabelledSchema(ResponseSchema):
    id = ma.String(required=True)
    label = ma.Nested(BilingualSchema, required=True)


class TierSchema(LabelledSchema):
    min_score = ma.Float(required=True)


class AppliesToSchema(ResponseSchema):
    sectors = ma.List(ma.String(), allow_none=True)
    target_markets = ma.List(ma.String(), allow_none=True)


class CriterionSchema(ResponseSchema):
    id = ma.String(required=True)
    category = ma.String(required=True)
    points = ma.Float(required=True)
    knockout = ma.Boolean(required=True)
    actionable = ma.Boolean(required=True)
    applies_to = ma.Nested(AppliesToSchema, required=True)
    condition = ma.Dict(required=True)
    label = ma.Nested(BilingualSchema, required=True)
    recommendation = ma.Nested(BilingualSchema, required=True)


class BlendSchema(ResponseSchema):
    rules_weight = ma.Float(required=True)
    ml_weight = ma.Float(required=True)


class RulesetSchema(ResponseSchema):
    id = ma.String(required=True)
    version = ma.String(required=True)
    version_string = ma.String(required=True)
    title = ma.Nested(BilingualSchema, required=True)
    blend = ma.Nested(BlendSchema, required=True)
    tiers = ma.List(ma.Nested(TierSchema), required=True)
    knockout_tier = ma.String(required=True)
    categories = ma.List(ma.Nested(LabelledSchema), required=True)
    markets = ma.List(ma.Nested(LabelledSchema), required=True)
    criteria = ma.List(ma.Nested(CriterionSchema), required=True)


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


# --- model and ruleset governance ---------------------------------------------------------

#: A model version name as the registry writes it (date and hash prefix).
MODEL_VERSION = {
    "validate": mv.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"),
    "metadata": {"description": "A model version, e.g. 20261128-e6cd7dbfb4."},
}
#: A registered ruleset version or `default` (never a file path).
RULESET_REF = {
    "validate": mv.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,120}$"),
    "metadata": {"description": "A registered ruleset version (or its declared part), or default."},
}


class ModelVersionSummarySchema(ResponseSchema):
    version = ma.String(required=True)
    created_at = ma.String(allow_none=True)
    active = ma.Boolean(required=True)
    training_rows = ma.Integer(allow_none=True)
    synthetic = ma.Boolean(required=True)
    data_source = ma.String(allow_none=True)
    roc_auc = ma.Float(allow_none=True, metadata={"description": "Held-out ROC AUC."})
    brier = ma.Float(allow_none=True, metadata={"description": "Held-out Brier score."})
    evaluation_method = ma.String(allow_none=True)
    compared_with = ma.String(allow_none=True)
    guard = ma.List(ma.String(), allow_none=True)


class ModelVersionListSchema(ResponseSchema):
    items = ma.List(ma.Nested(ModelVersionSummarySchema), required=True)
    history = ma.List(
        ma.Dict(), required=True, metadata={"description": "Activations, oldest first."}
    )


class ModelVersionSchema(ResponseSchema):
    version = ma.String(required=True)
    active = ma.Boolean(required=True)
    created_at = ma.String(allow_none=True)
    kind = ma.String(allow_none=True)
    sha256 = ma.String(allow_none=True)
    training_data = ma.Dict(allow_none=True)
    metrics = ma.Dict(allow_none=True)
    evaluation = ma.Dict(allow_none=True)
    comparison = ma.Dict(allow_none=True)
    data_warnings = ma.List(ma.String(), allow_none=True)
    libraries = ma.Dict(allow_none=True)


class FullModelCardSchema(ResponseSchema):
    version = ma.String(required=True)
    created_at = ma.String(allow_none=True)
    kind = ma.String(allow_none=True)
    training_data = ma.Dict(required=True)
    intended_use = ma.List(ma.String(), required=True)
    limitations = ma.List(ma.String(), required=True)
    monotonic_constraints = ma.List(ma.Dict(), required=True)
    metrics = ma.Dict(required=True)
    roc_curve = ma.List(ma.Dict(), allow_none=True)
    calibration = ma.List(ma.Dict(), allow_none=True)
    score_distribution = ma.List(ma.Dict(), allow_none=True)
    feature_effects = ma.List(ma.Dict(), required=True)
    drift = ma.Dict(allow_none=True)
    warnings = ma.List(ma.String(), required=True)


class PromoteSchema(Schema):
    force = ma.Boolean(
        load_default=False, metadata={"description": "Promote even if the guard refuses."}
    )
    reason = ma.String(
        validate=mv.Length(max=1000),
        metadata={"description": "Why; required with force (goes into the audit log)."},
    )


class RollbackSchema(Schema):
    reason = ma.String(validate=mv.Length(max=1000))


class ActivationSchema(ResponseSchema):
    at = ma.String(required=True)
    action = ma.String(required=True)
    version = ma.String(required=True)
    previous = ma.String(allow_none=True)
    actor = ma.String(required=True)
    reason = ma.String(allow_none=True)
    forced = ma.Boolean()
    guard = ma.List(ma.String())


class RulesetVersionSchema(ResponseSchema):
    version = ma.String(required=True)
    source = ma.String(required=True)
    active = ma.Boolean(required=True)


class RulesetDiffQuerySchema(Schema):
    old = ma.String(required=True, **RULESET_REF)
    new = ma.String(required=True, **RULESET_REF)


class RulesetDiffSchema(ResponseSchema):
    old = ma.String(required=True)
    new = ma.String(required=True)
    settings = ma.List(ma.Dict(), required=True)
    added = ma.List(ma.Dict(), required=True)
    removed = ma.List(ma.Dict(), required=True)
    changed = ma.List(ma.Dict(), required=True)


class RulesetImpactQuerySchema(Schema):
    ruleset = ma.String(required=True, **RULESET_REF)
    cohort = ma.String(required=True, **COHORT)


class TierChangeSchema(ResponseSchema):
    sme_id = ma.String(required=True)
    old_tier = ma.String(required=True)
    new_tier = ma.String(required=True)
    old_score = ma.Float(required=True)
    new_score = ma.Float(required=True)
    direction = ma.String(required=True)


class RulesetImpactSchema(ResponseSchema):
    old = ma.String(required=True)
    new = ma.String(required=True)
    model_version = ma.String(required=True)
    profiles = ma.Integer(required=True)
    changed = ma.Integer(required=True)
    tiers_before = ma.Dict(keys=ma.String(), values=ma.Integer(), required=True)
    tiers_after = ma.Dict(keys=ma.String(), values=ma.Integer(), required=True)
    transitions = ma.List(ma.Dict(), required=True)
    changes = ma.List(ma.Nested(TierChangeSchema), required=True)


class FairnessQuerySchema(Schema):
    share = ma.Float(
        load_default=0.2,
        validate=mv.Range(min=0.01, max=1.0),
        metadata={"description": "Share of SMEs shortlisted (top by score)."},
    )


class FairnessSchema(ResponseSchema):
    rows = ma.Integer(required=True)
    positives = ma.Integer(required=True)
    shortlist_share = ma.Float(required=True)
    shortlisted = ma.Integer(required=True)
    model_version = ma.String(required=True)
    ruleset_version = ma.String(required=True)
    limits = ma.Dict(required=True)
    attributes = ma.Dict(required=True)
    proxy = ma.Dict(allow_none=True)


class DriftSchema(ResponseSchema):
    reference_rows = ma.Integer(required=True)
    recent_rows = ma.Integer(required=True)
    window_days = ma.Integer(required=True)
    thresholds = ma.Dict(required=True)
    score = ma.Dict(required=True)
    features = ma.List(ma.Dict(), required=True)
    status = ma.String(required=True)
    warnings = ma.List(ma.String(), required=True)
