"""marshmallow schemas of the evaluation of the score against the outcomes: its query,
its counts, rates with intervals, discrimination, calibration and the supported against
not supported comparison (an association, not the effect of support)."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.outcome_fields import EVALUATED_DECISIONS, Described, day_field
from api.http.schemas import COHORT
from scoring.contract import fields as F
from scoring.contract.outcomes import SUPPORT_KINDS
from scoring.outcomes.evaluation import MIN_KNOWN_OUTCOMES

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
    decided_from = day_field(
        required=True, allow_none=True, metadata={"description": "First decision day."}
    )
    decided_until = day_field(
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
