"""Personal data: everything held on one SME (right of access) and the processing log."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_smorest import Blueprint, abort
from marshmallow import ValidationError, validates_schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api import store
from api.db import get_session
from api.http.auth import ADMIN, PERSONAL, current_actor, require_scope
from api.http.decision_schemas import HeldDecisionSchema
from api.http.outcome_schemas import FollowUpSchema
from api.http.paging import LINK_HEADER, PageInfoSchema, Pager, PagingQuerySchema, Timestamp
from api.http.schemas import ResponseSchema

blp = Blueprint(
    "protection",
    __name__,
    url_prefix="/api/v1",
    description="Personal data: subject access and the processing log.",
)


class EventSchema(ResponseSchema):
    id = ma.Integer(required=True)
    at = ma.String(required=True, metadata={"description": "UTC, ISO 8601."})
    actor = ma.String(
        required=True, metadata={"description": "`key:<key_id>`, `user:<username>` or `cli`."}
    )
    action = ma.String(
        required=True,
        metadata={"description": "score, view, change, export, erase, batch, purge, ..."},
    )
    subject = ma.String(
        required=True,
        allow_none=True,
        metadata={"description": "An sme_id (pseudonymous), `batch/<id>`, a key id ..."},
    )
    details = ma.Dict(required=True, allow_none=True)


class ProcessingLogQuerySchema(PagingQuerySchema):
    actor = ma.String(validate=mv.Length(min=1, max=300))
    action = ma.String(validate=mv.Length(min=1, max=64))
    subject = ma.String(validate=mv.Length(min=1, max=300))
    since = Timestamp(metadata={"description": "From this time on (inclusive)."})
    until = Timestamp(metadata={"description": "Before this time (exclusive)."})

    @validates_schema
    def _ordered(self, data: dict, **kwargs) -> None:
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise ValidationError("Must be later than since.", "until")


class ProcessingLogPageSchema(PageInfoSchema, ResponseSchema):
    items = ma.List(
        ma.Nested(EventSchema), required=True, metadata={"description": "Newest first."}
    )


class ExportBatchSchema(ResponseSchema):
    batch_id = ma.Integer(required=True)
    status = ma.String(required=True)
    cohort = ma.String(required=True, allow_none=True)
    filename = ma.String(required=True, allow_none=True)
    created_at = ma.String(required=True)
    row_errors = ma.List(ma.Dict(), required=True, metadata={"description": "Its rows only."})


class SubjectAccessSchema(ResponseSchema):
    """Everything held on one SME."""

    sme_id = ma.String(required=True)
    name = ma.String(required=True, allow_none=True)
    created_at = ma.String(required=True, allow_none=True)
    last_activity_at = ma.String(required=True, allow_none=True)
    personal_data_kept_until = ma.String(
        required=True,
        allow_none=True,
        metadata={"description": "When retention ends unless the SME is active again."},
    )
    profile = ma.Dict(required=True, allow_none=True)
    personal_data = ma.Dict(required=True, allow_none=True)
    cohorts = ma.List(ma.String(), required=True)
    scores = ma.List(ma.Dict(), required=True, metadata={"description": "Oldest first."})
    batches = ma.List(ma.Nested(ExportBatchSchema), required=True)
    decisions = ma.List(
        ma.Nested(HeldDecisionSchema),
        required=True,
        metadata={"description": "Support decisions, with the profile each rested on."},
    )
    followups = ma.List(
        ma.Nested(FollowUpSchema),
        required=True,
        metadata={"description": "Export follow-ups, oldest follow-up date first."},
    )
    invitations = ma.List(
        ma.Dict(),
        required=True,
        metadata={
            "description": "Self-assessment invitations to fill its profile (never their "
            "tokens), each with its drafts and submissions and their consent."
        },
    )
    processing_log = ma.List(ma.Nested(EventSchema), required=True)


@blp.route("/smes/<string:sme_id>/export", methods=["GET"])
@require_scope(PERSONAL)
@blp.response(200, SubjectAccessSchema)
@blp.alt_response(404, response="NOT_FOUND")
def subject_access(sme_id: str):
    """Everything held on one SME (the data subject's right of access)

    Profile, personal data, cohorts, every score, the batches it appeared in, the support
    decisions about it (each with the profile it rested on and its outcome label), its
    export follow-ups and the processing-log events about it. Needs the `personal` (or
    `admin`) scope; recorded in the processing log as `subject_access`.
    """
    session = get_session()
    held = store.subject_access(session, sme_id)
    if held is None:
        abort(404, message=f"No SME with sme_id {sme_id!r}.")
    held["personal_data_kept_until"] = None
    if held["last_activity_at"] is not None:
        days = current_app.config["PERSONAL_DATA_RETENTION_DAYS"]
        last = dt.datetime.fromisoformat(held["last_activity_at"].replace("Z", "+00:00"))
        held["personal_data_kept_until"] = (
            (last + dt.timedelta(days=days)).isoformat().replace("+00:00", "Z")
        )
    store.audit(session, actor=current_actor(), action="subject_access", subject=sme_id)
    session.commit()
    return held


@blp.route("/processing-log", methods=["GET"])
@require_scope(ADMIN)
@blp.arguments(ProcessingLogQuerySchema, location="query", as_kwargs=True)
@blp.response(200, ProcessingLogPageSchema, headers=LINK_HEADER)
def processing_log(
    page: int | None = None,
    per_page: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    **filters,
):
    """The processing log: who scored, viewed, changed, exported or erased what, and when

    Newest first; filter by `actor`, `action`, `subject` (an `sme_id`, `batch/<id>` ...)
    and a time range (`since` inclusive, `until` exclusive). Page by cursor (`limit`, then
    each page's `next_cursor`) or by number. Append-only: the database refuses changes to
    it. Needs the `admin` scope.
    """
    pager = Pager.from_query(
        "processing-log",
        ("id",),
        filters=filters,
        cursor=cursor,
        limit=limit,
        page=page,
        per_page=per_page,
    )
    items, total = store.processing_log(
        get_session(),
        **filters,
        page=pager.page or 1,
        per_page=pager.fetch,
        after=pager.after[0] if pager.after else None,
        count=not pager.by_cursor,
    )
    items, info, headers = pager.body(items, lambda item: (item["id"],), total=total)
    return {"items": items, **info}, 200, headers
