"""The active model and ruleset (model card), liveness and readiness."""

from __future__ import annotations

from flask_smorest import Blueprint

from api import store
from api.db import get_engine, get_session
from api.http.auth import READ, require_scope
from api.http.errors import problem
from api.http.governance_schemas import ModelCardSchema, RulesetSchema
from api.http.schemas import HealthSchema, ReadinessProblemSchema, ReadinessSchema
from api.migrate import is_up_to_date
from api.services.scorer import ScorerUnavailable, get_holder, get_scorer
from scoring.model.training import training_origin
from scoring.rules.ruleset import Ruleset

models = Blueprint(
    "models", __name__, url_prefix="/api/v1", description="The active model and ruleset."
)
health = Blueprint("health", __name__, url_prefix="", description="Liveness and readiness.")

SYNTHETIC_NOTE = (
    "Trained on synthetic data from a documented generator, not on real export outcomes: "
    "retrain on the office's own outcomes as soon as they exist."
)
MIXED_NOTE = (
    "Trained on the office's real outcomes together with synthetic rows from a documented "
    "generator: what it learned is partly the generator's assumptions."
)


@models.route("/models/active", methods=["GET"])
@require_scope(READ)
@models.response(200, ModelCardSchema)
@models.alt_response(503, response="SERVICE_UNAVAILABLE")
def active_model():
    """The active model: version, held-out metrics, training data (model card)"""
    model = get_scorer().model
    manifest = model.manifest
    training = dict(manifest.get("training_data") or {})
    training.update(training_origin(training))
    return {
        "version": model.version,
        "created_at": manifest.get("created_at"),
        "kind": manifest.get("kind"),
        "sha256": manifest.get("sha256"),
        "ruleset_version": manifest.get("ruleset_version"),
        "metrics": manifest.get("metrics", {}),
        "training_data": training,
        "features": list(manifest.get("features", [])),
        "libraries": manifest.get("libraries", {}),
        "notes": [SYNTHETIC_NOTE if training["origin"] == "synthetic" else MIXED_NOTE]
        if training["synthetic"]
        else [],
    }


def ruleset_document(ruleset: Ruleset) -> dict:
    """The ruleset as data: versions, blend, tiers and every criterion with its labels."""
    return {
        "id": ruleset.id,
        "version": ruleset.version,
        "version_string": ruleset.version_string,
        "title": ruleset.title,
        "blend": {"rules_weight": ruleset.rules_weight, "ml_weight": ruleset.ml_weight},
        "tiers": [{"id": t.id, "min_score": t.min_score, "label": t.label} for t in ruleset.tiers],
        "knockout_tier": ruleset.knockout_tier,
        "categories": [{"id": c.id, "label": c.label} for c in ruleset.categories],
        "markets": [{"id": m.id, "label": m.label} for m in ruleset.markets],
        "criteria": [
            {
                "id": c.id,
                "category": c.category,
                "points": c.points,
                "knockout": c.knockout,
                "actionable": c.actionable,
                "applies_to": {
                    "sectors": None if c.applies_sectors is None else list(c.applies_sectors),
                    "target_markets": (
                        None if c.applies_markets is None else list(c.applies_markets)
                    ),
                },
                "enforced_by": list(c.enforced_by),
                "condition": c.condition.to_data(),
                "label": c.label,
                "recommendation": c.recommendation,
                "recommendation_by_sector": dict(c.recommendation_by_sector),
            }
            for c in ruleset.criteria
        ],
    }


@models.route("/rulesets/active", methods=["GET"])
@require_scope(READ)
@models.response(200, RulesetSchema)
@models.alt_response(503, response="SERVICE_UNAVAILABLE")
def active_ruleset():
    """The active ruleset: versions, tiers, blend weights, criteria with their labels"""
    return ruleset_document(get_scorer().ruleset)


@health.route("/healthz", methods=["GET"])
@health.response(200, HealthSchema)
@health.doc(security=[])
def healthz():
    """Liveness: the process answers"""
    return {"status": "ok"}


def _database_check() -> tuple[bool, str]:
    try:
        if not is_up_to_date(get_engine()):
            return False, "the schema is not at the newest migration; run `sme-export db upgrade`"
    except Exception as exc:  # any driver error means "not usable"
        return False, f"cannot be reached ({type(exc).__name__})"
    return True, "reachable, schema up to date"


def _batch_check() -> dict:
    """The background batches, for the operator: never a reason to take the instance out
    of service (it serves requests whatever the workers do), but a worker that stopped
    renewing its lease is named while it lasts."""
    try:
        state = store.queue_state(get_session())
    except Exception as exc:  # the database check above passed; a failure here is reported
        return {"ok": True, "detail": f"queue not readable ({type(exc).__name__})"}
    detail = f"{state['queued']} queued, {state['running']} running"
    if state["stalled"]:
        detail += (
            f"; {state['stalled']} running without a worker renewing its lease for "
            f"{state['stalled_for_seconds']} s (a worker stopped; the next free one takes "
            "it over)"
        )
    return {"ok": True, "detail": detail}


@health.route("/readyz", methods=["GET"])
@health.response(200, ReadinessSchema)
@health.alt_response(
    503,
    schema=ReadinessProblemSchema,
    content_type="application/problem+json",
    description="Not ready: `checks` says which part failed and why.",
)
@health.doc(security=[])
def readyz():
    """Readiness: model, ruleset and database are usable

    `checks.batches` (never failing) reports the background batches: how many are queued
    and running, and any whose worker stopped renewing its lease.
    """
    checks = {}
    try:
        scorer = get_scorer()
    except ScorerUnavailable as exc:
        for part in ("model", "ruleset"):
            reason = exc.reasons.get(part)
            checks[part] = {"ok": reason is None, "detail": reason or "loaded"}
    else:
        checks["model"] = {"ok": True, "detail": f"version {scorer.model.version}"}
        checks["ruleset"] = {"ok": True, "detail": f"version {scorer.ruleset.version_string}"}
        # A newer activation that failed to load leaves the old version serving: still ready.
        for part, why in get_holder().reload_problems.items():
            checks[part]["detail"] += f"; the newly activated {part} was not loaded: {why}"
    ok, detail = _database_check()
    checks["database"] = {"ok": ok, "detail": detail}
    if ok:
        checks["batches"] = _batch_check()
    failed = [part for part, check in checks.items() if not check["ok"]]
    if failed:
        return problem(503, f"Not ready: {', '.join(failed)} not usable.", checks=checks)
    return {"status": "ready", "checks": checks}
