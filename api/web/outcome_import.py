"""Follow-ups from a file: ``/outcomes/import`` and the templates to fill in.

The import reads a CSV or XLSX file (``api.services.outcome_files``) and shows every
rejected row with its row number, column letter and value; the templates come in both
languages and formats. The routes are on the outcome pages' blueprint
(``api.web.outcomes.bp``).
"""

from __future__ import annotations

from flask import current_app, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from api.db import get_session
from api.services import downloads, ingest
from api.services.outcome_files import MISSING_COLUMNS, import_outcomes
from api.services.outcome_files import outcome_template as build_template
from api.web.auth import actor, role_required
from api.web.batches import SKIP_REASONS, file_error
from api.web.i18n import current_language, has_text, shipped_catalogue, t
from api.web.notices import OUTCOME_LABEL, notice_texts
from api.web.outcome_forms import outcome_message, today_wib
from api.web.outcomes import IMPORT_ROLE, bp
from scoring.errors import FileFormatError

#: What the outcome file reader says before the names of the required columns it misses.
_MISSING_COLUMNS = MISSING_COLUMNS.split("{source}", 1)[1].split("{names}", 1)[0]


def _shown_file_error(exc: FileFormatError) -> str:
    """Why an outcome file cannot be read, in the page's language where the reason is known."""
    if exc.code is None and _MISSING_COLUMNS in str(exc):
        names = str(exc).rsplit(_MISSING_COLUMNS, 1)[1]
        return t("outcomes.import.missing_columns", names=names)
    return file_error(exc)


def _import_page(*, result=None, error=None, status=200):
    return render_template("outcomes/import.html", result=result, error=error), status


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge):
    """An upload over ``MAX_CONTENT_LENGTH``, told on the import page (other forms of these
    pages are far below the limit: anything else that large gets the plain answer)."""
    if request.endpoint != "web_outcomes.import_file":
        return error
    limit = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    return _import_page(error=t("batch.too_large", megabytes=f"{limit:g}"), status=413)


def shown_row_error(error: dict) -> dict:
    """A rejected row's field error as the page shows it: the field's label in the page's
    language, the cell (column letter and value, when the file has them) and the message."""
    name = error.get("field", "")
    key = f"outcomes.field.{name}"
    column, value = error.get("column"), error.get("value")
    if column and value is not None:
        cell = t("batch.cell_value", column=column, value=value)
    else:
        cell = t("batch.cell", column=column) if column else ""
    return {
        "label": t(key) if has_text(key) else name,
        "cell": cell,
        "message": outcome_message(error.get("message", "")),
    }


@bp.route("/import", methods=["GET", "POST"])
@role_required(IMPORT_ROLE)
def import_file():
    """Follow-ups from a CSV or XLSX file: the counts and every rejected row."""
    if request.method == "GET":
        return _import_page()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_page(error=t("batch.no_file"), status=422)
    db = get_session()
    try:
        result = import_outcomes(
            db,
            upload.stream,
            filename=upload.filename,
            actor=actor(),
            today=today_wib(),
            max_rows=current_app.config["BATCH_MAX_ROWS"],
        )
    except ingest.TooManyRows as exc:
        return _import_page(error=t("batch.too_many_rows", limit=exc.limit), status=422)
    except FileFormatError as exc:
        reason = _shown_file_error(exc)
        return _import_page(error=t("outcomes.import.unreadable", reason=reason), status=422)
    db.commit()
    for row in result["errors"]:
        row["shown"] = [shown_row_error(e) for e in row["errors"]]
    for row in result["skipped"]:
        row["reason"] = t(SKIP_REASONS[row["reason"]]) if row["reason"] in SKIP_REASONS else ""
    catalogue = shipped_catalogue(current_language())
    result["notice_texts"] = notice_texts(result["notices"], catalogue, label_key=OUTCOME_LABEL)
    return _import_page(result=result)


@bp.route("/template.<any(id, en):lang>.<any(csv, xlsx):format>")
@role_required(IMPORT_ROLE)
def template(lang: str, format: str):
    """The follow-up file to fill in, in ``lang`` (the XLSX's drop-downs and guide)."""
    body = build_template(lang=lang, format=format)
    name = f"followups-template-{lang}.{format}"
    return current_app.response_class(
        body,
        mimetype=downloads.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
