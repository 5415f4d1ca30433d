"""marshmallow schemas of the model and its ruleset: what is active, the registry's versions,
promotion and rollback, ruleset diffs and impact, fairness and drift."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.schemas import COHORT, ResponseSchema

# --- model and ruleset --------------------------------------------------------------------


class TrainingDataSchema(ResponseSchema):
    source = ma.String()
    rows = ma.Integer()
    positives = ma.Integer()
    fingerprint = ma.String()
    synthetic = ma.Boolean(
        required=True,
        metadata={"description": "True unless every row was a real outcome of the office."},
    )
    origin = ma.String(
        required=True,
        validate=mv.OneOf(("synthetic", "real outcomes", "mixed")),
        metadata={"description": "Generated data, the office's real outcomes, or a mix."},
    )
    real_outcomes = ma.Integer(
        required=True, metadata={"description": "Rows from recorded decisions and follow-ups."}
    )
    synthetic_rows = ma.Integer(required=True)
    outcome_period = ma.Dict(
        required=True,
        allow_none=True,
        metadata={"description": "First and last decision date of the real outcomes."},
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
    enforced_by = ma.List(
        ma.String(),
        required=True,
        metadata={
            "description": "Markets that enforce this sector-wide criterion: their readiness "
            "lists it as missing when it is not met."
        },
    )
    condition = ma.Dict(required=True)
    label = ma.Nested(BilingualSchema, required=True)
    recommendation = ma.Nested(BilingualSchema, required=True)
    recommendation_by_sector = ma.Dict(
        keys=ma.String(),
        values=ma.Nested(BilingualSchema),
        required=True,
        metadata={"description": "Advice that replaces `recommendation` for the sectors named"},
    )


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
    origin = ma.String(
        required=True,
        validate=mv.OneOf(("synthetic", "real outcomes", "mixed")),
        metadata={"description": "Generated data, the office's real outcomes, or a mix."},
    )
    origin_text = ma.String(
        required=True, metadata={"description": "The origin with its numbers and period."}
    )
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
