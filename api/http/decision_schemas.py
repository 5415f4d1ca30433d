"""marshmallow schemas of support decisions: one, many at once, a correction, a page;
and the shortlist a decision came from."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import ValidationError, post_load, validates_schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.outcome_fields import (
    BULK_MAX,
    LABEL_BASES,
    NAME_MAX,
    NOT_CHANGEABLE,
    PLACES_MAX,
    Described,
    RequestSchema,
    choice_field,
    day_field,
    failed_fields,
    office_today,
    raise_field_errors,
    sme_id_field,
    text_field,
)
from api.http.paging import PageInfoSchema, PagingQuerySchema, updated_since_field
from api.http.schemas import COHORT, MAX_ID
from scoring.contract import fields as F
from scoring.contract.outcomes import (
    DECISIONS,
    SUPPORT_KINDS,
    decision_problems,
)

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
    target_market = choice_field(F.MARKETS, "The market it was ranked for.", allow_none=True)
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
        failed = failed_fields(original_data, data)
        problems = decision_problems(data, today=office_today())
        raise_field_errors([p for p in problems if p["field"] not in failed])


class DecisionRequestSchema(_DecisionChecks):
    """One support decision about a scored SME. Its score, tier, model and ruleset
    versions are copied from the SME's latest stored score when it is recorded."""

    sme_id = sme_id_field(required=True)
    decision = choice_field(DECISIONS, _DECISION, required=True)
    support_kind = choice_field(SUPPORT_KINDS, _SUPPORT_KIND, allow_none=True)
    support_other = text_field(_SUPPORT_OTHER, allow_none=True)
    target_market = choice_field(F.MARKETS, "The market the support aims at.", allow_none=True)
    decided_on = ma.Date(required=True, metadata={"description": _DECIDED_ON})
    decided_by = text_field(_DECIDED_BY, max_length=NAME_MAX, allow_none=True)
    reason = text_field(_REASON, allow_none=True)
    shortlist = ma.Nested(ShortlistSourceSchema, allow_none=True)
    cohort = ma.String(allow_none=True, **COHORT)


class DecisionChangesSchema(RequestSchema):
    """Corrections of a recorded decision: any of its fields but `sme_id` (the score it
    rested on stays). A field sent as null is cleared. The merged decision is checked as
    a new one would be."""

    FIXED: ClassVar[dict[str, str]] = {"sme_id": NOT_CHANGEABLE.format(what="decision")}

    decision = choice_field(DECISIONS, _DECISION)
    support_kind = choice_field(SUPPORT_KINDS, _SUPPORT_KIND, allow_none=True)
    support_other = text_field(_SUPPORT_OTHER, allow_none=True)
    target_market = choice_field(F.MARKETS, "The market the support aims at.", allow_none=True)
    decided_on = ma.Date(metadata={"description": _DECIDED_ON})
    decided_by = text_field("Who decided (a person or a committee).", max_length=NAME_MAX)
    reason = text_field(_REASON, allow_none=True)
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
    decided_on = day_field(required=True)
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


class DecisionListQuerySchema(PagingQuerySchema):
    sme_id = sme_id_field()
    cohort = ma.String(**COHORT)
    sector = ma.String(validate=mv.OneOf(F.SECTORS))
    support_kind = ma.String(validate=mv.OneOf(SUPPORT_KINDS))
    decision = ma.String(validate=mv.OneOf(DECISIONS))
    decided_from = ma.Date(metadata={"description": "Decided on or after this day."})
    decided_until = ma.Date(metadata={"description": "Decided on or before this day."})
    updated_since = updated_since_field(
        "Only decisions changed at or after this time (ISO 8601; without a zone, UTC): "
        "recorded or corrected, or with a follow-up of the SME recorded or corrected since "
        "(which may change the label)."
    )


class DecisionPageSchema(PageInfoSchema, Described):
    items = ma.List(
        ma.Nested(DecisionSchema),
        required=True,
        metadata={"description": "Newest decision date first."},
    )
