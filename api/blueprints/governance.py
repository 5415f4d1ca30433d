"""Model and ruleset governance (admin): versions, promotion, rollback, ruleset diff and
impact, model card, fairness and drift.

Promotion and rollback go through ``scoring.model.registry`` (atomic ``ACTIVE``, history file)
and are also written to the audit log with the actor and, for a forced promotion, the
reason. Ruleset references are registered versions only, never file paths.
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from flask_smorest import Blueprint, abort
from werkzeug.routing import BaseConverter

from api import store
from api.db import get_session
from api.http.auth import ADMIN, READ, current_actor, require_scope
from api.http.governance_schemas import (
    ActivationSchema,
    DriftSchema,
    FairnessQuerySchema,
    FairnessSchema,
    FullModelCardSchema,
    ModelVersionListSchema,
    ModelVersionSchema,
    PromoteSchema,
    RollbackSchema,
    RulesetDiffQuerySchema,
    RulesetDiffSchema,
    RulesetImpactQuerySchema,
    RulesetImpactSchema,
    RulesetVersionSchema,
)
from api.services import governance
from api.services.scorer import get_scorer
from scoring.audit.ruleset_diff import diff_rulesets, tier_impact
from scoring.errors import ModelNotFoundError, RulesetError, ScoringError
from scoring.model import registry
from scoring.model.additive import default_models_dir, load_model
from scoring.rules import registry as rulesets
from scoring.rules.loading import load_ruleset

blp = Blueprint(
    "governance",
    __name__,
    url_prefix="/api/v1",
    description="Model versions, promotion and rollback; ruleset versions, diff and impact; "
    "model card, fairness and drift.",
)


class _ModelVersion(BaseConverter):
    """A model version in a path, never ``rollback``: else ``/models/rollback`` would also
    match the GET of a version, and its ``Allow`` header would offer an undocumented GET."""

    regex = r"(?!rollback\Z)[^/]+"


blp.record_once(
    lambda state: state.app.url_map.converters.setdefault("model_version", _ModelVersion)
)


def models_dir() -> Path:
    configured = current_app.config.get("MODELS_DIR")
    return Path(configured) if configured else default_models_dir()


def rulesets_dir() -> Path:
    configured = current_app.config.get("RULESETS_DIR")
    return Path(configured) if configured else rulesets.default_rulesets_dir()


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


@blp.route("/models", methods=["GET"])
@require_scope(ADMIN)
@blp.response(200, ModelVersionListSchema)
def list_models():
    """Every registered model version, oldest first, and the activation history"""
    directory = models_dir()
    return {"items": registry.list_versions(directory), "history": registry.history(directory)}


@blp.route("/models/<model_version:version>", methods=["GET"])
@require_scope(ADMIN)
@blp.response(200, ModelVersionSchema)
@blp.alt_response(404, response="NOT_FOUND")
def show_model(version: str):
    """One model version: manifest, out-of-sample evaluation, comparison with the active one"""
    try:
        return registry.show(models_dir(), version)
    except ScoringError as exc:
        abort(404, message=_one_line(exc))


@blp.route("/models/<string:version>/card", methods=["GET"])
@require_scope(READ)
@blp.response(200, FullModelCardSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def model_card(version: str):
    """Model card: training data and origin, metrics with intervals, ROC, calibration, score
    distribution, feature effects, constraints, limitations, intended use, drift warning

    `active` names the active version.
    """
    scorer = get_scorer()
    model = scorer.model
    if version not in ("active", model.version):
        try:
            model = load_model(models_dir(), version)
        except ScoringError as exc:
            abort(404, message=_one_line(exc))
    return governance.card(get_session(), scorer, model)


@blp.route("/models/<string:version>/promote", methods=["POST"])
@require_scope(ADMIN)
@blp.arguments(PromoteSchema)
@blp.response(200, ActivationSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT")
def promote_model(body: dict, version: str):
    """Make a version active, unless it is worse than the active one

    Refused (409) when, on the same labelled rows, its ROC AUC is more than 0.01 below the
    active model's or its Brier score more than 0.005 above, or when it was never compared
    with the active model; `force` with a `reason` overrides (recorded in the audit log).
    """
    try:
        event = registry.promote(
            models_dir(),
            version,
            actor=current_actor(),
            force=body["force"],
            reason=body.get("reason"),
        )
    except ModelNotFoundError as exc:
        abort(404, message=_one_line(exc))
    except ScoringError as exc:
        abort(409, message=_one_line(exc))
    governance.record_model_event(get_session(), event, "promote")
    return event


@blp.route("/models/rollback", methods=["POST"])
@require_scope(ADMIN)
@blp.arguments(RollbackSchema)
@blp.response(200, ActivationSchema)
@blp.alt_response(409, response="CONFLICT")
def rollback_model(body: dict):
    """Re-activate the model that was active before the current one (stored scores keep
    the version that made them)"""
    try:
        event = registry.rollback(models_dir(), actor=current_actor(), reason=body.get("reason"))
    except ScoringError as exc:
        abort(409, message=_one_line(exc))
    governance.record_model_event(get_session(), event, "rollback")
    return event


@blp.route("/rulesets", methods=["GET"])
@require_scope(ADMIN)
@blp.response(200, RulesetVersionSchema(many=True))
def list_rulesets():
    """The packaged default and every registered ruleset version"""
    return rulesets.list_rulesets(rulesets_dir())


def _registered(ref: str):
    """A registered ruleset version (or `default`); file paths are not accepted here."""
    directory = rulesets_dir()
    try:
        if ref != rulesets.DEFAULT_REF and not list(directory.glob(f"{ref}*.yaml")):
            raise RulesetError(ref, [("ruleset", "no such registered version")])
        return load_ruleset(rulesets.resolve(directory, ref))
    except (RulesetError, OSError) as exc:
        abort(404, message=_one_line(exc))


@blp.route("/rulesets/diff", methods=["GET"])
@require_scope(ADMIN)
@blp.arguments(RulesetDiffQuerySchema, location="query", as_kwargs=True)
@blp.response(200, RulesetDiffSchema)
@blp.alt_response(404, response="NOT_FOUND")
def ruleset_diff(old: str, new: str):
    """What changed between two ruleset versions"""
    return diff_rulesets(_registered(old), _registered(new))


@blp.route("/rulesets/impact", methods=["GET"])
@require_scope(ADMIN)
@blp.arguments(RulesetImpactQuerySchema, location="query", as_kwargs=True)
@blp.response(200, RulesetImpactSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def ruleset_impact(ruleset: str, cohort: str):
    """Which SMEs of a cohort would change tier under another ruleset (same model)"""
    new = _registered(ruleset)
    scorer = get_scorer()
    profiles = governance.profiles_frame(store.cohort_profiles(get_session(), cohort))
    if not len(profiles):
        abort(404, message=f"No SMEs in cohort {cohort!r}.")
    return tier_impact(profiles, old=scorer.ruleset, new=new, model=scorer.model)


@blp.route("/fairness", methods=["GET"])
@require_scope(ADMIN)
@blp.arguments(FairnessQuerySchema, location="query", as_kwargs=True)
@blp.response(200, FairnessSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def fairness(share: float):
    """Fairness audit by owner_gender and sector on the labelled training data"""
    report = governance.fairness(get_scorer(), share=share)
    if report is None:
        abort(404, message="The labelled training data are not available.")
    return report


@blp.route("/drift", methods=["GET"])
@require_scope(ADMIN)
@blp.response(200, DriftSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def drift():
    """Population stability index of each input and of the score: training data against
    recently scored profiles (0.1 watch, 0.25 act)"""
    report = governance.drift(get_session(), get_scorer())
    if report is None:
        abort(404, message="No recently scored profiles, or the training data are not available.")
    return report
