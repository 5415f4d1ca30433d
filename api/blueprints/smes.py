"""SMEs: list, read (personal data only for the `personal` scope), score history, erasure."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import ADMIN, PERSONAL, READ, current_actor, has_scope, require_scope
from api.http.paging import LINK_HEADER, Pager
from api.http.schemas import (
    ScoreHistoryQuerySchema,
    ScoreHistorySchema,
    SmeListQuerySchema,
    SmePageSchema,
    SmeSchema,
)

blp = Blueprint("smes", __name__, url_prefix="/api/v1/smes", description="SMEs and their scores.")


def _not_found(sme_id: str):
    abort(404, message=f"No SME with sme_id {sme_id!r}.")


@blp.route("", methods=["GET"])
@require_scope(READ)
@blp.arguments(SmeListQuerySchema, location="query", as_kwargs=True)
@blp.response(200, SmePageSchema, headers=LINK_HEADER)
def list_smes(
    page: int | None = None,
    per_page: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    **filters,
):
    """List SMEs with their latest score

    Ordered by `sme_id`; filter by `sector`, latest `tier`, `cohort` and `updated_since`
    (changed at or after: a new profile, score or cohort). No personal data. Page by
    cursor (`limit`, then each page's `next_cursor`) or by number (`page`, `per_page`).
    """
    pager = Pager.from_query(
        "smes",
        ("sme_id",),
        filters=filters,
        cursor=cursor,
        limit=limit,
        page=page,
        per_page=per_page,
    )
    after = pager.after[0] if pager.after else None
    items, total = store.list_smes(
        get_session(),
        **filters,
        page=pager.page or 1,
        per_page=pager.fetch,
        after=after,
        count=not pager.by_cursor,
    )
    items, info, headers = pager.body(items, lambda item: (item["sme_id"],), total=total)
    return {"items": items, **info}, 200, headers


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
@blp.arguments(ScoreHistoryQuerySchema, location="query", as_kwargs=True)
@blp.response(200, ScoreHistorySchema, headers=LINK_HEADER)
@blp.alt_response(404, response="NOT_FOUND")
def score_history(
    sme_id: str,
    cursor: str | None = None,
    limit: int | None = None,
    updated_since: dt.datetime | None = None,
):
    """Score history of one SME, oldest first

    At most `limit` scores a page (the service's PAGE_SIZE_MAX, 500, unless less is
    asked for); `next_cursor` and the `Link` header lead to the next. `updated_since`:
    only the scores scored at or after that time.
    """
    pager = Pager.from_query(
        "scores",
        ("id",),
        filters={"sme_id": sme_id, "updated_since": updated_since},
        cursor=cursor,
        limit=limit or current_app.config["PAGE_SIZE_MAX"],
        by_cursor=True,
    )
    rows = store.score_history_page(
        get_session(),
        sme_id,
        limit=pager.fetch,
        after=pager.after[0] if pager.after else None,
        scored_since=updated_since,
    )
    if rows is None:
        _not_found(sme_id)
    rows, info, headers = pager.body(rows, lambda row: (row[0],))
    body = {"sme_id": sme_id, "scores": [record for _, record in rows], **info}
    return body, 200, headers


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
