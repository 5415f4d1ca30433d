"""The model card: what a model version is, what it was trained on, how good it is, how each
input moves it, and where not to trust it.

Built from the version's manifest and, when the training data are at hand and match the
manifest's fingerprint, from the very held-out rows the model was evaluated on (ROC curve,
calibration, score distribution and bootstrap intervals are then recomputed exactly).
Feature effects are exact: the model is additive, so each input's partial dependence is
its lookup table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve
from sklearn.model_selection import train_test_split

from scoring.engine import score_frame
from scoring.model.additive import ExportModel
from scoring.model.evaluation import metrics_with_ci
from scoring.model.features import FEATURES, encode_features
from scoring.model.training import (
    MIXED,
    SYNTHETIC,
    TEST_SIZE,
    calibration_table,
    fingerprint,
    origin_text,
    training_origin,
)
from scoring.rules.ruleset import Ruleset

CARD_BOOTSTRAP_SAMPLES = 200
ROC_POINTS = 50
SCORE_BINS = np.arange(0, 101, 10)

INTENDED_USE = [
    "Rank and explain the export readiness of Indonesian SMEs that ask a city trade office "
    "for support, so that officers choose whom to put forward for market entry.",
    "A decision aid for officers, who see every criterion and reason: not an automated "
    "decision about an SME (UU PDP No. 27/2022 lets data subjects object to those).",
]
LIMITATIONS = [
    "The probability is only as good as the outcomes it was trained on; metrics on data "
    "from one generator or one office do not carry over to others.",
    "owner_gender, names, contacts and district are never model inputs, but other inputs "
    "(sector above all) can carry part of them: read the fairness audit.",
    "Inputs are as reported by the SME; the model cannot check them.",
    "No effect of region, time, exchange rates or the target market on the probability.",
]
SYNTHETIC_LIMITATION = (
    "Trained on SYNTHETIC data from a documented generator (data/README.md), not on real "
    "export outcomes: its metrics say the pipeline learns what the generator put in, not "
    "how well it predicts real SMEs. Retrain on the office's own outcomes."
)
MIXED_LIMITATION = (
    "Trained on {real} real outcomes{period} together with {synthetic} SYNTHETIC rows from "
    "a documented generator (data/README.md): its metrics are partly about what the "
    "generator put in. Retrain on the office's own outcomes alone once there are enough."
)
OUTCOMES_LIMITATION = (
    "The real outcomes are those of SMEs the office decided about and followed up{period}: "
    "decisions whose outcome is not known yet were left out, and whom the office chose "
    "to support shapes who is in the data."
)


def origin_limitations(training: dict) -> list[str]:
    """What the origin of the training data means for trusting the model."""
    found = training_origin(training)
    period = found["outcome_period"]
    when = f" ({period['from']} to {period['until']})" if period else ""
    if found["origin"] == SYNTHETIC:
        return [SYNTHETIC_LIMITATION]
    out = []
    if found["origin"] == MIXED:
        out.append(
            MIXED_LIMITATION.format(
                real=found["real_outcomes"], period=when, synthetic=found["synthetic_rows"]
            )
        )
    if period:
        out.append(OUTCOMES_LIMITATION.format(period=when))
    return out


def hanley_mcneil_interval(auc: float, positives: int, negatives: int) -> dict:
    """95% interval of a ROC AUC from its standard error (Hanley and McNeil, 1982), for
    when the predictions themselves are not available."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    half = 1.96 * math.sqrt(max(variance, 0.0))
    return {
        "estimate": round(auc, 4),
        "ci_low": round(max(0.0, auc - half), 4),
        "ci_high": round(min(1.0, auc + half), 4),
        "method": "Hanley-McNeil standard error",
    }


def feature_effects(model: ExportModel) -> list[dict]:
    """Each input's exact effect on the log-odds (its partial dependence), largest first."""
    effects = []
    for feature, table in zip(FEATURES, model.additive.tables, strict=True):
        values = np.append(table.values, table.nan_value)
        span = float(values.max() - values.min())
        if table.thresholds.size == 0:
            curve = [{"up_to": None, "log_odds": round(float(table.values[0]), 4)}]
        else:
            curve = [
                {"up_to": round(float(t), 4), "log_odds": round(float(v), 4)}
                for t, v in zip(table.thresholds, table.values[:-1], strict=True)
            ] + [{"up_to": None, "log_odds": round(float(table.values[-1]), 4)}]
        effects.append(
            {
                "feature": feature.name,
                "group": feature.group,
                "monotone": feature.monotone,
                "log_odds_range": round(span, 4),
                "curve": curve,
            }
        )
    return sorted(effects, key=lambda e: (-e["log_odds_range"], e["feature"]))


def _roc_points(y: np.ndarray, p: np.ndarray) -> list[dict]:
    fpr, tpr, _ = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(ROC_POINTS, len(fpr))).astype(int))
    return [{"fpr": round(float(fpr[i]), 4), "tpr": round(float(tpr[i]), 4)} for i in keep]


def _held_out(
    model: ExportModel, profiles: pd.DataFrame, labels: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The held-out rows of training, if these are the data the model was trained on."""
    training = model.manifest.get("training_data") or {}
    y = np.asarray(labels, dtype=np.int64)
    if training.get("fingerprint") != fingerprint(profiles, y):
        return None
    seed = model.manifest.get("seed")
    test_size = (model.manifest.get("split") or {}).get("test_size", TEST_SIZE)
    _, idx_test = train_test_split(
        np.arange(len(y)), test_size=test_size, stratify=y, random_state=seed
    )
    return profiles.iloc[np.sort(idx_test)].reset_index(drop=True), y[np.sort(idx_test)]


def model_card(
    model: ExportModel,
    *,
    ruleset: Ruleset,
    profiles: pd.DataFrame | None = None,
    labels: np.ndarray | None = None,
    drift: dict | None = None,
) -> dict:
    """The card as data (the API's JSON and the web page both render it)."""
    manifest = model.manifest
    training = dict(manifest.get("training_data") or {})
    held = manifest.get("metrics", {}).get("model", {})
    split = manifest.get("split") or {}
    test_rows = split.get("test_rows") or 0
    positives = round(held.get("base_rate", 0) * test_rows)
    card = {
        "version": model.version,
        "created_at": manifest.get("created_at"),
        "kind": manifest.get("kind"),
        "training_data": {
            **training,
            **training_origin(training),
            "origin_text": origin_text(training),
        },
        "intended_use": INTENDED_USE,
        "limitations": origin_limitations(training) + LIMITATIONS,
        "monotonic_constraints": [
            {"feature": f.name, "direction": f.monotone} for f in FEATURES if f.monotone
        ],
        "metrics": {
            "held_out": held,
            "baseline_logistic": manifest.get("metrics", {}).get("baseline_logistic"),
            "evaluation": manifest.get("evaluation"),
            "roc_auc_interval": (
                hanley_mcneil_interval(held["roc_auc"], positives, test_rows - positives)
                if held.get("roc_auc") and 0 < positives < test_rows
                else None
            ),
        },
        "roc_curve": None,
        "calibration": held.get("calibration"),
        "score_distribution": None,
        "feature_effects": feature_effects(model),
        "drift": drift,
        "warnings": list(manifest.get("data_warnings") or [])
        + ([] if drift is None else [f"drift: {w}" for w in drift.get("warnings", [])]),
    }
    if profiles is None or labels is None:
        return card
    held_out = _held_out(model, profiles, labels)
    if held_out is None:
        return card
    rows, y = held_out
    p = model.predict_proba(encode_features(rows))
    intervals = metrics_with_ci(y, p, samples=CARD_BOOTSTRAP_SAMPLES)
    card["metrics"]["held_out_intervals"] = intervals
    card["metrics"]["roc_auc_interval"] = {**intervals["roc_auc"], "method": "bootstrap"}
    card["roc_curve"] = _roc_points(y, p)
    card["calibration"] = calibration_table(y, p)
    scores = score_frame(rows, ruleset=ruleset, model=model, scored_at="").score
    counts, _ = np.histogram(scores, bins=SCORE_BINS)
    card["score_distribution"] = [
        {"from": int(lo), "to": int(hi), "count": int(c)}
        for lo, hi, c in zip(SCORE_BINS[:-1], SCORE_BINS[1:], counts, strict=True)
    ]
    return card
