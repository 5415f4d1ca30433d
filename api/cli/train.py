"""``sme-export train`` and ``sme-export generate-data``: a model version trained on labelled
profiles, judged out of sample and against the active model; and the synthetic data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from api.cli.common import fail, one_line, row_error_line
from api.cli.models import echo_comparison, interval_text, promote_version
from scoring.errors import ScoringError


@click.command()
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Profiles with the exported_within_12m column (CSV, XLSX, Parquet, JSON).",
)
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--seed", type=int, default=None, help="Random seed (default: the shipped model's).")
@click.option(
    "--activate/--no-activate",
    default=False,
    help="Promote the new model (the promotion guard applies; see `models promote`).",
)
@click.option("--force", is_flag=True, help="With --activate: promote even if the guard refuses.")
@click.option("--reason", help="Why a forced promotion is right (goes into the audit log).")
@click.option(
    "--synthetic", is_flag=True, help="Record in the manifest that the data is synthetic."
)
@click.option(
    "--cv-folds", type=click.IntRange(min=2), default=None, help="Cross-validation folds (5)."
)
@click.option(
    "--cv-repeats", type=click.IntRange(min=1), default=None, help="Cross-validation repeats (5)."
)
def train(data_path, models_dir, seed, activate, force, reason, synthetic, cv_folds, cv_repeats):
    """Train a model version on labelled profiles, evaluate it, compare it with the active one
    on the same data, and register it under models/."""
    from threadpoolctl import threadpool_limits

    from scoring.contract.validate import validate_table
    from scoring.files.readers import read_table
    from scoring.model import evaluation
    from scoring.model.additive import default_models_dir, load_model, save_model
    from scoring.model.training import DEFAULT_SEED

    try:
        batch = validate_table(read_table(data_path), require_label=True)
    except ScoringError as exc:
        fail(f"{data_path}: {one_line(exc)}")
    if batch.errors:
        for error in batch.errors[:20]:
            click.echo(row_error_line(error), err=True)
        fail(
            f"{data_path}: {len(batch.errors)} of {batch.received} rows are invalid; "
            "fix them so that no labelled outcome is lost, then train again"
        )
    warnings = evaluation.data_warnings(batch.labels)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    seed = DEFAULT_SEED if seed is None else seed
    target_dir = models_dir or default_models_dir()
    try:
        active = load_model(target_dir)
    except ScoringError:
        active = None
    click.echo(f"training on {batch.scored} profiles ...", err=True)
    # Small data means many small fits, where OpenMP threads cost more than they give
    # (results are the same with any number of threads).
    small = len(batch.labels) <= evaluation.CV_MAX_ROWS
    try:
        with threadpool_limits(limits=1 if small else None, user_api="openmp"):
            trained, judged = _fit_and_judge(
                batch,
                seed=seed,
                data_path=data_path,
                synthetic=synthetic,
                active=active,
                folds=cv_folds or evaluation.CV_FOLDS,
                repeats=cv_repeats or evaluation.CV_REPEATS,
            )
    except ScoringError as exc:
        fail(one_line(exc))
    manifest = {**trained.manifest, **judged, "data_warnings": warnings}
    path = save_model(trained.bundle, manifest, target_dir, activate=False)
    manifest = json.loads((path / "manifest.json").read_text())
    model_m = manifest["metrics"]["model"]
    base_m = manifest["metrics"]["baseline_logistic"]
    click.echo(f"model {manifest['version']} written to {path}")
    click.echo(
        f"held-out ROC AUC {model_m['roc_auc']:.3f} (logistic baseline {base_m['roc_auc']:.3f}), "
        f"PR AUC {model_m['pr_auc']:.3f} ({base_m['pr_auc']:.3f}), "
        f"Brier {model_m['brier']:.4f} ({base_m['brier']:.4f})"
    )
    _echo_evaluation(manifest["evaluation"], manifest["comparison"])
    if not activate:
        click.echo("active: no (promote with `sme-export models promote VERSION`)")
        return
    if active is not None and active.version == manifest["version"]:
        click.echo("active: yes (the same model was already active)")
        return
    promote_version(target_dir, manifest["version"], force=force, reason=reason, comparison=None)


def _fit_and_judge(batch, *, seed, data_path, synthetic, active, folds, repeats):
    """Fit the candidate, then evaluate it out of sample and against the active model."""
    from scoring.model import evaluation
    from scoring.model.training import train as fit
    from scoring.rules.loading import load_ruleset

    trained = fit(
        batch.profiles,
        batch.labels,
        seed=seed,
        data_source=data_path.name,
        synthetic=synthetic,
        ruleset_version=load_ruleset().version_string,
    )
    click.echo("evaluating out of sample and comparing with the active model ...", err=True)
    judged = evaluation.evaluate_candidate(
        batch.profiles,
        batch.labels,
        candidate=trained.bundle["estimator"],
        active=active,
        seed=seed,
        folds=folds,
        repeats=repeats,
    )
    return trained, judged


def _echo_evaluation(evaluated: dict, comparison: dict | None) -> None:
    how = evaluated["method"]
    if "folds" in evaluated:
        how += f", {evaluated['folds']} folds x {evaluated['repeats']} repeats"
    click.echo(
        f"evaluation ({how}, {evaluated['rows']} rows): ROC AUC "
        f"{interval_text(evaluated['roc_auc'], 3)}, Brier {interval_text(evaluated['brier'], 4)}"
        " (95% bootstrap intervals)"
    )
    echo_comparison(comparison)


@click.command("generate-data")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
)
@click.option("--rows", type=click.IntRange(min=100), default=30_000, show_default=True)
@click.option("--seed", type=int, default=None, help="Seed for the training data.")
def generate_data(out_dir, rows, seed):
    """Write the synthetic training data and the example cohort (see data/README.md)."""
    from scoring.model import synth

    out_dir.mkdir(parents=True, exist_ok=True)
    kwargs = {} if seed is None else {"seed": seed}
    with tqdm(total=2, desc="generating", file=sys.stderr) as progress:
        training = synth.write_training_data(out_dir, n=rows, **kwargs)
        progress.update()
        cohort = synth.write_example_cohort(out_dir)
        progress.update()
    for path in [training, *cohort]:
        click.echo(f"wrote {path}")
