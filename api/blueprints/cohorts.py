"""Cohorts: the latest score of each of their SMEs as one bulk download."""

from __future__ import annotations

from flask_smorest import Blueprint, abort
from marshmallow import Schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.db import get_session
from api.http.auth import PERSONAL, READ, current_actor, has_scope, require_scope
from api.services import exports
from api.services.downloads import CHUNK_ROWS

blp = Blueprint(
    "cohorts",
    __name__,
    url_prefix="/api/v1/cohorts",
    description="Cohorts: bulk exports of their SMEs' latest scores.",
)

_TABLE = (
    "One row per SME of the cohort, by `sme_id`: sme_id, name, sector, score, tier, "
    "rules_score, ml_probability, knockouts, model_version, ruleset_version, scored_at; "
    "then owner_gender, owner_name, contact_phone, contact_email and district for keys "
    "with the `personal` scope."
)


class LatestScoresQuerySchema(Schema):
    format = ma.String(
        load_default="ndjson",
        validate=mv.OneOf(exports.FORMATS),
        metadata={
            "description": "ndjson (one JSON object a line, the default), csv (formula cells "
            f"neutralised) or parquet (row groups of {CHUNK_ROWS} SMEs; the footer comes last)."
        },
    )


@blp.route("/<path:cohort>/latest-scores", methods=["GET"])
@require_scope(READ)
@blp.arguments(LatestScoresQuerySchema, location="query", as_kwargs=True)
@blp.response(
    200,
    {"type": "string"},
    content_type=exports.MEDIA_TYPES["ndjson"],
    description=f"NDJSON. {_TABLE}",
)
@blp.alt_response(
    200,
    success=True,
    content_type=exports.MEDIA_TYPES["csv"],
    schema={"type": "string"},
    description=f"CSV (UTF-8, `,` separated, a header row). {_TABLE}",
)
@blp.alt_response(
    200,
    success=True,
    content_type=exports.MEDIA_TYPES["parquet"],
    schema={"type": "string", "format": "binary"},
    description=f"Parquet. {_TABLE}",
)
@blp.alt_response(404, response="NOT_FOUND")
def latest_scores(cohort: str, format: str):
    """The latest score of every SME in a cohort, as NDJSON, CSV or Parquet

    For other systems that take the whole cohort at once. Streamed from the database, in
    every format. The personal fields are included only for keys with the `personal` (or
    `admin`) scope. Recorded in the processing log as `export`.
    """
    response = exports.latest_scores_response(
        get_session(),
        cohort=cohort,
        format=format,
        personal=has_scope(PERSONAL),
        actor=current_actor(),
    )
    if response is None:
        abort(404, message=f"No SME is in cohort {cohort!r}.")
    return response
