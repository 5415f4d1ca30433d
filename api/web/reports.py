"""Download links of the PDF readiness reports: one SME's (its score page) and a cohort's
(the cohort table, as filtered and ordered there, one page per SME).

A report is in ``?lang=`` (id or en), else in the page's language; it holds no personal
field. Each download is recorded in the processing log as ``report``, once per SME.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from api import store
from api.db import get_session
from api.services import reports
from api.web.auth import actor, role_required
from api.web.cohorts import table_rows
from api.web.i18n import LANGUAGES, current_language, t

bp = Blueprint("web_reports", __name__)


def _language() -> str:
    lang = request.args.get("lang")
    return lang if lang in LANGUAGES else current_language()


def _audit(session, sme_ids: list[str], **details: str) -> None:
    for sme_id in sme_ids:
        store.audit(session, actor=actor(), action="report", subject=sme_id, details=details)
    session.commit()


@bp.route("/smes/<sme_id>/report.pdf")
@role_required("officer")
def sme_report(sme_id: str):
    session = get_session()
    lang = _language()
    body = reports.sme_report(session, sme_id, lang=lang)
    if body is None:
        return render_template("errors/404.html"), 404
    _audit(session, [sme_id], lang=lang)
    return reports.pdf_response(body, f"{sme_id}-{lang}")


@bp.route("/cohorts/report.pdf")
@role_required("officer")
def cohort_report():
    session = get_session()
    cohort = request.args.get("cohort", "")
    if not cohort or not store.cohort_members(session, cohort):
        return render_template("errors/404.html"), 404
    lang = _language()
    sme_ids = [
        row["sme_id"]
        for row in table_rows(session, cohort, request.args)
        if row["score"] is not None
    ]
    try:
        body = reports.cohort_report(session, cohort, sme_ids, lang=lang)
    except reports.ReportTooLarge as exc:
        message = t("report.too_large", limit=exc.limit, count=exc.count)
        return render_template(
            "errors/422.html", errors=[{"field": cohort, "message": message}]
        ), 422
    _audit(session, sme_ids, cohort=cohort, lang=lang)
    return reports.pdf_response(body, f"{cohort}-{lang}")
