"""What the office did and what happened: support decisions and export follow-ups on the
staff pages.

- ``/outcomes/shortlist``: the decisions of a whole shortlist recorded in one step (the
  shortlist page embeds the form): chosen SMEs supported, near misses and the excluded not
  supported with the shortlist's reason; all rows are checked first and nothing is stored
  unless every row is valid.
- The SME page's section (``sme_section``, included by ``sme.html``): its decisions with the
  score they rested on and their derived label, its follow-ups, and the forms to record
  both; a decision or follow-up is corrected on its own page and withdrawn after a
  confirmation.
- ``/outcomes/worklist``: supported SMEs due a follow-up 3, 6 or 12 months after the
  decision (``store.followup_worklist``), most overdue first.
- ``/outcomes/import``: follow-ups from a CSV or XLSX file (``api.services.outcome_files``),
  every rejected row shown with its row number, column letter and value; the templates in
  both languages and formats.

Roles: leads (and administrators) decide, so they record, correct and withdraw decisions,
import files and delete follow-ups; officers do the follow-up calls and visits, so they
record and correct follow-ups and open the worklist. Values are checked by the outcome
contract (``scoring.contract.outcomes``), whose English messages are worded here in the
page's language. Nothing typed (notes, reasons) is logged; the store's processing-log
events name the SME and the record only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from api import store
from api.db import get_session
from api.services import downloads, ingest
from api.services.outcome_files import MISSING_COLUMNS, UNKNOWN_SME, import_outcomes
from api.services.outcome_files import outcome_template as build_template
from api.web.auth import actor, current_user, role_required
from api.web.batches import SKIP_REASONS, file_error
from api.web.i18n import (
    WIB,
    current_language,
    error_message,
    form_value,
    has_text,
    local_time,
    number,
    t,
)
from api.web.shortlists import explained_shortlist
from scoring.contract import outcomes as C
from scoring.contract.cells import number_from_text
from scoring.contract.fields import MARKETS
from scoring.contract.messages import MISSING, TOO_LONG, UNKNOWN_VALUE
from scoring.errors import FileFormatError

bp = Blueprint("web_outcomes", __name__, url_prefix="/outcomes")

#: The lowest role that records, corrects and withdraws support decisions.
DECIDE_ROLE = "lead"
#: The lowest role that records and corrects follow-ups and opens the worklist.
FOLLOWUP_ROLE = "officer"
#: The lowest role that deletes a follow-up (a correction is an officer's; removal is not).
DELETE_FOLLOWUP_ROLE = "lead"
#: The lowest role that imports a follow-up file and downloads its templates.
IMPORT_ROLE = "lead"

#: "Who decided" is a name or a committee, not a paragraph.
DECIDED_BY_MAX = 200
#: The SME page lists at most this many decisions (newest first).
DECISIONS_SHOWN = 200
#: Shortlist submissions remembered per session, so that sending a form twice (a reload)
#: does not record its decisions twice.
SUBMISSIONS_KEPT = 20
_SUBMISSIONS = "outcome_submissions"

DECISION_FIELDS = (
    "decision",
    "support_kind",
    "support_other",
    "target_market",
    "decided_on",
    "decided_by",
    "reason",
)
FOLLOWUP_FIELDS = C.OUTCOME_COLUMNS[1:]
#: The fields of one shortlist row; the date, who decided and a shared kind are the form's.
ROW_FIELDS = ("decision", "support_kind", "support_other", "reason")
SHARED_FIELDS = ("decided_on", "decided_by", "support_kind", "support_other")
#: The parts of a shortlist, in the order the page shows them, and the status each gives.
SHORTLIST_PARTS = (("selected", "selected"), ("near_misses", "near_miss"), ("excluded", "excluded"))

#: Catalogue keys of the outcome contract's own messages (the others are the profile
#: contract's, worded by ``i18n.error_message``).
OUTCOME_MESSAGES = {
    C.NOT_A_DATE: "outcomes.error.not_a_date",
    C.IN_THE_FUTURE: "outcomes.error.in_the_future",
    C.TOO_EARLY: "outcomes.error.too_early",
    C.EXPORT_AFTER_FOLLOWUP: "outcomes.error.export_after_followup",
    C.ONLY_WHEN_EXPORTED: "outcomes.error.only_when_exported",
    C.REQUIRED_FOR_OTHER: "outcomes.error.required_for_other",
    C.REQUIRED_FOR_SUPPORT: "outcomes.error.required_for_support",
    C.REQUIRED_FOR_NO_SUPPORT: "outcomes.error.required_for_no_support",
    C.ONLY_FOR_SUPPORT: "outcomes.error.only_for_support",
    UNKNOWN_SME: "outcomes.error.unknown_sme",
}


# --- wording --------------------------------------------------------------------------------


def today_wib() -> dt.date:
    """Today in Western Indonesian Time: the office's day, whatever the server's zone."""
    return dt.datetime.now(WIB).date()


def local_date(value: str | dt.date | None) -> str:
    """A day as the page's language writes it (``14 Mar 2026``, ``14 Agu 2026``); a dash
    for none. The month names are those of ``i18n.local_time``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    moment = dt.datetime.combine(value, dt.time(12), tzinfo=WIB)
    return local_time(moment).rsplit(" ", 2)[0]


def outcome_name(section: str, value: str | None) -> str:
    """The name of a decision, support kind or way of learning in the page's language."""
    if value is None or value == "":
        return "–"
    return C.outcome_labels(current_language())[section].get(value, value)


def outcome_message(message: str) -> str:
    """A message of the outcome contract (or of the outcome file reader) in the page's
    language; as is if not recognised."""
    key = OUTCOME_MESSAGES.get(message)
    if key is not None:
        return t(key)
    return error_message(message)


def outcome_amount(value: float | None) -> str:
    """An amount (an export value) grouped as the page's language writes it, with cents
    only when it has them."""
    if value is None:
        return number(None)
    return number(value, 0 if float(value).is_integer() else 2)


#: What the outcome file reader says before the names of the required columns it misses.
_MISSING_COLUMNS = MISSING_COLUMNS.split("{source}", 1)[1].split("{names}", 1)[0]


def _shown_file_error(exc: FileFormatError) -> str:
    """Why an outcome file cannot be read, in the page's language where the reason is known."""
    if exc.code is None and _MISSING_COLUMNS in str(exc):
        names = str(exc).rsplit(_MISSING_COLUMNS, 1)[1]
        return t("outcomes.import.missing_columns", names=names)
    return file_error(exc)


# --- reading the forms ----------------------------------------------------------------------


def _typed_number(text: str) -> float | None:
    """A number as staff type it: the Indonesian way on the Indonesian page, the English
    way on the English one, else whichever way reads it."""
    marks = (",", ".") if current_language() == "id" else (".", ",")
    for mark in marks:
        number = number_from_text(text, mark)
        if number is not None:
            return number
    return None


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(outcome_message(message))


def followup_values(form: MultiDict) -> dict[str, Any]:
    """The follow-up form's values as typed."""
    values: dict[str, Any] = {name: form.get(name, "").strip() for name in FOLLOWUP_FIELDS}
    values["destination_markets"] = form.getlist("destination_markets")
    return values


def read_followup(
    sme_id: str, values: dict[str, Any], *, today: dt.date
) -> tuple[dict, dict[str, list[str]]]:
    """A follow-up from the form's values and its problems per field (worded)."""
    row: dict[str, Any] = {**values, "sme_id": sme_id}
    row["exported"] = {"yes": True, "no": False}.get(values["exported"], values["exported"])
    for name in ("export_value_usd", "contracts"):
        if values[name]:
            number = _typed_number(values[name])
            if number is not None:
                row[name] = number
    record, problems = C.read_outcome(row, today=today)
    errors: dict[str, list[str]] = {}
    for problem in problems:
        _add(errors, problem["field"], problem["message"])
    return record, errors


def followup_form_values(followup: dict) -> dict[str, Any]:
    """A stored follow-up as its form shows it."""
    values = {name: form_value(followup.get(name)) for name in FOLLOWUP_FIELDS}
    values["exported"] = "yes" if followup["exported"] else "no"
    values["destination_markets"] = list(followup.get("destination_markets") or [])
    return values


def new_followup_values() -> dict[str, Any]:
    return {
        **dict.fromkeys(FOLLOWUP_FIELDS, ""),
        "followup_date": today_wib().isoformat(),
        "destination_markets": [],
    }


def _read_text(
    values: dict, name: str, errors: dict, *, limit: int, required: bool = False
) -> str | None:
    text = values.get(name, "")
    if not text:
        if required:
            _add(errors, name, MISSING)
        return None
    if len(text) > limit:
        _add(errors, name, TOO_LONG.format(max=limit))
        return None
    return text


def _read_choice(values: dict, name: str, choices, errors: dict) -> str | None:
    value = values.get(name, "")
    if not value:
        return None
    if value not in choices:
        _add(errors, name, UNKNOWN_VALUE.format(input=value, choices=", ".join(choices)))
        return None
    return value


def _read_day(values: dict, name: str, errors: dict, *, today: dt.date) -> dt.date | None:
    text = values.get(name, "")
    if not text:
        _add(errors, name, MISSING)
        return None
    try:
        day = C.parse_date(text)
    except ValueError as exc:
        _add(errors, name, str(exc))
        return None
    for problem in C.check_date(name, day, today=today):
        _add(errors, name, problem["message"])
    return day


def decision_values(form: MultiDict) -> dict[str, str]:
    """The decision form's values as typed."""
    return {name: form.get(name, "").strip() for name in DECISION_FIELDS}


def read_decision(values: dict[str, str], *, today: dt.date) -> tuple[dict, dict[str, list[str]]]:
    """A decision from the form's values and its problems per field (worded)."""
    errors: dict[str, list[str]] = {}
    if not values.get("decision"):
        _add(errors, "decision", MISSING)
    record = {
        "decision": _read_choice(values, "decision", C.DECISIONS, errors),
        "support_kind": _read_choice(values, "support_kind", C.SUPPORT_KINDS, errors),
        "support_other": _read_text(values, "support_other", errors, limit=C.TEXT_MAX),
        "target_market": _read_choice(values, "target_market", MARKETS, errors),
        "decided_on": _read_day(values, "decided_on", errors, today=today),
        "decided_by": _read_text(values, "decided_by", errors, limit=DECIDED_BY_MAX, required=True),
        "reason": _read_text(values, "reason", errors, limit=C.TEXT_MAX),
    }
    for problem in C.decision_problems(record, today=today):
        if problem["field"] not in errors:
            _add(errors, problem["field"], problem["message"])
    return record, errors


def decision_form_values(decision: dict) -> dict[str, str]:
    """A stored decision as its form shows it."""
    return {name: form_value(decision.get(name)) for name in DECISION_FIELDS}


def new_decision_values() -> dict[str, str]:
    user = current_user()
    return {
        **dict.fromkeys(DECISION_FIELDS, ""),
        "decided_on": today_wib().isoformat(),
        "decided_by": user.username if user is not None else "",
    }


# --- the shortlist's decisions --------------------------------------------------------------


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
    decision = _read_choice(values, "decision", C.DECISIONS, errors)
    kind = _read_choice(values, "support_kind", C.SUPPORT_KINDS, errors)
    other = _read_text(values, "support_other", errors, limit=C.TEXT_MAX)
    reason = _read_text(values, "reason", errors, limit=C.TEXT_MAX)
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
            _add(errors, problem["field"], problem["message"])
    return record, errors


def _read_shortlist_form(form: MultiDict, rows: list[dict], wanted: dict) -> tuple[list, dict]:
    """The decisions the shortlist form asks for, and its problems: ``{"errors"}`` of the
    shared fields, ``{"row_errors"}`` per row index, ``{"general"}`` for the whole form.
    Fills every row's ``values`` with what was typed."""
    today = today_wib()
    shared_values = {name: form.get(name, "").strip() for name in SHARED_FIELDS}
    errors: dict[str, list[str]] = {}
    decided_on = _read_day(shared_values, "decided_on", errors, today=today)
    decided_by = _read_text(
        shared_values, "decided_by", errors, limit=DECIDED_BY_MAX, required=True
    )
    shared = {
        "support_kind": _read_choice(shared_values, "support_kind", C.SUPPORT_KINDS, errors),
        "support_other": _read_text(shared_values, "support_other", errors, limit=C.TEXT_MAX),
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


# --- the SME page's section -----------------------------------------------------------------


def sme_section(db, sme_id: str) -> dict:
    """What the SME page shows of the SME's decisions and follow-ups, and its empty forms."""
    decisions, total = store.list_decisions(
        db, store.DecisionFilter(sme_id=sme_id), per_page=DECISIONS_SHOWN
    )
    return {
        "decisions": decisions,
        "decisions_total": total,
        "followups": store.followups_of(db, sme_id),
        "decision_values": new_decision_values(),
        "followup_values": new_followup_values(),
    }


def _sme_or_none(db, sme_id: str) -> dict | None:
    found = store.get_sme(db, sme_id, personal=False)
    if found is None or found["latest_score"] is None:
        return None
    return found


def _back_to(sme_id: str):
    return redirect(url_for("web_profiles.sme", sme_id=sme_id, _anchor="outcomes"))


def _decision_page(sme: dict, values, errors, *, decision=None, status=200):
    return render_template(
        "outcomes/decision_form.html",
        sme=sme,
        values=values,
        errors=errors,
        decision=decision,
    ), status


def _followup_page(sme: dict, values, errors, *, followup=None, status=200):
    return render_template(
        "outcomes/followup_form.html",
        sme=sme,
        values=values,
        errors=errors,
        followup=followup,
    ), status


@bp.route("/smes/<sme_id>/decisions", methods=["GET", "POST"])
@role_required(DECIDE_ROLE)
def record_decision(sme_id: str):
    """Record one decision about the SME, tied to its latest score."""
    db = get_session()
    sme = _sme_or_none(db, sme_id)
    if sme is None:
        return render_template("errors/404.html"), 404
    if request.method == "GET":
        return _decision_page(sme, new_decision_values(), {})
    values = decision_values(request.form)
    record, errors = read_decision(values, today=today_wib())
    if errors:
        return _decision_page(sme, values, errors, status=422)
    try:
        store.record_decisions(db, [{**record, "sme_id": sme_id}], actor=actor())
    except store.UnscoredError:
        return render_template("errors/404.html"), 404
    db.commit()
    flash(t("outcomes.decision.recorded"))
    return _back_to(sme_id)


def _decision_and_sme(decision_id: int):
    db = get_session()
    decision = store.get_decision(db, decision_id)
    sme = None if decision is None else _sme_or_none(db, decision["sme_id"])
    return db, decision, sme


@bp.route("/decisions/<int:decision_id>/edit", methods=["GET", "POST"])
@role_required(DECIDE_ROLE)
def edit_decision(decision_id: int):
    """Correct what was decided (the score it rested on stays)."""
    db, decision, sme = _decision_and_sme(decision_id)
    if sme is None:
        return render_template("errors/404.html"), 404
    if request.method == "GET":
        return _decision_page(sme, decision_form_values(decision), {}, decision=decision)
    values = decision_values(request.form)
    record, errors = read_decision(values, today=today_wib())
    if errors:
        return _decision_page(sme, values, errors, decision=decision, status=422)
    store.update_decision(db, decision_id, record, actor=actor())
    db.commit()
    flash(t("outcomes.decision.updated"))
    return _back_to(decision["sme_id"])


@bp.route("/decisions/<int:decision_id>/delete", methods=["GET", "POST"])
@role_required(DECIDE_ROLE)
def delete_decision(decision_id: int):
    """Withdraw a decision recorded by mistake, after a confirmation."""
    db, decision, sme = _decision_and_sme(decision_id)
    if sme is None:
        return render_template("errors/404.html"), 404
    page = {"sme": sme, "decision": decision, "kind": "decision"}
    if request.method == "GET":
        return render_template("outcomes/confirm_delete.html", **page)
    if request.form.get("confirm") != "yes":
        error = t("outcomes.delete.unconfirmed")
        return render_template("outcomes/confirm_delete.html", **page, error=error), 422
    store.delete_decision(db, decision_id, actor=actor())
    db.commit()
    flash(t("outcomes.decision.deleted"))
    return _back_to(decision["sme_id"])


@bp.route("/smes/<sme_id>/followups", methods=["GET", "POST"])
@role_required(FOLLOWUP_ROLE)
def record_followup(sme_id: str):
    """Record one follow-up of the SME."""
    db = get_session()
    sme = _sme_or_none(db, sme_id)
    if sme is None:
        return render_template("errors/404.html"), 404
    if request.method == "GET":
        return _followup_page(sme, new_followup_values(), {})
    values = followup_values(request.form)
    record, errors = read_followup(sme_id, values, today=today_wib())
    if errors:
        return _followup_page(sme, values, errors, status=422)
    _, repeated = store.record_followups(db, [record], actor=actor(), source="form")
    db.commit()
    flash(t("outcomes.followup.already") if repeated else t("outcomes.followup.recorded"))
    return _back_to(sme_id)


def _followup_and_sme(followup_id: int):
    db = get_session()
    followup = store.get_followup(db, followup_id)
    sme = None if followup is None else _sme_or_none(db, followup["sme_id"])
    return db, followup, sme


@bp.route("/followups/<int:followup_id>/edit", methods=["GET", "POST"])
@role_required(FOLLOWUP_ROLE)
def edit_followup(followup_id: int):
    """Correct a follow-up (its SME stays)."""
    db, followup, sme = _followup_and_sme(followup_id)
    if sme is None:
        return render_template("errors/404.html"), 404
    if request.method == "GET":
        return _followup_page(sme, followup_form_values(followup), {}, followup=followup)
    values = followup_values(request.form)
    record, errors = read_followup(followup["sme_id"], values, today=today_wib())
    if errors:
        return _followup_page(sme, values, errors, followup=followup, status=422)
    store.update_followup(db, followup_id, record, actor=actor())
    db.commit()
    flash(t("outcomes.followup.updated"))
    return _back_to(followup["sme_id"])


@bp.route("/followups/<int:followup_id>/delete", methods=["GET", "POST"])
@role_required(DELETE_FOLLOWUP_ROLE)
def delete_followup(followup_id: int):
    """Delete a follow-up recorded by mistake, after a confirmation."""
    db, followup, sme = _followup_and_sme(followup_id)
    if sme is None:
        return render_template("errors/404.html"), 404
    page = {"sme": sme, "followup": followup, "kind": "followup"}
    if request.method == "GET":
        return render_template("outcomes/confirm_delete.html", **page)
    if request.form.get("confirm") != "yes":
        error = t("outcomes.delete.unconfirmed")
        return render_template("outcomes/confirm_delete.html", **page, error=error), 422
    store.delete_followup(db, followup_id, actor=actor())
    db.commit()
    flash(t("outcomes.followup.deleted"))
    return _back_to(followup["sme_id"])


# --- the worklist ---------------------------------------------------------------------------


@bp.route("/worklist")
@role_required(FOLLOWUP_ROLE)
def worklist():
    """Supported SMEs due a follow-up, most overdue first."""
    today = today_wib()
    due = store.followup_worklist(get_session(), today=today)
    return render_template("outcomes/worklist.html", due=due, today=today)


# --- the import -----------------------------------------------------------------------------


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


# --- what the templates use -----------------------------------------------------------------


@bp.record_once
def _template_helpers(state) -> None:
    """The names the outcome templates use; the shortlist page embeds the decisions form."""
    state.app.jinja_env.globals.update(
        outcome_name=outcome_name,
        local_date=local_date,
        outcome_amount=outcome_amount,
        shortlist_decision_form=shortlist_decision_form,
        OUTCOME_CHOICES={
            "decision": C.DECISIONS,
            "support_kind": C.SUPPORT_KINDS,
            "learned_via": C.LEARNED_VIA,
        },
        OUTCOME_ROLES={
            "decide": DECIDE_ROLE,
            "followup": FOLLOWUP_ROLE,
            "delete_followup": DELETE_FOLLOWUP_ROLE,
            "import": IMPORT_ROLE,
        },
        OUTCOME_MARKETS=MARKETS,
        new_submission=_new_submission,
    )
