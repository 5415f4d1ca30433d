"""Was the score right? The evaluation of the office's support decisions against what the
SMEs did afterwards (``/outcomes/evaluation``), and training a candidate model from those
outcomes (``/outcomes/train``).

Officers and above may open the evaluation: it shows counts and rates over groups of
decisions, never an SME, and below ``MIN_KNOWN_OUTCOMES`` known outcomes it shows the
counts only. The figures come from ``api.services.outcomes.evaluation`` (the same as the
API's); charts are inline SVG drawn by ``macros/outcome_charts.html``, each beside a table
of its numbers. The filters are a GET form, so a view of the figures can be bookmarked.

Admins may train a candidate on the stored outcomes (``api.services.retraining``, as
``sme-export train`` does). The candidate is registered, never activated: promoting it
stays the model versions page's step, behind its guard. The training is in the
processing log with the admin as actor.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request

from api import store
from api.blueprints.governance import models_dir
from api.db import get_session
from api.services import outcomes, retraining
from api.services.scorer import get_scorer
from api.web.auth import actor, role_required
from api.web.i18n import current_language, decimal, number, t
from scoring.contract.fields import SECTORS
from scoring.contract.outcomes import SUPPORT_KINDS, outcome_labels
from scoring.errors import ScoringError
from scoring.model.evaluation import AUC_TOLERANCE, BRIER_TOLERANCE, MIN_MINORITY_SHARE, MIN_ROWS
from scoring.model.training import MIN_PER_CLASS
from scoring.outcomes.evaluation import MIN_KNOWN_OUTCOMES

bp = Blueprint("web_outcomes_eval", __name__)

#: The decision filter's values: the figures are about supported SMEs unless asked.
DECISION_CHOICES = ("support", "no_support", "all")
DEFAULT_DECISION = "support"


def _day(args, name: str, errors: list[str]) -> dt.date | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(t("evaluation.bad_date", field=t(f"evaluation.{name}")))
        return None


def _choice(args, name: str, allowed, errors: list[str]) -> str | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    if value not in allowed:
        errors.append(t("evaluation.unknown_value", field=t(f"evaluation.{name}")))
        return None
    return value


def read_filters(args, cohorts: list[str]) -> tuple[store.DecisionFilter, dict, list[str]]:
    """The decision filter of the request's query, the values to show in the form, and
    what could not be read (that filter is then left out and the page says so)."""
    errors: list[str] = []
    where = store.DecisionFilter(
        cohort=_choice(args, "cohort", cohorts, errors),
        sector=_choice(args, "sector", SECTORS, errors),
        support_kind=_choice(args, "support_kind", SUPPORT_KINDS, errors),
        decided_from=_day(args, "decided_from", errors),
        decided_until=_day(args, "decided_until", errors),
    )
    if where.decided_from and where.decided_until and where.decided_from > where.decided_until:
        errors.append(t("evaluation.period_reversed"))
    decision = _choice(args, "decision", DECISION_CHOICES, errors) or DEFAULT_DECISION
    wanted = {
        "cohort": where.cohort or "",
        "sector": where.sector or "",
        "support_kind": where.support_kind or "",
        "decided_from": where.decided_from.isoformat() if where.decided_from else "",
        "decided_until": where.decided_until.isoformat() if where.decided_until else "",
        "decision": decision,
    }
    return where, wanted, errors


@bp.route("/outcomes/evaluation")
@role_required("officer")
def evaluation():
    session = get_session()
    cohorts = store.cohort_names(session)
    where, wanted, errors = read_filters(request.args, [name for name, _ in cohorts])
    ruleset = get_scorer().ruleset
    report = outcomes.evaluation(
        session,
        where,
        tiers=[tier.id for tier in ruleset.tiers],
        decision=None if wanted["decision"] == "all" else wanted["decision"],
    )
    return render_template(
        "outcomes_evaluation.html",
        report=report,
        wanted=wanted,
        errors=errors,
        cohorts=cohorts,
        sectors=SECTORS,
        support_kinds=outcome_labels(current_language())["support_kind"],
        decisions=DECISION_CHOICES,
        minimum=MIN_KNOWN_OUTCOMES,
    )


# --- training a candidate from the outcomes ---------------------------------------------------


def outcome_counts(session) -> dict:
    """How many stored decisions have a known outcome (and of which kind) and how many are
    still censored: what a training on them would have."""
    rows = store.labelled_decisions(session, store.DecisionFilter())
    known = [r["label"] for r in rows if r["label"] is not None]
    return {
        "decisions": len(rows),
        "known": len(known),
        "exported": sum(known),
        "not_exported": len(known) - sum(known),
        "censored": len(rows) - len(known),
    }


def _warnings(rows: int, positives: int) -> list[str]:
    """Why a candidate's data are few or unbalanced, in the page's language (the thresholds
    of ``scoring.model.evaluation.data_warnings``)."""
    out = []
    if rows < MIN_ROWS:
        out.append(t("evaluation.train_warn_rows", rows=number(rows), minimum=number(MIN_ROWS)))
    minority = min(positives, rows - positives)
    if rows and minority / rows < MIN_MINORITY_SHARE:
        share = decimal(100 * minority / rows, 1)
        out.append(
            t(
                "evaluation.train_warn_unbalanced",
                share=share,
                minimum=number(100 * MIN_MINORITY_SHARE),
            )
        )
    return out


def _guard(comparison: dict | None) -> list[str]:
    """Why the promotion guard would refuse the candidate, in the page's language."""
    if not comparison:
        return []
    cand, act = comparison["candidate"], comparison["active"]
    out = []
    if cand["roc_auc"] < act["roc_auc"] - AUC_TOLERANCE:
        out.append(t("evaluation.train_guard_auc", tolerance=decimal(AUC_TOLERANCE, 2)))
    if cand["brier"] > act["brier"] + BRIER_TOLERANCE:
        out.append(t("evaluation.train_guard_brier", tolerance=decimal(BRIER_TOLERANCE, 3)))
    return out


def _training_page(
    *, result: dict | None = None, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    shown = None
    if result is not None:
        manifest = result["manifest"]
        data = manifest["training_data"]
        shown = {
            "version": result["version"],
            "active": result["active"],
            "outcomes": result["outcomes"],
            "rows": data["rows"],
            "positives": data["positives"],
            "evaluation": manifest.get("evaluation"),
            "comparison": manifest.get("comparison"),
            "guard": _guard(manifest.get("comparison")),
            "warnings": _warnings(data["rows"], data["positives"]),
        }
    return (
        render_template(
            "outcomes_training.html",
            counts=outcome_counts(get_session()),
            minimum=MIN_PER_CLASS,
            result=shown,
            error=error,
        ),
        status,
    )


@bp.route("/outcomes/train", methods=["GET", "POST"])
@role_required("admin")
def train():
    """The button (GET) and the training with its result (POST)."""
    if request.method == "GET":
        return _training_page()
    session = get_session()
    try:
        result = retraining.train_from_outcomes(session, models_dir=models_dir(), actor=actor())
    except retraining.TooFewOutcomes:
        session.rollback()
        counts = {k: number(v) for k, v in outcome_counts(session).items()}
        error = t("evaluation.train_too_few", minimum=number(MIN_PER_CLASS), **counts)
        return _training_page(error=error, status=409)
    except ScoringError as exc:
        session.rollback()
        return _training_page(
            error=t("evaluation.train_failed", reason=" ".join(str(exc).split())), status=409
        )
    session.commit()
    return _training_page(result=result)
