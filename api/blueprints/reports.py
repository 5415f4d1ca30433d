"""Readiness reports as PDF: one SME's, and a cohort's with one page per SME.

The same documents as the staff pages' download links (``api.services.reports``), for
the `read` scope: no personal field is in them. Each download is recorded in the
processing log as `report`, once per SME reported on.
"""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import READ, current_actor, require_scope
from api.http.report_schemas import (
    COHORT_LIMIT,
    PDF_BODY,
    PDF_MEDIA_TYPE,
    CohortReportQuerySchema,
    ReportQuerySchema,
)
from api.services import reports

OCTET_STREAM = "application/octet-stream"


def _asked_type() -> str:
    """``application/pdf``, or the generic binary type for a client that asks only for it."""
    return request.accept_mimetypes.best_match([PDF_MEDIA_TYPE, OCTET_STREAM], PDF_MEDIA_TYPE)


blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/api/v1",
    description="Readiness reports as PDF, to hand to an SME or to file.",
)


@blp.route("/smes/<string:sme_id>/report.pdf", methods=["GET"])
@require_scope(READ)
@blp.arguments(ReportQuerySchema, location="query", as_kwargs=True)
@blp.response(
    200,
    PDF_BODY,
    content_type=PDF_MEDIA_TYPE,
    description="The report, one A4 page.",
)
@blp.alt_response(
    200,
    success=True,
    content_type=OCTET_STREAM,
    schema=PDF_BODY,
    description="The same PDF, for clients that only take generic binary bodies.",
)
@blp.alt_response(404, response="NOT_FOUND")
def sme_report(sme_id: str, lang: str):
    """One SME's readiness report (PDF)

    Its latest score and tier, category scores against its sector's average, criteria
    met and missed, readiness per target market, the action plan with each step's gain
    and advice for the sector, the model's main factors in words, the model and ruleset
    versions, the scoring date (WIB) and the office's name and contact. The business
    name is the only name in it: no owner, contact or district.
    """
    session = get_session()
    body = reports.sme_report(session, sme_id, lang=lang)
    if body is None:
        abort(404, message=f"No scored SME with sme_id {sme_id!r}.")
    store.audit(
        session, actor=current_actor(), action="report", subject=sme_id, details={"lang": lang}
    )
    session.commit()
    return reports.pdf_response(body, f"{sme_id}-{lang}", mimetype=_asked_type())


@blp.route("/cohorts/<path:cohort>/report.pdf", methods=["GET"])
@require_scope(READ)
@blp.arguments(CohortReportQuerySchema, location="query", as_kwargs=True)
@blp.response(
    200,
    PDF_BODY,
    content_type=PDF_MEDIA_TYPE,
    description="The report, one A4 page per SME, by sme_id. " + COHORT_LIMIT,
)
@blp.alt_response(
    200,
    success=True,
    content_type=OCTET_STREAM,
    schema=PDF_BODY,
    description="The same PDF, for clients that only take generic binary bodies.",
)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def cohort_report(cohort: str, lang: str, sector: str | None = None, tier: str | None = None):
    """A cohort's readiness reports (PDF, one page per SME)

    Each SME of the cohort (optionally only one `sector` or `tier`), by `sme_id`, on a
    page of its own as `GET /api/v1/smes/{sme_id}/report.pdf` draws it.
    """
    session = get_session()
    members = store.cohort_members(session, cohort)
    if not members:
        abort(404, message=f"No cohort named {cohort!r}.")
    rows = [
        row
        for row in store.cohort_rows(session, cohort)
        if row["score"] is not None
        and (sector is None or row["sector"] == sector)
        and (tier is None or row["tier"] == tier)
    ]
    sme_ids = [row["sme_id"] for row in rows]
    try:
        body = reports.cohort_report(session, cohort, sme_ids, lang=lang)
    except reports.ReportTooLarge as exc:
        abort(422, message=str(exc))
    for sme_id in sme_ids:
        store.audit(
            session,
            actor=current_actor(),
            action="report",
            subject=sme_id,
            details={"cohort": cohort, "lang": lang},
        )
    session.commit()
    return reports.pdf_response(body, f"{cohort}-{lang}", mimetype=_asked_type())
