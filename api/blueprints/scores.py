"""POST /api/v1/scores: score one profile, and store it unless it is a dry run."""

from __future__ import annotations

from flask import request, url_for
from flask_smorest import Blueprint

from api import ingest
from api.auth import SCORE, current_actor, require_scope
from api.db import get_session
from api.negotiation import JSON, accepts
from api.schemas import ScoreQuerySchema, ScoreRecordSchema
from api.scorer import get_scorer
from scoring.schema import ProfileSchema, validate_profile

blp = Blueprint("scores", __name__, url_prefix="/api/v1/scores", description="Score profiles.")


@blp.route("", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(ScoreQuerySchema, location="query", as_kwargs=True)
@blp.arguments(ProfileSchema, description="One SME profile (SPEC section 3).")
@blp.response(201, ScoreRecordSchema, description="Scored and stored.")
@blp.alt_response(200, schema=ScoreRecordSchema, description="Dry run: scored, nothing stored.")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def create_score(profile: dict, dry_run: bool, lang: str, cohort: str | None = None):
    """Score one profile

    Validates the profile (every field error at once, 422), scores it and stores the
    profile and the score, unless `dry_run=true`. The optional `cohort` adds the SME to
    that cohort. Labels are in English or, with `lang=id`, Bahasa Indonesia.
    """
    scorer = get_scorer()
    # The schema has validated the body; validate_profile gives the same verdict and the
    # canonical batch of one, with the booleans that were left out (assumed).
    batch = validate_profile(request.get_json())
    scored = ingest.score(batch, scorer, lang=lang, keep_profiles=not dry_run)
    record = scored.records[0]
    if dry_run:
        return record, 200
    session = get_session()
    ingest.store_scored(session, scored, cohort=cohort, batch_id=None, actor=current_actor())
    session.commit()
    location = url_for("smes.get_sme", sme_id=record["sme_id"])
    return record, 201, {"Location": location}
