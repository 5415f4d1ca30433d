"""marshmallow schemas of shortlists: whom to choose from, and whom the shortlist chose."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, pre_load, validates_schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.schemas import COHORT, LANGUAGES, MAX_ID, ResponseSchema
from scoring.contract import fields as F

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
