"""Data protection pages (admins only): the processing log, and erasing an SME.

The processing log reads the same store query as ``GET /api/v1/processing-log``; the
dates of the form are whole UTC days (``until`` includes its day). Erasure asks for a
confirmation (a CSRF-protected form with a box to tick) and then calls the one erasure
function, ``store.erase_sme``, exactly as ``DELETE /api/v1/smes/<sme_id>`` does.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from api import store
from api.db import get_session
from api.web.auth import actor, role_required
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


@bp.route("/smes/<sme_id>/erase", methods=["GET", "POST"])
@role_required("admin")
def erase_sme(sme_id: str):
    """Confirm, then erase the SME as ``DELETE /api/v1/smes/<sme_id>`` does."""
    session = get_session()
    found = store.get_sme(session, sme_id, personal=False)
    if found is None:
        return render_template("errors/404.html"), 404
    name = found["profile"]["name"]
    if request.method == "GET":
        return render_template("protection/erase.html", sme_id=sme_id, name=name)
    if request.form.get("confirm") != "yes":
        error = t("protection.erase_unconfirmed")
        return render_template("protection/erase.html", sme_id=sme_id, name=name, error=error), 422
    store.erase_sme(session, sme_id, actor=actor())
    session.commit()
    flash(t("protection.erased", sme_id=sme_id))
    return redirect(url_for("web_auth.home"))
