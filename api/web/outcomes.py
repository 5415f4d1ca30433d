"""What the office did and what happened: support decisions and export follow-ups on the
staff pages.

- The SME page's section (``sme_section``, included by ``sme.html``): its decisions with the
  score they rested on and their derived label, its follow-ups, and the forms to record
  both; a decision or follow-up is corrected on its own page and withdrawn after a
  confirmation.
- ``/outcomes/worklist``: supported SMEs due a follow-up 3, 6 or 12 months after the
  decision (``store.followup_worklist``), most overdue first.
- ``/outcomes/shortlist``: the decisions of a whole shortlist recorded in one step
  (``api.web.outcome_shortlist``).
- ``/outcomes/import``: follow-ups from a CSV or XLSX file and the templates to fill in
  (``api.web.outcome_import``).

All of them are routes of the one blueprint defined here; ``api.web`` imports the modules
that add theirs. Roles: leads (and administrators) decide, so they record, correct and
withdraw decisions, import files and delete follow-ups; officers do the follow-up calls and
visits, so they record and correct follow-ups and open the worklist. The forms are read and
their problems worded in the page's language by ``api.web.outcome_forms``. Nothing typed
(notes, reasons) is logged; the store's processing-log events name the SME and the record
only.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from api import store
from api.db import get_session
from api.web.auth import actor, role_required
from api.web.i18n import t
from api.web.outcome_forms import (
    decision_form_values,
    decision_values,
    followup_form_values,
    followup_values,
    local_date,
    new_decision_values,
    new_followup_values,
    outcome_amount,
    outcome_name,
    read_decision,
    read_followup,
    today_wib,
)
from api.web.outcome_forms import outcome_message as outcome_message
from scoring.contract import outcomes as C
from scoring.contract.fields import MARKETS

bp = Blueprint("web_outcomes", __name__, url_prefix="/outcomes")

#: The lowest role that records, corrects and withdraws support decisions.
DECIDE_ROLE = "lead"
#: The lowest role that records and corrects follow-ups and opens the worklist.
FOLLOWUP_ROLE = "officer"
#: The lowest role that deletes a follow-up (a correction is an officer's; removal is not).
DELETE_FOLLOWUP_ROLE = "lead"
#: The lowest role that imports a follow-up file and downloads its templates.
IMPORT_ROLE = "lead"

#: The SME page lists at most this many decisions (newest first).
DECISIONS_SHOWN = 200


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
    return _delete_when_confirmed(
        page, lambda: store.delete_decision(db, decision_id, actor=actor()), decision["sme_id"]
    )


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
    return _delete_when_confirmed(
        page, lambda: store.delete_followup(db, followup_id, actor=actor()), followup["sme_id"]
    )


def _delete_when_confirmed(page: dict, delete, sme_id: str):
    """The confirmation page (GET), or, once the box is ticked, ``delete()`` and back to the
    SME's page with the kind's message; unticked, the page again with why (422)."""
    if request.method == "GET":
        return render_template("outcomes/confirm_delete.html", **page)
    if request.form.get("confirm") != "yes":
        error = t("outcomes.delete.unconfirmed")
        return render_template("outcomes/confirm_delete.html", **page, error=error), 422
    delete()
    get_session().commit()
    flash(t(f"outcomes.{page['kind']}.deleted"))
    return _back_to(sme_id)


# --- the worklist ---------------------------------------------------------------------------


@bp.route("/worklist")
@role_required(FOLLOWUP_ROLE)
def worklist():
    """Supported SMEs due a follow-up, most overdue first."""
    today = today_wib()
    due = store.followup_worklist(get_session(), today=today)
    return render_template("outcomes/worklist.html", due=due, today=today)


# --- what the templates use -----------------------------------------------------------------


@bp.record_once
def _template_helpers(state) -> None:
    """The names the outcome templates use (``api.web.outcome_shortlist`` adds the
    shortlist's decisions form)."""
    state.app.jinja_env.globals.update(
        outcome_name=outcome_name,
        local_date=local_date,
        outcome_amount=outcome_amount,
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
    )
