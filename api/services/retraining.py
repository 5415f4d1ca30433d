"""Retraining: a candidate model fitted on labelled profiles, judged out of sample and
against the active model on the same rows, and registered under models/ (never activated
here: promotion goes through the guard of ``scoring.model.registry.promote``).

``train_from_outcomes`` trains on the office's own outcomes (the stored support decisions
whose label is known; censored ones are left out and counted), optionally together with
the labelled rows of a file; ``sme-export train`` and the admin pages both call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from api import store
from api.services.outcomes import OutcomeTraining, training_from_outcomes
from scoring.contract.validate import ValidatedBatch
from scoring.errors import ScoringError
from scoring.model.training import MIN_PER_CLASS, TrainingDataError

#: How the training table from stored decisions is named in the manifest.
STORED_OUTCOMES = "stored outcomes"

Progress = Callable[[str], None]


class TooFewOutcomes(TrainingDataError):
    """The stored outcomes (with the file given, if any) hold too few of either outcome."""


@dataclass
class LabelledData:
    """Labelled profiles read from a file, to train on beside the stored outcomes; their
    rows are generated ones when ``synthetic`` (the shipped training data), else real."""

    batch: ValidatedBatch
    source: str
    synthetic: bool = False


def train_from_outcomes(
    session: Session,
    *,
    models_dir: Path,
    seed: int | None = None,
    extra_data: LabelledData | None = None,
    folds: int | None = None,
    repeats: int | None = None,
    actor: str = "cli:train",
    progress: Progress | None = None,
) -> dict:
    """Fit a candidate on the stored outcomes (plus ``extra_data``'s rows), judge it and
    register it; the processing log records the training (the caller commits).

    Returns what ``register_candidate`` returns, plus ``outcomes`` (the stored outcomes'
    summary: ``real_outcomes``, ``censored_left_out``, ``invalid_left_out``, ``period``,
    ...) and ``invalid`` (the stored decisions left out as invalid: ``decision_id`` and
    ``errors``). Raises ``TooFewOutcomes`` before fitting when either outcome has fewer
    than ``MIN_PER_CLASS`` rows.
    """
    training = training_from_outcomes(session)
    profiles, labels = _table(training, extra_data)
    _check_enough(labels, training, extra_data)
    summary = training.summary()
    source = STORED_OUTCOMES + (f" + {extra_data.source}" if extra_data else "")
    synthetic_rows = extra_data.batch.scored if extra_data and extra_data.synthetic else 0
    result = register_candidate(
        profiles,
        labels,
        models_dir=models_dir,
        data_source=source,
        synthetic_rows=synthetic_rows,
        outcome_period=summary["period"],
        seed=seed,
        folds=folds,
        repeats=repeats,
        extra={"outcomes": summary},
        progress=progress,
    )
    training_data = result["manifest"]["training_data"]
    store.audit(
        session,
        actor=actor,
        action="model.train",
        subject=result["version"],
        details={
            "origin": training_data["origin"],
            "rows": training_data["rows"],
            "real_outcomes": training_data["real_outcomes"],
            "synthetic_rows": training_data["synthetic_rows"],
            "censored_left_out": summary["censored_left_out"],
            "invalid_left_out": summary["invalid_left_out"],
        },
    )
    return {
        **result,
        "outcomes": summary,
        "invalid": [_invalid(error) for error in training.invalid],
    }


def _table(
    training: OutcomeTraining, extra: LabelledData | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The stored outcomes' rows first, then the file's."""
    labels = np.asarray(training.batch.labels, dtype=bool)
    if extra is None:
        return training.batch.profiles, labels
    profiles = pd.concat([training.batch.profiles, extra.batch.profiles], ignore_index=True)
    return profiles, np.concatenate([labels, np.asarray(extra.batch.labels, dtype=bool)])


def _check_enough(
    labels: np.ndarray, training: OutcomeTraining, extra: LabelledData | None
) -> None:
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if min(positives, negatives) >= MIN_PER_CLASS:
        return
    stored = training.batch.labels
    stored_positives = int(np.sum(stored)) if training.rows else 0
    told = (
        f"the stored decisions give {training.rows} known outcome(s) ({stored_positives} "
        f"exported, {training.rows - stored_positives} did not); {training.censored} "
        f"decision(s) are still censored (outcome not known yet) and "
        f"{len(training.invalid)} were invalid"
    )
    if extra is not None:
        told += f"; {extra.source} adds {extra.batch.scored} row(s)"
    raise TooFewOutcomes(
        f"need at least {MIN_PER_CLASS} SMEs that exported and {MIN_PER_CLASS} that did not; "
        f"got {positives} and {negatives}: {told}. Record more follow-ups (see `sme-export "
        "outcomes worklist`) or add labelled rows with --data FILE"
    )


def _invalid(error) -> dict:
    """A stored decision whose profile snapshot fails the contract now, by decision id."""
    ident = error.sme_id[1:] if error.sme_id and error.sme_id.startswith("d") else None
    return {
        "decision_id": int(ident) if ident and ident.isdigit() else None,
        "errors": [dict(e) for e in error.errors],
    }


def register_candidate(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    *,
    models_dir: Path,
    data_source: str,
    synthetic_rows: int = 0,
    outcome_period: dict | None = None,
    seed: int | None = None,
    folds: int | None = None,
    repeats: int | None = None,
    extra: dict | None = None,
    progress: Progress | None = None,
) -> dict:
    """Fit a candidate on the labelled profiles, evaluate it out of sample, compare it with
    the active model of ``models_dir`` on the same rows, and register it (not active).

    Returns ``version``, ``path``, ``manifest`` (as written), ``active`` (the version
    active while it was judged, or None) and ``warnings`` (data too few or unbalanced to
    trust). Raises ``TrainingDataError`` when either outcome has too few rows.
    """
    from scoring.model import evaluation
    from scoring.model.additive import read_manifest, save_model
    from scoring.model.training import DEFAULT_SEED

    say = progress or (lambda message: None)
    seed = DEFAULT_SEED if seed is None else seed
    labels = np.asarray(labels, dtype=bool)
    warnings = evaluation.data_warnings(labels)
    active = _active_model(models_dir)
    say(f"training on {len(labels)} profiles ...")
    trained, judged = _fit_and_judge(
        profiles,
        labels,
        active=active,
        seed=seed,
        fit_options={
            "data_source": data_source,
            "synthetic_rows": synthetic_rows,
            "outcome_period": outcome_period,
        },
        folds=folds or evaluation.CV_FOLDS,
        repeats=repeats or evaluation.CV_REPEATS,
        say=say,
    )
    manifest = {**trained.manifest, **judged, **(extra or {}), "data_warnings": warnings}
    path = save_model(trained.bundle, manifest, models_dir, activate=False)
    manifest = read_manifest(models_dir, path.name)
    return {
        "version": manifest["version"],
        "path": path,
        "manifest": manifest,
        "active": None if active is None else active.version,
        "warnings": warnings,
    }


def _active_model(models_dir: Path):
    """The active model of ``models_dir``, or None if there is none or it is unusable (the
    candidate is then judged on its own)."""
    from scoring.model.additive import load_model

    try:
        return load_model(models_dir)
    except ScoringError:
        return None


def _fit_and_judge(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    *,
    active,
    seed: int,
    fit_options: dict,
    folds: int,
    repeats: int,
    say: Progress,
) -> tuple:
    """The candidate fitted on all rows (``fit_options`` are the training's
    ``data_source``, ``synthetic_rows`` and ``outcome_period``) and its out-of-sample
    evaluation beside ``active`` on the same rows."""
    from threadpoolctl import threadpool_limits

    from scoring.model import evaluation
    from scoring.model.training import train as fit
    from scoring.rules.loading import load_ruleset

    # Small data means many small fits, where OpenMP threads cost more than they give
    # (results are the same with any number of threads).
    small = len(labels) <= evaluation.CV_MAX_ROWS
    with threadpool_limits(limits=1 if small else None, user_api="openmp"):
        trained = fit(
            profiles,
            labels,
            seed=seed,
            ruleset_version=load_ruleset().version_string,
            **fit_options,
        )
        say("evaluating out of sample and comparing with the active model ...")
        judged = evaluation.evaluate_candidate(
            profiles,
            labels,
            candidate=trained.bundle["estimator"],
            active=active,
            seed=seed,
            folds=folds,
            repeats=repeats,
        )
    return trained, judged
