"""Governance pages: model card (all staff), fairness and drift (leads), model versions
with promotion and rollback, and the ruleset impact preview (admins).

The figures come from the same functions as the API (``api.services.governance``,
``scoring.model.registry``, ``scoring.audit.ruleset_diff``); charts are inline SVG drawn by
``governance/charts.html``. Promotions and rollbacks are audited with the staff actor.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from api import store
from api.blueprints.governance import models_dir, rulesets_dir
from api.db import get_session
from api.services import governance
from api.services.scorer import ScorerUnavailable, get_scorer
from api.web.auth import actor, role_required
from api.web.i18n import t
from scoring.audit.fairness import DEFAULT_SHORTLIST_SHARE
from scoring.audit.ruleset_diff import diff_rulesets, tier_impact
from scoring.errors import ScoringError
from scoring.model import registry
from scoring.rules import registry as rulesets
from scoring.rules.loading import load_ruleset

bp = Blueprint("governance_web", __name__)


def _scorer_or_page():
    """The scorer, or the page that says the model or ruleset is not loaded."""
    try:
        return get_scorer(), None
    except ScorerUnavailable as exc:
        return None, (render_template("governance/unavailable.html", reasons=exc.reasons), 503)


@bp.route("/model-card")
@role_required("officer")
def model_card():
    scorer, unavailable = _scorer_or_page()
    if unavailable:
        return unavailable
    card = governance.card(get_session(), scorer)
    return render_template("governance/model_card.html", card=card)


@bp.route("/fairness")
@role_required("lead")
def fairness():
    scorer, unavailable = _scorer_or_page()
    if unavailable:
        return unavailable
    share = request.args.get("share", DEFAULT_SHORTLIST_SHARE, type=float)
    error = None
    if share is None or not 0.01 <= share <= 1.0:
        error, share = t("governance.share_range"), DEFAULT_SHORTLIST_SHARE
    report = governance.fairness(scorer, share=share)
    return render_template("governance/fairness.html", report=report, share=share, error=error)


@bp.route("/drift")
@role_required("lead")
def drift():
    scorer, unavailable = _scorer_or_page()
    if unavailable:
        return unavailable
    report = governance.drift(get_session(), scorer)
    return render_template("governance/drift.html", report=report)


def _models_page(message: str | None = None, error: str | None = None, status: int = 200):
    directory = models_dir()
    return (
        render_template(
            "governance/models.html",
            versions=registry.list_versions(directory),
            history=list(reversed(registry.history(directory))),
            message=message,
            error=error,
        ),
        status,
    )


@bp.route("/models", methods=["GET", "POST"])
@role_required("admin")
def models():
    if request.method == "GET":
        return _models_page()
    action = request.form.get("action")
    reason = request.form.get("reason", "").strip() or None
    try:
        if action == "promote":
            event = registry.promote(
                models_dir(),
                request.form.get("version", ""),
                actor=actor(),
                force=request.form.get("force") == "on",
                reason=reason,
            )
        elif action == "rollback":
            event = registry.rollback(models_dir(), actor=actor(), reason=reason)
        else:
            return _models_page(error=t("governance.unknown_action"), status=400)
    except ScoringError as exc:
        return _models_page(error=" ".join(str(exc).split()), status=409)
    governance.record_model_event(get_session(), event, action)
    return _models_page(
        message=t(f"governance.{action}_done", version=event["version"], previous=event["previous"])
    )


@bp.route("/rulesets/impact")
@role_required("admin")
def ruleset_impact():
    scorer, unavailable = _scorer_or_page()
    if unavailable:
        return unavailable
    directory = rulesets_dir()
    versions = rulesets.list_rulesets(directory)
    session = get_session()
    cohorts = store.cohort_names(session)
    wanted = {"ruleset": request.args.get("ruleset", ""), "cohort": request.args.get("cohort", "")}
    report = diff = error = None
    if wanted["ruleset"] and wanted["cohort"]:
        known = {v["version"] for v in versions}
        profiles = governance.profiles_frame(store.cohort_profiles(session, wanted["cohort"]))
        if wanted["ruleset"] not in known:
            error = t("governance.unknown_ruleset")
        elif not len(profiles):
            error = t("governance.empty_cohort", cohort=wanted["cohort"])
        else:
            new = load_ruleset(rulesets.resolve(directory, wanted["ruleset"]))
            diff = diff_rulesets(scorer.ruleset, new)
            report = tier_impact(profiles, old=scorer.ruleset, new=new, model=scorer.model)
    return render_template(
        "governance/ruleset_impact.html",
        versions=versions,
        cohorts=cohorts,
        wanted=wanted,
        report=report,
        diff=diff,
        error=error,
    )
