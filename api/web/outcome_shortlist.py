"""The decisions of a whole shortlist recorded in one step: ``/outcomes/shortlist``.

The shortlist page embeds the form (``shortlist_decision_form``): chosen SMEs supported,
near misses and the excluded not supported with the shortlist's reason; all rows are
checked first and nothing is stored unless every row is valid. A form sent twice (a
reload) records its decisions once. The routes are on the outcome pages' blueprint
(``api.web.outcomes.bp``).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.datastructures import MultiDict

from api import store
from api.db import get_session
from api.web.auth import actor, role_required
from api.web.i18n import t
from api.web.outcome_forms import (
    DECIDED_BY_MAX,
    add_error,
    new_decision_values,
    read_choice,
    read_day,
    read_text,
    today_wib,
)
from api.web.outcomes import DECIDE_ROLE, bp
from api.web.shortlists import explained_shortlist
from scoring.contract import outcomes as C

#: Shortlist submissions remembered per session, so that sending a form twice (a reload)
#: does not record its decisions twice.
SUBMISSIONS_KEPT = 20
_SUBMISSIONS = "outcome_submissions"
#: The fields of one shortlist row; the date, who decided and a shared kind are the form's.
ROW_FIELDS = ("decision", "support_kind", "support_other", "reason")
SHARED_FIELDS = ("decided_on", "decided_by", "support_kind", "support_other")
#: The parts of a shortlist, in the order the page shows them, and the status each gives.
SHORTLIST_PARTS = (("selected", "selected"), ("near_misses", "near_miss"), ("excluded", "excluded"))


def shortlist_rows(shortlist: dict) -> list[dict]:
    """Every SME on the shortlist in the page's order, with its status and the decision the
    form proposes: support for the chosen, no support with the shortlist's reason for the
    near misses and the excluded."""
    rows = []
    for part, status in SHORTLIST_PARTS:
        for entry in shortlist[part]:
            if status == "selected":
                decision, reason = "support", ""
            elif status == "near_miss":
                decision = "no_support"
                reason = t("outcomes.shortlist.reason_no_place", why=entry["why"])
            else:
                decision, reason = "no_support", entry["why"]
            rows.append(
                {
                    "sme_id": entry["sme_id"],
                    "name": entry.get("name"),
                    "status": status,
                    "position": entry.get("position"),
                    "score": entry.get("score"),
                    "tier": entry.get("tier"),
                    "why": entry["why"],
                    "values": {
                        "decision": decision,
                        "support_kind": "",
                        "support_other": "",
                        "reason": reason,
                    },
                }
            )
    return rows


def shortlist_decision_form(shortlist: dict) -> dict:
    """The shortlist form as first shown: the proposed rows and the shared fields."""
    shared = new_decision_values()
    return {
        "rows": shortlist_rows(shortlist),
        "shared": {name: shared.get(name, "") for name in SHARED_FIELDS},
        "errors": {},
        "row_errors": {},
        "general": None,
    }


def _shortlist_source(wanted: dict, row: dict) -> dict:
    return {
        "cohort": wanted["cohort"],
        "capacity": wanted["capacity"],
        "target_market": wanted["target_market"],
        "max_per_sector": wanted["max_per_sector"],
        "position": row["position"],
        "status": row["status"],
    }


def _read_shortlist_row(
    row: dict, shared: dict, wanted: dict, *, decided_on, decided_by
) -> tuple[dict | None, dict[str, list[str]]]:
    """The decision of one shortlist row (None if the row is left out) and its problems."""
    values = row["values"]
    errors: dict[str, list[str]] = {}
    decision = read_choice(values, "decision", C.DECISIONS, errors)
    kind = read_choice(values, "support_kind", C.SUPPORT_KINDS, errors)
    other = read_text(values, "support_other", errors, limit=C.TEXT_MAX)
    reason = read_text(values, "reason", errors, limit=C.TEXT_MAX)
    if decision is None and not errors:
        return None, {}
    if decision == "support":
        kind = kind or shared["support_kind"]
        if kind == "other":
            other = other or shared["support_other"]
    record = {
        "sme_id": row["sme_id"],
        "decision": decision,
        "support_kind": kind,
        "support_other": other,
        "target_market": wanted["target_market"],
        "decided_on": decided_on,
        "decided_by": decided_by,
        "reason": reason,
        "cohort": wanted["cohort"] or None,
        "shortlist": _shortlist_source(wanted, row),
    }
    # The date is the form's, checked once for every row: not judged again here.
    for problem in C.decision_problems({**record, "decided_on": None}, today=today_wib()):
        if problem["field"] not in errors:
            add_error(errors, problem["field"], problem["message"])
    return record, errors


def _read_shortlist_form(form: MultiDict, rows: list[dict], wanted: dict) -> tuple[list, dict]:
    """The decisions the shortlist form asks for, and its problems: ``{"errors"}`` of the
    shared fields, ``{"row_errors"}`` per row index, ``{"general"}`` for the whole form.
    Fills every row's ``values`` with what was typed."""
    today = today_wib()
    shared_values = {name: form.get(name, "").strip() for name in SHARED_FIELDS}
    errors: dict[str, list[str]] = {}
    decided_on = read_day(shared_values, "decided_on", errors, today=today)
    decided_by = read_text(shared_values, "decided_by", errors, limit=DECIDED_BY_MAX, required=True)
    shared = {
        "support_kind": read_choice(shared_values, "support_kind", C.SUPPORT_KINDS, errors),
        "support_other": read_text(shared_values, "support_other", errors, limit=C.TEXT_MAX),
    }
    problems: dict[str, Any] = {
        "errors": errors,
        "row_errors": {},
        "general": None,
        "shared": shared_values,
    }
    posted = [form.get(f"sme_id-{i}", "") for i in range(len(rows))]
    if posted != [row["sme_id"] for row in rows] or form.get(f"sme_id-{len(rows)}"):
        problems["general"] = t("outcomes.shortlist.changed")
        return [], problems
    records = []
    for i, row in enumerate(rows):
        row["values"] = {name: form.get(f"{name}-{i}", "").strip() for name in ROW_FIELDS}
        record, row_errors = _read_shortlist_row(
            row, shared, wanted, decided_on=decided_on, decided_by=decided_by
        )
        if row_errors:
            problems["row_errors"][i] = row_errors
        elif record is not None:
            records.append(record)
    if not records and not problems["row_errors"] and not errors:
        problems["general"] = t("outcomes.shortlist.nothing")
    return records, problems


def _submission_used(token: str) -> bool:
    return bool(token) and token in session.get(_SUBMISSIONS, [])


def _remember_submission(token: str) -> None:
    if token:
        kept = [s for s in session.get(_SUBMISSIONS, []) if s != token]
        session[_SUBMISSIONS] = [*kept, token][-SUBMISSIONS_KEPT:]


def _new_submission() -> str:
    """A token of one showing of the shortlist form."""
    return secrets.token_urlsafe(16)


#: The query of a shortlist (``web_shortlists.build``), which the decisions' pages repeat.
SHORTLIST_QUERY = ("cohort", "capacity", "target_market", "max_per_sector")


def _shortlist_query() -> dict[str, str]:
    return {name: value for name, value in request.args.items() if name in SHORTLIST_QUERY}


def _shortlist_page(wanted, shortlist, form: dict, status: int = 200):
    return render_template(
        "outcomes/shortlist_decisions.html",
        wanted=wanted,
        shortlist=shortlist,
        decision_form=form,
        shortlist_query=_shortlist_query(),
        submission=_new_submission(),
    ), status


@bp.route("/shortlist", methods=["GET", "POST"])
@role_required(DECIDE_ROLE)
def record_shortlist():
    """The decisions of the shortlist in the query, recorded in one step."""
    db = get_session()
    wanted, problems, shortlist = explained_shortlist(db, request.args)
    if problems or shortlist is None:
        return render_template("errors/404.html"), 404
    form = shortlist_decision_form(shortlist)
    if request.method == "GET":
        return _shortlist_page(wanted, shortlist, form)
    submission = request.form.get("submission", "")
    if _submission_used(submission):
        flash(t("outcomes.shortlist.already_sent"))
        return redirect(url_for("web_shortlists.build", **_shortlist_query()))
    records, read = _read_shortlist_form(request.form, form["rows"], wanted)
    form.update(read)
    if read["general"] or read["errors"] or read["row_errors"]:
        return _shortlist_page(wanted, shortlist, form, 422)
    try:
        recorded = store.record_decisions(db, records, actor=actor())
    except store.UnscoredError:
        form["general"] = t("outcomes.shortlist.changed")
        return _shortlist_page(wanted, shortlist, form, 422)
    db.commit()
    _remember_submission(submission)
    names = {row["sme_id"]: row["name"] for row in form["rows"]}
    for decision in recorded:
        decision["name"] = names.get(decision["sme_id"])
    return render_template(
        "outcomes/shortlist_recorded.html",
        wanted=wanted,
        recorded=recorded,
        shortlist_query=_shortlist_query(),
    )


@bp.record_once
def _template_helpers(state) -> None:
    """The shortlist page embeds the decisions form."""
    state.app.jinja_env.globals.update(
        shortlist_decision_form=shortlist_decision_form,
        new_submission=_new_submission,
    )
