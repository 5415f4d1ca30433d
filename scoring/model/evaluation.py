"""Judging a candidate model on small labelled data, and comparing it with the active one.

An office's real outcomes come in hundreds, not tens of thousands, of rows: one 80/20 split
of 300 SMEs leaves a test set too small to trust. So small data are evaluated by repeated
stratified k-fold cross-validation of the whole training procedure, and a candidate is
compared with the active model on the same rows with a paired bootstrap. The promotion
guard (``guard_failures``) reads the comparison this module records.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from scoring.model.additive import ExportModel
from scoring.model.features import encode_features
from scoring.model.training import DEFAULT_SEED, TEST_SIZE, make_estimator

#: Below these, metrics on the data are too uncertain to trust (warnings say how many more).
MIN_ROWS = 200
MIN_PER_CLASS = 50
MIN_MINORITY_SHARE = 0.10
#: Up to this many rows, evaluate by repeated cross-validation; above, on the held-out split.
CV_MAX_ROWS = 1000
CV_FOLDS = 5
CV_REPEATS = 5
BOOTSTRAP_SAMPLES = 1000
#: Promotion guard: a candidate is worse when, on the same rows, its ROC AUC is more than
#: AUC_TOLERANCE below the active model's, or its Brier score more than BRIER_TOLERANCE above.
AUC_TOLERANCE = 0.01
BRIER_TOLERANCE = 0.005


def data_warnings(labels: np.ndarray) -> list[str]:
    """Why labelled data may be too few or too unbalanced to trust, and how many more it needs."""
    y = np.asarray(labels, dtype=bool)
    n, positives = len(y), int(y.sum())
    negatives = n - positives
    warnings = []
    if n < MIN_ROWS:
        warnings.append(
            f"only {n} labelled profiles: metrics on fewer than {MIN_ROWS} are too uncertain "
            f"to trust; add {MIN_ROWS - n} more"
        )
    for count, what, plural in (
        (positives, "exported within 12 months", "positives"),
        (negatives, "did not export within 12 months", "negatives"),
    ):
        if count < MIN_PER_CLASS:
            warnings.append(
                f"only {count} SMEs {what}: need {MIN_PER_CLASS - count} more {plural} "
                f"(at least {MIN_PER_CLASS} of each outcome)"
            )
    minority = min(positives, negatives)
    if n and minority / n < MIN_MINORITY_SHARE:
        # m more of the minority class reach the share when (minority + m) / (n + m) >= share.
        more = math.ceil((MIN_MINORITY_SHARE * n - minority) / (1 - MIN_MINORITY_SHARE))
        which = "positives" if positives <= negatives else "negatives"
        warnings.append(
            f"unbalanced: {minority / n:.1%} of the profiles are {which}; need {more} more "
            f"{which} to reach {MIN_MINORITY_SHARE:.0%}"
        )
    return warnings


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC from ranks (Mann-Whitney U, ties averaged): equal to scikit-learn's
    ``roc_auc_score`` and much cheaper inside a bootstrap loop."""
    y = np.asarray(y, dtype=bool)
    positives = int(y.sum())
    negatives = y.size - positives
    ranks = rankdata(p)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y, dtype=np.float64)) ** 2))


def metrics(y: np.ndarray, p: np.ndarray) -> dict:
    return {
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
    }


def _bootstrap_indices(y: np.ndarray, *, seed: int, samples: int) -> list[np.ndarray]:
    """Stratified resamples (each class resampled within itself), so every one has both."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(y == k) for k in (0, 1)]
    return [
        np.concatenate([rng.choice(idx, size=idx.size, replace=True) for idx in by_class])
        for _ in range(samples)
    ]


def _interval(values: list[float], estimate: float) -> dict:
    low, high = np.percentile(values, [2.5, 97.5])
    return {
        "estimate": round(estimate, 4),
        "ci_low": round(float(low), 4),
        "ci_high": round(float(high), 4),
    }


def metrics_with_ci(
    y: np.ndarray, p: np.ndarray, *, seed: int = DEFAULT_SEED, samples: int = BOOTSTRAP_SAMPLES
) -> dict:
    """ROC AUC and Brier score with 95% percentile-bootstrap intervals."""
    y = np.asarray(y, dtype=np.int64)
    aucs, briers = [], []
    for idx in _bootstrap_indices(y, seed=seed, samples=samples):
        aucs.append(roc_auc(y[idx], p[idx]))
        briers.append(brier(y[idx], p[idx]))
    point = metrics(y, p)
    return {
        "rows": int(y.size),
        "roc_auc": _interval(aucs, point["roc_auc"]),
        "brier": _interval(briers, point["brier"]),
    }


def compare(
    y: np.ndarray,
    candidate_p: np.ndarray,
    active_p: np.ndarray,
    *,
    seed: int = DEFAULT_SEED,
    samples: int = BOOTSTRAP_SAMPLES,
) -> dict:
    """Both models' metrics on the same rows and the paired bootstrap of their differences
    (candidate minus active): positive AUC difference and negative Brier difference favour
    the candidate."""
    y = np.asarray(y, dtype=np.int64)
    auc_diff, brier_diff = [], []
    for idx in _bootstrap_indices(y, seed=seed, samples=samples):
        auc_diff.append(roc_auc(y[idx], candidate_p[idx]) - roc_auc(y[idx], active_p[idx]))
        brier_diff.append(brier(y[idx], candidate_p[idx]) - brier(y[idx], active_p[idx]))
    cand, act = metrics(y, candidate_p), metrics(y, active_p)
    return {
        "rows": int(y.size),
        "positives": int(y.sum()),
        "candidate": cand,
        "active": act,
        "difference": {
            "roc_auc": _interval(auc_diff, cand["roc_auc"] - act["roc_auc"]),
            "brier": _interval(brier_diff, cand["brier"] - act["brier"]),
        },
    }


def guard_failures(comparison: dict) -> list[str]:
    """Why the candidate is worse than the active model on the compared rows (empty: it is not)."""
    cand, act = comparison["candidate"], comparison["active"]
    failures = []
    if cand["roc_auc"] < act["roc_auc"] - AUC_TOLERANCE:
        failures.append(
            f"discrimination: ROC AUC {cand['roc_auc']:.4f} is more than {AUC_TOLERANCE} below "
            f"the active model's {act['roc_auc']:.4f}"
        )
    if cand["brier"] > act["brier"] + BRIER_TOLERANCE:
        failures.append(
            f"calibration: Brier score {cand['brier']:.4f} is more than {BRIER_TOLERANCE} above "
            f"the active model's {act['brier']:.4f}"
        )
    return failures


def out_of_sample_predictions(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    *,
    seed: int = DEFAULT_SEED,
    folds: int = CV_FOLDS,
    repeats: int = CV_REPEATS,
    fitted: Any = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Predictions for rows the candidate did not learn from: (rows, probabilities, method).

    Up to ``CV_MAX_ROWS`` rows: repeated stratified k-fold cross-validation of the training
    procedure, each row's probability averaged over the repeats. Above: the 20% held-out
    split that ``training.train`` used with the same seed, predicted by the ``fitted``
    scikit-learn estimator.
    """
    y = np.asarray(labels, dtype=np.int64)
    X = encode_features(profiles)
    if len(y) > CV_MAX_ROWS and fitted is not None:
        _, idx_test = train_test_split(
            np.arange(len(y)), test_size=TEST_SIZE, stratify=y, random_state=seed
        )
        return (
            idx_test,
            fitted.predict_proba(X[idx_test])[:, 1],
            {"method": "held-out split", "test_size": TEST_SIZE},
        )
    folds = max(2, min(folds, int(y.sum()), int((1 - y).sum())))
    total = np.zeros(len(y))
    per_fold = {"roc_auc": [], "brier": []}
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    # One OpenMP thread: many small fits, where thread start-up would dominate.
    with threadpool_limits(limits=1, user_api="openmp"):
        for train_idx, test_idx in splitter.split(X, y):
            positives = int(y[train_idx].sum())
            estimator = make_estimator(
                seed=seed, n_positive=positives, n_negative=len(train_idx) - positives
            )
            estimator.fit(X[train_idx], y[train_idx])
            p = estimator.predict_proba(X[test_idx])[:, 1]
            total[test_idx] += p
            if 0 < y[test_idx].sum() < len(test_idx):
                fold = metrics(y[test_idx], p)
                per_fold["roc_auc"].append(fold["roc_auc"])
                per_fold["brier"].append(fold["brier"])
    method = {
        "method": "repeated stratified k-fold cross-validation",
        "folds": folds,
        "repeats": repeats,
        "fold_mean": {k: round(float(np.mean(v)), 4) for k, v in per_fold.items() if v},
    }
    return np.arange(len(y)), total / repeats, method


def evaluate_candidate(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    *,
    candidate: Any,
    active: ExportModel | None,
    seed: int = DEFAULT_SEED,
    folds: int = CV_FOLDS,
    repeats: int = CV_REPEATS,
) -> dict:
    """``candidate`` is the fitted scikit-learn estimator of ``training.train``.

    The manifest's ``evaluation`` (metrics with intervals) and ``comparison`` with the
    active model on the same rows (None when there is no active model)."""
    y = np.asarray(labels, dtype=np.int64)
    rows, p, method = out_of_sample_predictions(
        profiles, y, seed=seed, folds=folds, repeats=repeats, fitted=candidate
    )
    evaluation = {**method, **metrics_with_ci(y[rows], p, seed=seed)}
    comparison = None
    if active is not None:
        active_p = active.predict_proba(encode_features(profiles.iloc[rows]))
        comparison = {
            "against": active.version,
            "method": method["method"],
            **compare(y[rows], p, active_p, seed=seed),
        }
        comparison["guard"] = guard_failures(comparison)
    return {"evaluation": evaluation, "comparison": comparison}
