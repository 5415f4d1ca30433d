"""Batch upload: a file of profiles scored through ``api.services.batch_service`` like the API's
``POST /api/v1/batches``, its counts and rejected rows, results and a template to fill.

A large file is queued by the batch service; its page then polls ``progress`` (a small
JSON route reading ``store.get_batch``) until the batch is finished.
"""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from api import store
from api.db import get_session
from api.services import batch_service, downloads, ingest
from api.web.auth import actor, role_required
from api.web.i18n import current_language, error_message, has_text, shipped_catalogue, t
from api.web.notices import notice_texts
from scoring.contract.fields import ALL_COLUMNS, FIELD_BY_NAME, Kind
from scoring.contract.sheets import NOTE_ROW, TOTAL_ROW
from scoring.errors import FileFormatError

bp = Blueprint("web_batches", __name__, url_prefix="/batches")

MAX_COHORT_LENGTH = 100
#: The example row of the template spreadsheet (a made-up SME).
EXAMPLE_PROFILE = {
    "sme_id": "BDG-2026-001",
    "name": "CV Contoh Kriya Parahyangan",
    "sector": "handicraft",
    "hs_code": "460219",
    "legal_form": "cv",
    "year_established": 2012,
    "employees": 14,
    "annual_revenue_idr": 1_250_000_000,
    "monthly_capacity_units": 800,
    "capacity_utilization": 0.6,
    "has_quality_control": True,
    "can_supply_continuously": True,
    "has_nib": True,
    "has_npwp": True,
    "trademark_registered": False,
    "certifications": ["SNI"],
    "has_exported": False,
    "export_years": 0,
    "export_value_usd_last_year": 0,
    "export_markets": [],
    "target_markets": ["JP", "AU"],
    "foreign_buyer_contacts": 2,
    "trade_fairs_last_3y": 1,
    "english_capable_staff": 1,
    "completed_export_training": True,
    "has_website": True,
    "has_english_catalog": False,
    "on_b2b_marketplace": False,
    "social_media_active": True,
    "export_packaging": False,
    "knows_incoterms": False,
    "has_export_pricing": False,
    "has_logistics_partner": False,
    "access_to_finance": True,
    "owner_gender": "undisclosed",
    "owner_name": "Nama Pemilik",
    "contact_phone": "0812-0000-0000",
    "contact_email": "pemilik@example.com",
    "district": "Coblong",
}


def _batch_or_none(batch_id: int) -> dict | None:
    return store.get_batch(get_session(), batch_id)


def _upload_page(error: str | None = None, cohort: str = "", status: int = 200):
    return render_template("batch_upload.html", error=error, cohort=cohort), status


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge):
    """An upload over ``MAX_CONTENT_LENGTH``, told on the upload page (not as JSON)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    return _upload_page(t("batch.too_large", megabytes=f"{limit:g}"), status=413)


@bp.route("", methods=["GET", "POST"])
@role_required("lead")
def upload():
    if request.method == "GET":
        return _upload_page()
    upload = request.files.get("file")
    cohort = request.form.get("cohort", "").strip()
    if len(cohort) > MAX_COHORT_LENGTH:
        return _upload_page(
            error_message(f"Longer than maximum length {MAX_COHORT_LENGTH}."), cohort, 422
        )
    if upload is None or not upload.filename:
        return _upload_page(t("batch.no_file"), cohort, 422)
    try:
        batch = batch_service.submit_file(
            get_session(),
            upload.stream,
            filename=upload.filename,
            cohort=cohort or None,
            actor=actor(),
            lang=current_language(),
        )
    except ingest.TooManyRows as exc:
        return _upload_page(t("batch.too_many_rows", limit=exc.limit), cohort, 422)
    except FileFormatError as exc:
        return _upload_page(t("batch.unreadable", reason=file_error(exc)), cohort, 422)
    return redirect(url_for("web_batches.batch", batch_id=batch["batch_id"]))


@bp.route("/<int:batch_id>")
@role_required("lead")
def batch(batch_id: int):
    found = _batch_or_none(batch_id)
    if found is None:
        return render_template("errors/404.html"), 404
    for row in found["row_errors"]:
        for error in row.get("errors", []):
            error.update(_shown_error(error))
    for row in found.get("skipped", []):
        row["reason"] = t(SKIP_REASONS[row["reason"]]) if row["reason"] in SKIP_REASONS else ""
    found["notice_texts"] = notice_texts(
        found.get("notices", []), shipped_catalogue(current_language())
    )
    return render_template("batch.html", batch=found)


#: Catalogue keys of the reasons ``scoring.contract.sheets`` gives for a skipped row.
SKIP_REASONS = {TOTAL_ROW: "batch.skip_reason.total", NOTE_ROW: "batch.skip_reason.note"}


def file_error(exc: FileFormatError) -> str:
    """Why a file cannot be read, in the page language when the problem has a code; other
    problems (rare ones: damaged or hostile files) are given as a technical detail, said to
    be in English."""
    key = f"batch.file_error.{exc.code}"
    if exc.code and has_text(key):
        return t(key, **exc.params)
    return t("batch.file_error.other", detail=" ".join(str(exc).split()))


def _shown_error(error: dict) -> dict:
    """A stored field error as the page shows it: the field's label in the page language, the
    spreadsheet cell (column letter, and the value unless personal) and the message."""
    name = error.get("field", "")
    label_key = f"field.{name}.label"
    column, value = error.get("column"), error.get("value")
    if column and value is not None:
        cell = t("batch.cell_value", column=column, value=value)
    else:
        cell = t("batch.cell", column=column) if column else ""
    return {
        "label": t(label_key) if has_text(label_key) else name,
        "cell": cell,
        "message": error_message(error.get("message", "")),
    }


@bp.route("/<int:batch_id>/progress")
@role_required("lead")
def progress(batch_id: int):
    found = _batch_or_none(batch_id)
    if found is None:
        return jsonify({"status": "unknown"}), 404
    return jsonify({"status": found["status"], **found["progress"]})


@bp.route("/<int:batch_id>/results.<any(csv, xlsx):format>")
@role_required("lead")
def results(batch_id: int, format: str):
    session = get_session()
    found = store.get_batch(session, batch_id)
    if found is None or found["status"] != "complete":
        return render_template("errors/404.html"), 404
    return downloads.batch_results_response(session, found, actor=actor(), format=format)


def _cell(name: str, value):
    """A value as an office would type it in a spreadsheet cell."""
    kind = FIELD_BY_NAME[name].kind
    if kind is Kind.BOOL:
        return t("common.yes") if value else t("common.no")
    if kind is Kind.ENUM_LIST:
        return "; ".join(value)
    return value


@bp.route("/template.<any(csv, xlsx):format>")
@role_required("lead")
def template(format: str):
    """An empty upload file with every contract column and one example row."""
    frame = pd.DataFrame(
        [{name: _cell(name, EXAMPLE_PROFILE[name]) for name in ALL_COLUMNS}],
        columns=list(ALL_COLUMNS),
    )
    return downloads.table_response(frame, format=format, filename="sme-profiles-template")
