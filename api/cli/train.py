"""``sme-export train`` and ``sme-export generate-data``: a model version trained on labelled
profiles (a file, the office's stored outcomes, or both), judged out of sample and against
the active model; and the synthetic data.

``--from-outcomes`` trains on the stored support decisions whose outcome is known
(``api.services.retraining``): censored decisions are left out and counted, and no
personal field is ever in the training table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from api.cli.common import database_url_option, fail, one_line, row_error_line, session
from api.cli.models import echo_comparison, interval_text, promote_version
from scoring.errors import ScoringError


@click.command()
@click.option(
    "--data",
    "data_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Profiles with the exported_within_12m column (CSV, XLSX, Parquet, JSON).",
)
@click.option(
    "--from-outcomes",
    is_flag=True,
    help="Train on the stored support decisions whose outcome is known (with --data: "
    "together with the file's rows).",
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
    "--synthetic",
    is_flag=True,
    help="Record in the manifest that the rows of --data are synthetic (generated).",
)
@click.option(
    "--cv-folds", type=click.IntRange(min=2), default=None, help="Cross-validation folds (5)."
)
@click.option(
    "--cv-repeats", type=click.IntRange(min=1), default=None, help="Cross-validation repeats (5)."
)
@database_url_option
def train(
    data_path,
    from_outcomes,
    models_dir,
    seed,
    activate,
    force,
    reason,
    synthetic,
    cv_folds,
    cv_repeats,
    database_url,
):
    """Train a model version on labelled profiles (a file, the stored outcomes, or both),
    evaluate it, compare it with the active one on the same data, and register it under
    models/."""
    from api.services.retraining import register_candidate
    from scoring.model.additive import default_models_dir
    from scoring.model.training import origin_text

    if data_path is None and not from_outcomes:
        raise click.UsageError("give --data FILE, --from-outcomes, or both")
    if synthetic and data_path is None:
        raise click.UsageError("--synthetic says the rows of --data FILE are generated")
    batch = _read_labelled(data_path) if data_path is not None else None
    target_dir = models_dir or default_models_dir()
    options = {"seed": seed, "folds": cv_folds, "repeats": cv_repeats, "progress": _progress}
    try:
        if from_outcomes:
            result = _from_outcomes(database_url, target_dir, batch, data_path, synthetic, options)
        else:
            result = register_candidate(
                batch.profiles,
                batch.labels,
                models_dir=target_dir,
                data_source=data_path.name,
                synthetic_rows=batch.scored if synthetic else 0,
                **options,
            )
    except ScoringError as exc:
        fail(one_line(exc))
    for warning in result["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    manifest = result["manifest"]
    model_m = manifest["metrics"]["model"]
    base_m = manifest["metrics"]["baseline_logistic"]
    click.echo(f"model {manifest['version']} written to {result['path']}")
    click.echo(f"training data: {origin_text(manifest['training_data'])}")
    click.echo(
        f"held-out ROC AUC {model_m['roc_auc']:.3f} (logistic baseline {base_m['roc_auc']:.3f}), "
        f"PR AUC {model_m['pr_auc']:.3f} ({base_m['pr_auc']:.3f}), "
        f"Brier {model_m['brier']:.4f} ({base_m['brier']:.4f})"
    )
    _echo_evaluation(manifest["evaluation"], manifest["comparison"])
    if not activate:
        click.echo("active: no (promote with `sme-export models promote VERSION`)")
        return
    if result["active"] == manifest["version"]:
        click.echo("active: yes (the same model was already active)")
        return
    promote_version(target_dir, manifest["version"], force=force, reason=reason, comparison=None)


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _read_labelled(data_path: Path):
    """The labelled rows of a file; every row must be valid, so no outcome is lost."""
    from scoring.contract.validate import validate_table
    from scoring.files.readers import read_table

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
    return batch


def _from_outcomes(database_url, models_dir, batch, data_path, synthetic, options) -> dict:
    """Train on the stored outcomes (and the file's rows), saying what was left out."""
    from api.services.retraining import LabelledData, train_from_outcomes

    extra = None
    if batch is not None:
        extra = LabelledData(batch=batch, source=data_path.name, synthetic=synthetic)
    with session(database_url) as db_session:
        result = train_from_outcomes(db_session, models_dir=models_dir, extra_data=extra, **options)
    found = result["outcomes"]
    period = found["period"]
    when = f", decided {period['from']} to {period['until']}" if period else ""
    click.echo(
        f"stored outcomes: {found['real_outcomes']} known outcome(s) of {found['decisions']} "
        f"decision(s){when}; {found['censored_left_out']} censored decision(s) left out "
        f"(outcome not known yet); {found['invalid_left_out']} invalid left out"
    )
    for item in result["invalid"]:
        details = "; ".join(f"{e['field']}: {e['message']}" for e in item["errors"])
        click.echo(f"left out decision {item['decision_id']}: {details}", err=True)
    return result


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
