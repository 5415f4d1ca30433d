"""Support decisions: record what the office decided for scored SMEs (one, or many at once),
list them with the outcome label their follow-ups give, correct and withdraw them.

A decision keeps the score it rested on (copied from the SME's latest stored score when
it is recorded), so a later rescore never changes it. Every change is in the processing
log as ``decision.record``, ``decision.update`` or ``decision.delete``.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Sequence

from flask import request, url_for
from flask_smorest import Blueprint, abort
from marshmallow import ValidationError

from api import store
from api.db import get_session
from api.http.auth import READ, SCORE, current_actor, require_scope
from api.http.decision_schemas import (
    BulkDecisionsRequestSchema,
    DecisionChangesSchema,
    DecisionListQuerySchema,
    DecisionPageSchema,
    DecisionRequestSchema,
    DecisionSchema,
    DecisionsSchema,
)
from api.http.negotiation import JSON, accepts
from api.http.outcome_fields import office_today
from api.http.paging import LINK_HEADER, Pager
from api.http.schemas import MAX_ID
from scoring.contract.outcomes import decision_problems
from scoring.contract.schema import schema_errors_to_list

blp = Blueprint(
    "decisions",
    __name__,
    url_prefix="/api/v1/decisions",
    description="Support decisions about scored SMEs, with their outcome labels.",
)

UNKNOWN_SME = "Unknown SME: no profile with this sme_id is stored."
UNSCORED_SME = "This SME has no stored score: score it before recording a decision."
_CHANGES_BODY = {
    "required": True,
    "description": inspect.cleandoc(DecisionChangesSchema.__doc__ or ""),
    "content": {JSON: {"schema": DecisionChangesSchema}},
}


def _invalid(errors: list[dict]):
    abort(422, errors=errors)


def _not_found(decision_id: int):
    abort(404, message=f"No decision with id {decision_id}.")


def _unscored(session, sme_ids: Sequence[str], fields: dict[str, list[str]]) -> None:
    """422 naming the ``sme_id`` field of every decision about an unknown or unscored SME
    (``fields``: the error's field names of each SME)."""
    known = store.known_smes(session, sme_ids)
    errors = []
    for sme_id in sme_ids:
        message = UNSCORED_SME if sme_id in known else UNKNOWN_SME
        errors += [{"field": name, "message": message} for name in fields[sme_id]]
    _invalid(errors)


def _record(session, decisions: list[dict], fields: dict[str, list[str]]) -> list[dict]:
    """Record ``decisions`` (all or none) and read them back with their labels."""
    try:
        recorded = store.record_decisions(session, decisions, actor=current_actor())
    except store.UnscoredError as exc:
        session.rollback()
        _unscored(session, exc.sme_ids, fields)
    session.commit()
    return [store.get_decision(session, d["id"]) for d in recorded]


def _stored_form(decision: dict, shared: dict | None = None) -> dict:
    """A loaded decision as the store takes it: the shared shortlist under its own."""
    shortlist = {**(shared or {}), **(decision.get("shortlist") or {})}
    return {**decision, "shortlist": shortlist or None}


@blp.route("", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(
    DecisionRequestSchema, description=inspect.cleandoc(DecisionRequestSchema.__doc__ or "")
)
@blp.response(201, DecisionSchema, description="Recorded.")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def create_decision(decision: dict):
    """Record a support decision about a scored SME

    `support` needs `support_kind` (and `support_other` when it is `other`); `no_support`
    needs a `reason` and no `support_kind`. `decided_on` may not be in the future (WIB).
    Every field error is named at once (422); so is an SME that is unknown or has no
    stored score (`sme_id`). The decision keeps the SME's latest stored score: `score`,
    `tier`, `ml_probability`, `model_version`, `ruleset_version`, `scored_at`, `score_id`.
    """
    session = get_session()
    fields = {decision["sme_id"]: ["sme_id"]}
    (recorded,) = _record(session, [_stored_form(decision)], fields)
    location = url_for("decisions.get_decision", decision_id=recorded["id"])
    return recorded, 201, {"Location": location}


@blp.route("/bulk", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(
    BulkDecisionsRequestSchema,
    description=inspect.cleandoc(BulkDecisionsRequestSchema.__doc__ or ""),
)
@blp.response(201, DecisionsSchema, description="All recorded.")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def create_decisions(body: dict):
    """Record many support decisions, all or none

    Each decision is checked as `POST /api/v1/decisions` checks one; every error of every
    decision is named at once by its index from 0 (`decisions.3.support_kind`), and if any
    decision is wrong, none is recorded. `shortlist` is the source the decisions share; a
    decision's own `shortlist` fields (its `position`) are laid over it.
    """
    session = get_session()
    decisions = [_stored_form(d, body.get("shortlist")) for d in body["decisions"]]
    fields: dict[str, list[str]] = {}
    for index, decision in enumerate(decisions):
        fields.setdefault(decision["sme_id"], []).append(f"decisions.{index}.sme_id")
    return {"decisions": _record(session, decisions, fields)}, 201


@blp.route("", methods=["GET"])
@require_scope(READ)
@blp.arguments(DecisionListQuerySchema, location="query", as_kwargs=True)
@blp.response(200, DecisionPageSchema, headers=LINK_HEADER)
def list_decisions(
    page: int | None = None,
    per_page: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    **filters,
):
    """List support decisions with their outcome labels

    Newest decision date first (then newest recorded); filter by `sme_id`, `cohort` (the
    decision's or the SME's), `sector`, `support_kind`, `decision`, the decision date
    (`decided_from`, `decided_until`, both inclusive) and `updated_since` (recorded or
    corrected at or after, or with a follow-up since that may change the label). Each has
    `exported_within_12m` (1, 0 or null while unknown) and the `label_basis` it rests on.
    Page by cursor (`limit`, then each page's `next_cursor`) or by number.
    """
    pager = Pager.from_query(
        "decisions",
        ("date", "id"),
        filters=filters,
        cursor=cursor,
        limit=limit,
        page=page,
        per_page=per_page,
    )
    items, total = store.list_decisions(
        get_session(),
        store.DecisionFilter(**filters),
        page=pager.page or 1,
        per_page=pager.fetch,
        after=pager.after,
        count=not pager.by_cursor,
    )
    items, info, headers = pager.body(
        items, lambda item: (item["decided_on"], item["id"]), total=total
    )
    return {"items": items, **info}, 200, headers


def _decision_or_404(session, decision_id: int) -> dict:
    decision = store.get_decision(session, decision_id) if decision_id <= MAX_ID else None
    if decision is None:
        _not_found(decision_id)
    return decision


@blp.route("/<int:decision_id>", methods=["GET"])
@require_scope(READ)
@blp.response(200, DecisionSchema)
@blp.alt_response(404, response="NOT_FOUND")
def get_decision(decision_id: int):
    """Read one support decision with its outcome label"""
    return _decision_or_404(get_session(), decision_id)


@blp.route("/<int:decision_id>", methods=["PATCH"])
@require_scope(SCORE)
@accepts(JSON)
@blp.doc(requestBody=_CHANGES_BODY)
@blp.response(200, DecisionSchema, description="Corrected.")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def update_decision(decision_id: int):
    """Correct a support decision

    Changes what was decided (`decision`, `support_kind`, `reason`, `decided_on`, ...),
    never the SME or the score it rested on (`sme_id` is 422). A field sent as null is
    cleared. The corrected decision is checked as a new one is, so changing `support` to
    `no_support` needs a `reason` and `support_kind: null`; every problem of the body and
    of the corrected decision is named at once (422).
    """
    session = get_session()
    stored = _decision_or_404(session, decision_id)
    body = request.get_json()
    try:
        changes = DecisionChangesSchema().load(body)
        errors: list[dict] = []
    except ValidationError as error:
        changes = error.valid_data if isinstance(error.valid_data, dict) else {}
        errors = schema_errors_to_list(error.messages)
    failed = {e["field"].split(".")[0] for e in errors}
    if isinstance(body, dict):
        failed |= {name for name in body if name not in changes}
    merged = {**stored, **changes}
    merged["decided_on"] = changes.get("decided_on") or dt.date.fromisoformat(stored["decided_on"])
    errors += [
        problem
        for problem in decision_problems(merged, today=office_today())
        if problem["field"] not in failed
    ]
    if errors:
        _invalid(errors)
    if not changes:
        return stored
    decision = store.update_decision(session, decision_id, changes, actor=current_actor())
    session.commit()
    return decision


@blp.route("/<int:decision_id>", methods=["DELETE"])
@require_scope(SCORE)
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
def delete_decision(decision_id: int):
    """Withdraw a support decision recorded by mistake

    The decision is deleted; the processing log keeps that it was recorded and withdrawn.
    """
    session = get_session()
    if decision_id > MAX_ID or not store.delete_decision(
        session, decision_id, actor=current_actor()
    ):
        _not_found(decision_id)
    session.commit()
    return None
