"""The processing log as a staff page (admins only): who did what to which subject, when.

Reads the same store query as ``GET /api/v1/processing-log``; the dates of the form are
whole UTC days (``until`` includes its day).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, render_template, request

from api import store
from api.db import get_session
from api.web.auth import role_required
from api.web.i18n import t

bp = Blueprint("protection_web", __name__, url_prefix="/admin")
FILTERS = ("actor", "action", "subject")


def _day(text: str) -> dt.datetime | None:
    """Midnight UTC of a YYYY-MM-DD date; None if blank. Raises ValueError if malformed."""
    if not text:
        return None
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)


@bp.route("/processing-log")
@role_required("admin")
def processing_log():
    values = {name: request.args.get(name, "").strip() for name in (*FILTERS, "since", "until")}
    filters = {name: values[name] or None for name in FILTERS}
    error = None
    try:
        since = _day(values["since"])
        until = _day(values["until"])
    except ValueError:
        since = until = None
        error = t("protection.bad_date")
    if until is not None:
        until += dt.timedelta(days=1)
    page = min(max(1, request.args.get("page", 1, type=int) or 1), 1_000_000)  # as the API
    per_page = current_app.config["PAGE_SIZE_DEFAULT"]
    events, total = store.processing_log(
        get_session(), since=since, until=until, page=page, per_page=per_page, **filters
    )
    return render_template(
        "protection/processing_log.html",
        events=events,
        total=total,
        page=page,
        pages=max(1, -(-total // per_page)),
        values=values,
        query={name: value for name, value in values.items() if value},
        error=error,
    ), (422 if error else 200)
