"""Training: monotone, additive gradient boosting with calibration, and a logistic baseline.

``train`` is deterministic for the same data and seed: retraining the shipped
data reproduces the shipped model's predictions exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scoring.contract.fields import PROFILE_COLUMNS
from scoring.errors import ScoringError
from scoring.model.additive import AdditiveLogit, bundle_for, library_versions
from scoring.model.features import FEATURE_NAMES, MONOTONIC_CST, encode_features

DEFAULT_SEED = 2026
TEST_SIZE = 0.2
PROBE_ROWS = 256
GBM_PARAMS = {
    "learning_rate": 0.08,
    "max_iter": 400,
    "max_leaf_nodes": 6,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 25,
    "interaction_cst": "no_interactions",
}


class TrainingDataError(ScoringError, ValueError):
    """The labelled data cannot train a model (too few rows or only one class)."""


@dataclass
class TrainedModel:
    bundle: dict
    manifest: dict


def fingerprint(profiles: pd.DataFrame, labels: np.ndarray) -> str:
    """SHA-256 of the canonical training data, independent of file format and library versions."""
    digest = hashlib.sha256()
    for name in PROFILE_COLUMNS:
        column = profiles[name]
        digest.update(name.encode())
        if column.dtype.kind in "biuf":
            digest.update(np.ascontiguousarray(column.to_numpy()).tobytes())
        else:
            digest.update("\x1f".join("" if pd.isna(v) else str(v) for v in column).encode())
    digest.update(np.asarray(labels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def calibration_table(y: np.ndarray, p: np.ndarray, *, bins: int = 10) -> list[dict]:
    """Observed rate against mean predicted probability in equal-count bins."""
    order = np.argsort(p, kind="stable")
    rows = []
    for chunk in np.array_split(order, bins):
        if chunk.size:
            rows.append(
                {
                    "n": int(chunk.size),
                    "mean_predicted": round(float(p[chunk].mean()), 4),
                    "observed_rate": round(float(y[chunk].mean()), 4),
                }
            )
    return rows


def evaluate(y: np.ndarray, p: np.ndarray) -> dict:
    """Discrimination and calibration of predicted probabilities."""
    return {
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "log_loss": round(float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6))), 4),
        "base_rate": round(float(np.mean(y)), 4),
        "mean_predicted": round(float(np.mean(p)), 4),
        "calibration": calibration_table(y, p),
    }


def make_estimator(*, seed: int, n_positive: int, n_negative: int) -> CalibratedClassifierCV:
    folds = min(5, n_positive, n_negative)
    gbm = HistGradientBoostingClassifier(
        **GBM_PARAMS, monotonic_cst=list(MONOTONIC_CST), random_state=seed
    )
    return CalibratedClassifierCV(
        gbm,
        method="sigmoid",
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        ensemble=False,
    )


def make_baseline() -> object:
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )


def train(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    *,
    seed: int = DEFAULT_SEED,
    data_source: str = "",
    synthetic: bool = False,
    ruleset_version: str | None = None,
) -> TrainedModel:
    """Fit on a stratified 80% split, report held-out metrics beside a logistic baseline."""
    y = np.asarray(labels, dtype=np.int64)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if min(n_pos, n_neg) < 10:
        raise TrainingDataError(
            f"need at least 10 SMEs that exported and 10 that did not; got {n_pos} and {n_neg}"
        )
    X = encode_features(profiles)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=TEST_SIZE, stratify=y, random_state=seed
    )
    train_pos = int(y[idx_train].sum())
    estimator = make_estimator(
        seed=seed, n_positive=train_pos, n_negative=len(idx_train) - train_pos
    )
    estimator.fit(X[idx_train], y[idx_train])
    baseline = make_baseline().fit(X[idx_train], y[idx_train])

    p_test = estimator.predict_proba(X[idx_test])[:, 1]
    p_base = baseline.predict_proba(X[idx_test])[:, 1]
    probe = X[idx_test[:PROBE_ROWS]]
    tables = AdditiveLogit.from_estimator(estimator.calibrated_classifiers_[0].estimator)
    reference = tables.contributions(X[idx_train]).mean(axis=0)
    bundle = bundle_for(estimator, baseline=baseline, reference=reference, probe_X=probe)
    gbm = estimator.calibrated_classifiers_[0].estimator
    manifest = {
        "format": 1,
        "created_at": dt.datetime.now(dt.UTC)
        .replace(microsecond=0)
        .isoformat()
        .replace("+00:00", "Z"),
        "kind": (
            "HistGradientBoostingClassifier, one feature per tree, monotone constraints, "
            "sigmoid calibration on 5-fold out-of-fold predictions"
        ),
        "seed": seed,
        "params": {**GBM_PARAMS, "n_iter": int(gbm.n_iter_)},
        "features": list(FEATURE_NAMES),
        "monotonic_cst": list(MONOTONIC_CST),
        "training_data": {
            "source": data_source,
            "synthetic": synthetic,
            "fingerprint": fingerprint(profiles, y),
            "rows": len(y),
            "positives": n_pos,
        },
        "split": {"test_size": TEST_SIZE, "train_rows": len(idx_train), "test_rows": len(idx_test)},
        "metrics": {
            "model": evaluate(y[idx_test], p_test),
            "baseline_logistic": evaluate(y[idx_test], p_base),
        },
        "libraries": library_versions(),
        "ruleset_version": ruleset_version,
    }
    return TrainedModel(bundle=bundle, manifest=manifest)
