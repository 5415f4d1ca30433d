"""Export follow-ups: record them one by one or from a file, correct and withdraw them, the
template offices fill in, the follow-ups due, an SME's decisions and outcomes, and the
evaluation of the score against the outcomes.

"Today" is the office's date in WIB (UTC+7): follow-up dates may not be later, and the
worklist counts overdue days from it. Every change is in the processing log as
``followup.record`` (with its source: ``api`` or ``file:<name>``), ``followup.update`` or
``followup.delete``.
"""

from __future__ import annotations

import inspect

from flask import current_app, request, url_for
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import READ, SCORE, current_actor, require_scope
from api.http.evaluation_schemas import EvaluationQuerySchema, EvaluationSchema
from api.http.negotiation import JSON, MULTIPART, accepts
from api.http.outcome_fields import office_today
from api.http.outcome_schemas import (
    FollowUpReplacementSchema,
    FollowUpRequestSchema,
    FollowUpSchema,
    OutcomeImportSchema,
    SmeOutcomesSchema,
    TemplateQuerySchema,
    WorklistSchema,
)
from api.http.schemas import MAX_ID
from api.services import downloads, ingest, outcome_files
from api.services.outcomes import evaluation as evaluate_outcomes
from api.services.scorer import get_scorer
from scoring.contract.outcomes import outcome_record
from scoring.errors import FileFormatError

blp = Blueprint(
    "outcomes",
    __name__,
    url_prefix="/api/v1",
    description="Export follow-ups, outcome files and the evaluation of the score.",
)

_UPLOAD_BODY = {
    "required": True,
    "description": (
        "An outcome file (CSV `;` or `,` separated, XLSX, Parquet, JSON array or JSON Lines) "
        "in the multipart field `file`, with the columns of the template "
        "(`GET /api/v1/outcomes/template`)."
    ),
    "content": {
        MULTIPART: {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        }
    },
}
_TEMPLATE = "The outcome template: the header row (and, in XLSX, drop-downs and instructions)."
_REPEATED = "An identical follow-up of the SME was already recorded: that one, unchanged."


def _invalid(field: str, message: str):
    abort(422, message=message, errors=[{"field": field, "message": message}])


def _followup_or_404(session, followup_id: int) -> dict:
    followup = store.get_followup(session, followup_id) if followup_id <= MAX_ID else None
    if followup is None:
        abort(404, message=f"No follow-up with id {followup_id}.")
    return followup


def _as_stored(record: dict) -> dict:
    """A loaded follow-up as ``store.followup_dict`` shows its fields."""
    shown = outcome_record(record)
    for name in ("followup_date", "first_export_date"):
        if shown[name] is not None:
            shown[name] = shown[name].isoformat()
    return shown


@blp.route("/outcomes", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(
    FollowUpRequestSchema, description=inspect.cleandoc(FollowUpRequestSchema.__doc__ or "")
)
@blp.response(201, FollowUpSchema, description="Recorded.")
@blp.alt_response(200, schema=FollowUpSchema, description=_REPEATED)
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def create_followup(followup: dict):
    """Record an export follow-up of an SME

    `followup_date`, `exported` and `learned_via` are required; `first_export_date`,
    `destination_markets`, `export_value_usd` and `contracts` only when the SME exported.
    Dates may not be in the future (WIB) and the first export not after the follow-up.
    Every field error is named at once (422), and so is an unknown SME (`sme_id`). The
    same follow-up sent again (every field equal) is not stored twice: 200 with the one
    recorded before.
    """
    session = get_session()
    if not store.known_smes(session, [followup["sme_id"]]):
        _invalid("sme_id", outcome_files.UNKNOWN_SME)
    stored, repeated = store.record_followups(
        session, [followup], actor=current_actor(), source="api"
    )
    if repeated:
        wanted = _as_stored(followup)
        same = next(
            f
            for f in reversed(store.followups_of(session, followup["sme_id"]))
            if all(f[name] == value for name, value in wanted.items())
        )
        return same, 200
    session.commit()
    location = url_for("outcomes.get_followup", followup_id=stored[0]["id"])
    return stored[0], 201, {"Location": location}


@blp.route("/outcomes/<int:followup_id>", methods=["GET"])
@require_scope(READ)
@blp.response(200, FollowUpSchema)
@blp.alt_response(404, response="NOT_FOUND")
def get_followup(followup_id: int):
    """Read one export follow-up"""
    return _followup_or_404(get_session(), followup_id)


@blp.route("/outcomes/<int:followup_id>", methods=["PUT"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(
    FollowUpReplacementSchema, description=inspect.cleandoc(FollowUpReplacementSchema.__doc__ or "")
)
@blp.response(200, FollowUpSchema, description="Replaced.")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def replace_followup(followup: dict, followup_id: int):
    """Replace an export follow-up

    Every field but the SME (`sme_id` is 422: a follow-up stays with its SME); a field
    left out is emptied. Checked as a new follow-up is.
    """
    session = get_session()
    _followup_or_404(session, followup_id)
    replaced = store.update_followup(session, followup_id, followup, actor=current_actor())
    session.commit()
    return replaced


@blp.route("/outcomes/<int:followup_id>", methods=["DELETE"])
@require_scope(SCORE)
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
def delete_followup(followup_id: int):
    """Withdraw an export follow-up recorded by mistake

    The processing log keeps that it was recorded and withdrawn.
    """
    session = get_session()
    _followup_or_404(session, followup_id)
    store.delete_followup(session, followup_id, actor=current_actor())
    session.commit()
    return None


@blp.route("/smes/<string:sme_id>/outcomes", methods=["GET"])
@require_scope(READ)
@blp.response(200, SmeOutcomesSchema)
@blp.alt_response(404, response="NOT_FOUND")
def sme_outcomes(sme_id: str):
    """An SME's support decisions, with their outcome labels, and its follow-ups"""
    session = get_session()
    if not store.known_smes(session, [sme_id]):
        abort(404, message=f"No SME with sme_id {sme_id!r}.")
    where = store.DecisionFilter(sme_id=sme_id)
    decisions, _ = store.list_decisions(session, where, page=1, per_page=MAX_ID)
    return {
        "sme_id": sme_id,
        "decisions": list(reversed(decisions)),
        "followups": store.followups_of(session, sme_id),
    }


@blp.route("/outcomes/import", methods=["POST"])
@require_scope(SCORE)
@accepts(MULTIPART)
@blp.doc(requestBody=_UPLOAD_BODY)
@blp.response(201, OutcomeImportSchema, description="Read; every valid new row stored.")
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def import_followups():
    """Record the follow-ups of an outcome file

    Rows are read like a batch's: the header may sit below title rows, totals and notes
    rows are skipped (`skipped`), `Ya`/`Tidak`, Indonesian numbers (`12.500,50`), day-first
    dates (`14/03/2026`), date cells and values by their names in either language are
    understood. Every valid row about a known SME is stored; every invalid row (or one
    about an unknown SME) is reported with its row number, and in a spreadsheet its
    cells' column letters, and stores nothing. A row identical to a stored follow-up is
    counted in `already_recorded`, not stored again: importing a corrected file again
    adds only what is new. Dates may not be later than today in WIB. A file that is no
    follow-up table (unknown or missing columns, unreadable) or holds more rows than the
    service's `BATCH_MAX_ROWS` is 422; an upload over its size limit is 413.
    """
    upload = request.files.get("file")
    if upload is None:
        _invalid("file", "Missing data for required field.")
    session = get_session()
    try:
        summary = outcome_files.import_outcomes(
            session,
            upload.stream,
            filename=upload.filename or None,
            actor=current_actor(),
            today=office_today(),
            max_rows=current_app.config["BATCH_MAX_ROWS"],
        )
    except (ingest.TooManyRows, FileFormatError) as exc:
        session.rollback()
        _invalid("file", " ".join(str(exc).split()))
    session.commit()
    return summary, 201


@blp.route("/outcomes/template", methods=["GET"])
@require_scope(READ)
@blp.arguments(TemplateQuerySchema, location="query", as_kwargs=True)
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type=downloads.MEDIA_TYPES["xlsx"],
    description=_TEMPLATE,
)
@blp.alt_response(
    200,
    success=True,
    content_type=downloads.MEDIA_TYPES["csv"],
    schema={"type": "string"},
    description=_TEMPLATE,
)
def outcome_template(lang: str, format: str):
    """The outcome file template

    `format=xlsx` (default): the header row, drop-downs for `exported` and `learned_via`
    and a sheet explaining every column, in `lang` (`id`, default, or `en`). `format=csv`:
    the header row (UTF-8 with BOM, `;` separated). The columns are the contract's names
    in both languages; the values may be written in either.
    """
    body = outcome_files.outcome_template(lang=lang, format=format)
    filename = f"export-followups-{lang}.{format}"
    return current_app.response_class(
        body,
        mimetype=downloads.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blp.route("/outcomes/worklist", methods=["GET"])
@require_scope(READ)
@blp.response(200, WorklistSchema)
def followup_worklist():
    """Supported SMEs due a follow-up

    For each support decision whose outcome is still unknown: the latest milestone (3, 6
    or 12 months after it) that has passed with no follow-up on or after it. Most overdue
    first; days are counted to today in WIB.
    """
    today = office_today()
    items = store.followup_worklist(get_session(), today=today)
    return {"as_of": today.isoformat(), "items": items}


@blp.route("/outcomes/evaluation", methods=["GET"])
@require_scope(READ)
@blp.arguments(EvaluationQuerySchema, location="query", as_kwargs=True)
@blp.response(200, EvaluationSchema)
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def outcome_evaluation(decision: str, **filters):
    """Was the score right? Export rates, discrimination and calibration over the outcomes

    Over the decisions the filters select (`cohort`, `sector`, `support_kind`, the
    decision date), those of kind `decision` with a known outcome label: the export rate
    (with Wilson 95% intervals) by tier and by score band at decision time, the ROC AUC
    of the score and of the model's probability (bootstrap 95% intervals), the Brier
    score and reliability table, and the export rates of supported and not supported SMEs
    of the same score band. That comparison is an association, not the effect of support:
    the office chose whom to support. Below 30 known outcomes only the counts are given,
    with the message `too few outcomes to judge`.
    """
    tiers = [tier.id for tier in get_scorer().ruleset.tiers]
    return evaluate_outcomes(
        get_session(),
        store.DecisionFilter(**filters),
        tiers=tiers,
        decision=None if decision == "all" else decision,
    )
