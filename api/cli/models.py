"""``sme-export models list|show|history|promote|rollback``: the model registry, with the
promotion guard's comparison and every activation in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.common import (
    echo_json,
    fail,
    json_option,
    models_dir_option,
    models_dir_or_default,
    one_line,
)
from api.cli.inputs import read_labelled
from api.cli.stored import record_audit
from scoring.errors import ScoringError


def interval_text(metric: dict, digits: int) -> str:
    """``0.812 [0.790, 0.833]``: an estimate with its 95% interval."""
    return (
        f"{metric['estimate']:.{digits}f} "
        f"[{metric['ci_low']:.{digits}f}, {metric['ci_high']:.{digits}f}]"
    )


def echo_comparison(comparison: dict | None) -> None:
    """A candidate against the active model on the same rows, and the guard's verdict."""
    if comparison is None:
        click.echo("comparison: no active model to compare with")
        return
    cand, act, diff = comparison["candidate"], comparison["active"], comparison["difference"]
    click.echo(
        f"comparison with active {comparison['against']} on the same {comparison['rows']} rows: "
        f"ROC AUC {cand['roc_auc']:.3f} vs {act['roc_auc']:.3f} "
        f"(difference {interval_text(diff['roc_auc'], 3)}), "
        f"Brier {cand['brier']:.4f} vs {act['brier']:.4f} "
        f"(difference {interval_text(diff['brier'], 4)})"
    )
    if comparison["guard"]:
        click.echo("the promotion guard would refuse it: " + "; ".join(comparison["guard"]))
    else:
        click.echo("the promotion guard would accept it")


def promote_version(
    models_dir: Path, version: str, *, force, reason, comparison, actor="cli"
) -> None:
    """Activate ``version`` through the promotion guard and record it in the audit log."""
    from scoring.model.registry import promote

    try:
        event = promote(
            models_dir, version, actor=actor, force=force, reason=reason, comparison=comparison
        )
    except ScoringError as exc:
        fail(one_line(exc))
    record_audit(event)
    forced = f" (forced: {event['reason']})" if event["forced"] else ""
    click.echo(f"active: {version}, previously {event['previous'] or 'none'}{forced}")


@click.group()
def models() -> None:
    """The model registry: list, show, promote and roll back model versions."""


@models.command("list")
@models_dir_option
@json_option
def models_list(models_dir, as_json):
    """List the registered model versions, oldest first; * marks the active one."""
    from scoring.model.registry import list_versions

    versions = list_versions(models_dir_or_default(models_dir))
    if as_json:
        echo_json(versions)
        return
    for v in versions:
        mark = "*" if v["active"] else " "
        origin = v.get("origin") or ("synthetic" if v["synthetic"] else "real outcomes")
        click.echo(
            f"{mark} {v['version']}  {v['created_at']}  {v['training_rows']} rows ({origin})  "
            f"AUC {v['roc_auc']}  Brier {v['brier']}"
        )


@models.command("show")
@click.argument("version")
@models_dir_option
def models_show(version, models_dir):
    """Print a version's manifest (metrics, evaluation, comparison, training data)."""
    from scoring.model.registry import show

    try:
        echo_json(show(models_dir_or_default(models_dir), version))
    except ScoringError as exc:
        fail(one_line(exc))


@models.command("history")
@models_dir_option
def models_history(models_dir):
    """Every promotion and rollback, oldest first (JSON Lines)."""
    from scoring.model.registry import history

    for event in history(models_dir_or_default(models_dir)):
        click.echo(json.dumps(event, ensure_ascii=False, sort_keys=True))


@models.command("promote")
@click.argument("version")
@click.option("--force", is_flag=True, help="Promote even if the guard finds it worse.")
@click.option("--reason", help="Why (required with --force; goes into the audit log).")
@click.option(
    "--data",
    "data_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled profiles neither model learned from: compare both on them now.",
)
@click.option("--actor", default="cli", show_default=True, help="Who promotes (audit log).")
@models_dir_option
def models_promote(version, force, reason, data_path, actor, models_dir):
    """Make VERSION the active model, if it is not worse than the active one.

    Refused when, on the same labelled rows, its ROC AUC is more than 0.01 below the active
    model's or its Brier score more than 0.005 above, unless --force with --reason.
    """
    directory = models_dir_or_default(models_dir)
    comparison = None
    if data_path is not None:
        comparison = _compare_on(directory, version, data_path)
        echo_comparison(comparison)
    promote_version(
        directory, version, force=force, reason=reason, comparison=comparison, actor=actor
    )


def _compare_on(directory: Path, version: str, data_path: Path) -> dict:
    """``version`` against the active model on the labelled rows of ``data_path``."""
    from scoring.model.additive import load_model
    from scoring.model.evaluation import compare, guard_failures
    from scoring.model.features import encode_features

    batch = read_labelled(data_path)
    try:
        candidate = load_model(directory, version)
        active = load_model(directory)
    except ScoringError as exc:
        fail(one_line(exc))
    X = encode_features(batch.profiles)
    comparison = {
        "against": active.version,
        "method": f"both models on {data_path.name}",
        **compare(batch.labels, candidate.predict_proba(X), active.predict_proba(X)),
    }
    comparison["guard"] = guard_failures(comparison)
    return comparison


@models.command("rollback")
@click.option("--reason", help="Why (goes into the audit log).")
@click.option("--actor", default="cli", show_default=True, help="Who rolls back (audit log).")
@models_dir_option
def models_rollback(reason, actor, models_dir):
    """Re-activate the model that was active before the current one. Stored scores keep the
    model version that made them."""
    from scoring.model.registry import rollback

    try:
        event = rollback(models_dir_or_default(models_dir), actor=actor, reason=reason)
    except ScoringError as exc:
        fail(one_line(exc))
    record_audit(event)
    click.echo(f"active: {event['version']} (rolled back from {event['previous']})")
