"""POST /api/v1/scores: score one profile, and store it unless it is a dry run.

Personal fields (``scoring.contract.fields.PERSONAL_COLUMNS``) in the body are written only with a
key that also has the ``personal`` scope (else 403 naming them); a field sent as null is
cleared, and a field left out keeps its stored value.
"""

from __future__ import annotations

from flask import jsonify, request, url_for
from flask_smorest import Blueprint, abort

from api.db import get_session
from api.http.auth import PERSONAL, SCORE, current_actor, has_scope, require_scope
from api.http.negotiation import JSON, accepts
from api.http.schemas import ScoreQuerySchema, ScoreRecordSchema
from api.services import ingest
from api.services.scorer import get_scorer
from scoring.contract.fields import PERSONAL_COLUMNS
from scoring.contract.schema import ProfileSchema, read_profile

blp = Blueprint("scores", __name__, url_prefix="/api/v1/scores", description="Score profiles.")
# Instances, not classes: the parser would build a schema from a class on every request.
QUERY = ScoreQuerySchema()
PROFILE = ProfileSchema()


@blp.route("", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(QUERY, location="query", as_kwargs=True)
@blp.arguments(PROFILE, description="One SME profile (SPEC section 3).")
@blp.response(201, ScoreRecordSchema, description="Scored and stored.")
@blp.alt_response(200, schema=ScoreRecordSchema, description="Dry run: scored, nothing stored.")
@blp.alt_response(403, response="FORBIDDEN", description="Personal fields without the scope.")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def create_score(profile: dict, dry_run: bool, lang: str, cohort: str | None = None):
    """Score one profile

    Validates the profile (every field error at once, 422), scores it and stores the
    profile and the score, unless `dry_run=true`. The optional `cohort` adds the SME to
    that cohort. Labels are in English or, with `lang=id`, Bahasa Indonesia.

    Storing personal fields (`owner_name`, `owner_gender`, `contact_phone`,
    `contact_email`, `district`) needs a key with the `personal` scope as well (403
    naming the fields otherwise); a personal field sent as `null` is cleared, one left
    out keeps its stored value.
    """
    body = request.get_json()
    sent = [name for name in PERSONAL_COLUMNS if name in body]
    if sent and not dry_run and not has_scope(PERSONAL):
        abort(
            403,
            message=(
                f"Storing the personal fields {', '.join(sent)} needs an API key with the "
                "'personal' scope; send the profile without them (stored values are kept)."
            ),
            errors=[{"field": name, "message": "Needs the 'personal' scope."} for name in sent],
        )
    scorer = get_scorer()
    # The schema has loaded the body; read_profile turns that into the canonical
    # columns of one row, the contract dict stored, and the booleans left out (assumed).
    checked = read_profile(body, loaded=profile)
    table = scorer.score(checked.columns, assumed=checked.assumed)
    record = table.to_records(lang=lang)[0]
    if dry_run:
        return jsonify(as_documented(record)), 200
    scored = ingest.Scored(
        profiles=[checked.record],
        personal=[{name: checked.personal[name] for name in sent}],
        records=[record],
    )
    session = get_session()
    ingest.store_scored(session, scored, cohort=cohort, batch_id=None, actor=current_actor())
    session.commit()
    location = url_for("smes.get_sme", sme_id=record["sme_id"])
    return jsonify(as_documented(record)), 201, {"Location": location}


def as_documented(record: dict) -> dict:
    """The record as ``ScoreRecordSchema`` dumps it, without the cost of dumping it: the
    same members in the same order, points as floats (records hold whole points as ints).
    A test holds the two to each other on every edge profile."""
    criteria = [
        {**item, "points": float(item["points"]), "max_points": float(item["max_points"])}
        for item in record["criteria"]
    ]
    return {**record, "criteria": criteria}
