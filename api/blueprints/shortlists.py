"""POST /api/v1/shortlists: who gets the support places, and why."""

from __future__ import annotations

from flask_smorest import Blueprint, abort

from api import store
from api.auth import SCORE, current_actor, require_scope
from api.db import get_session
from api.lookups import sme_facts
from api.negotiation import JSON, accepts
from api.schemas import ShortlistRequestSchema, ShortlistSchema
from scoring.shortlist import build_shortlist

blp = Blueprint(
    "shortlists", __name__, url_prefix="/api/v1/shortlists", description="Build shortlists."
)


def _unknown(field: str, message: str):
    abort(422, message=message, errors=[{"field": field, "message": message}])


def _candidates(session, request: dict) -> list[str]:
    """The sme_ids to choose from, from a cohort, a batch or a list."""
    if "cohort" in request:
        members = store.cohort_members(session, request["cohort"])
        if not members:
            _unknown("cohort", f"No SME belongs to cohort {request['cohort']!r}.")
        return members
    if "batch_id" in request:
        batch = store.get_batch(session, request["batch_id"])
        if batch is None or batch["status"] != "complete":
            _unknown("batch_id", f"No complete batch with id {request['batch_id']}.")
        rows = store.batch_results(session, request["batch_id"]) or []
        return list(dict.fromkeys(row["sme_id"] for row in rows))
    return list(dict.fromkeys(request["sme_ids"]))


#: The document says what the schema's own check enforces: exactly one source of SMEs.
_ONE_SOURCE_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": {
                "allOf": [ShortlistRequestSchema],
                "oneOf": [{"required": [name]} for name in ("cohort", "batch_id", "sme_ids")],
            }
        }
    },
}


@blp.route("", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(ShortlistRequestSchema)
@blp.doc(requestBody=_ONE_SOURCE_BODY)
@blp.response(200, ShortlistSchema)
def create_shortlist(request: dict):
    """Rank SMEs for a fixed number of support places

    Chooses up to `capacity` SMEs from a `cohort`, a `batch_id` or a list of `sme_ids`
    by their latest score (or by readiness for `target_market`), at most
    `max_per_sector` from one sector. SMEs with a failed knock-out are excluded. Each
    choice comes with its reason; the near misses say what they lack.
    """
    session = get_session()
    sme_ids = _candidates(session, request)
    latest = store.latest_scores(session, sme_ids)
    unknown = [sme_id for sme_id in sme_ids if sme_id not in latest]
    if unknown:
        shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        _unknown("sme_ids", f"No score for {len(unknown)} SME(s): {shown}.")
    facts = sme_facts(session, sme_ids, cohort=request.get("cohort"))
    records = [{**latest[sme_id], "sector": facts[sme_id]["sector"]} for sme_id in sme_ids]
    shortlist = build_shortlist(
        records,
        capacity=request["capacity"],
        target_market=request.get("target_market"),
        max_per_sector=request.get("max_per_sector"),
    )
    source = {key: request[key] for key in ("cohort", "batch_id") if key in request}
    store.audit(
        session,
        actor=current_actor(),
        action="shortlist",
        subject=f"batch/{request['batch_id']}" if "batch_id" in request else None,
        details={**source, "candidates": len(sme_ids), "capacity": request["capacity"]},
    )
    session.commit()
    return shortlist
