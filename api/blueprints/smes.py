"""SMEs: list, read (personal data only for the `personal` scope), score history, erasure."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import ADMIN, PERSONAL, READ, current_actor, has_scope, require_scope
from api.http.schemas import ScoreHistorySchema, SmeListQuerySchema, SmePageSchema, SmeSchema

blp = Blueprint("smes", __name__, url_prefix="/api/v1/smes", description="SMEs and their scores.")


def _not_found(sme_id: str):
    abort(404, message=f"No SME with sme_id {sme_id!r}.")


@blp.route("", methods=["GET"])
@require_scope(READ)
@blp.arguments(SmeListQuerySchema, location="query", as_kwargs=True)
@blp.response(200, SmePageSchema)
def list_smes(
    page: int,
    per_page: int | None = None,
    sector: str | None = None,
    tier: str | None = None,
    cohort: str | None = None,
):
    """List SMEs with their latest score

    Ordered by `sme_id`; filter by `sector`, latest `tier` and `cohort`. No personal data.
    """
    limit = current_app.config["PAGE_SIZE_MAX"]
    if per_page is None:
        per_page = min(current_app.config["PAGE_SIZE_DEFAULT"], limit)
    elif per_page > limit:
        abort(422, errors=[{"field": "per_page", "message": f"Must be at most {limit}."}])
    items, total = store.list_smes(
        get_session(), sector=sector, tier=tier, cohort=cohort, page=page, per_page=per_page
    )
    return {"items": items, "total": total, "page": page, "per_page": per_page}


@blp.route("/<string:sme_id>", methods=["GET"])
@require_scope(READ)
@blp.response(200, SmeSchema)
@blp.alt_response(404, response="NOT_FOUND")
def get_sme(sme_id: str):
    """Read one SME

    The profile as last scored, its cohorts and latest score. The personal fields
    (owner, contacts, district) are included only for keys with the `personal` (or
    `admin`) scope. Every read is recorded in the processing log as `view`.
    """
    session = get_session()
    personal = has_scope(PERSONAL)
    sme = store.get_sme(session, sme_id, personal=personal)
    if sme is None:
        _not_found(sme_id)
    store.audit(
        session,
        actor=current_actor(),
        action="view",
        subject=sme_id,
        details={"personal": personal},
    )
    session.commit()
    return sme


@blp.route("/<string:sme_id>/scores", methods=["GET"])
@require_scope(READ)
@blp.response(200, ScoreHistorySchema)
@blp.alt_response(404, response="NOT_FOUND")
def score_history(sme_id: str):
    """Score history of one SME, oldest first"""
    scores = store.score_history(get_session(), sme_id)
    if scores is None:
        _not_found(sme_id)
    return {"sme_id": sme_id, "scores": scores}


@blp.route("/<string:sme_id>", methods=["DELETE"])
@require_scope(ADMIN)
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
def erase_sme(sme_id: str):
    """Erase an SME and its personal data

    The profile, personal data and cohort links are deleted; its scores are kept only
    as anonymous totals (per sector, tier, versions and day).
    """
    session = get_session()
    if not store.erase_sme(session, sme_id, actor=current_actor()):
        _not_found(sme_id)
    session.commit()
    return None
