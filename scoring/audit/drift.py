"""Drift: are the SMEs scored now like the ones the model was trained on?

Population stability index per model input and for the score, between the training data
(reference) and recently scored profiles:

    PSI = sum over bins of (recent% - reference%) * ln(recent% / reference%)

Numeric inputs are cut at the reference's deciles (so each reference bin holds about a
tenth), categorical and yes/no inputs by category; a missing value is a bin of its own.
An empty bin counts as ``FLOOR`` (0.0001) so the logarithm stays finite. Usual reading:
below 0.1 stable, 0.1 to 0.25 watch, 0.25 and above act (retrain or investigate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.model.features import FEATURES, encode_features

WATCH = 0.1
ACT = 0.25
FLOOR = 1e-4
DECILES = np.linspace(0.1, 0.9, 9)
_CATEGORICAL_GROUPS = ("sector", "legal_form")


def status(value: float) -> str:
    return "act" if value >= ACT else "watch" if value >= WATCH else "stable"


def psi_from_shares(reference: np.ndarray, recent: np.ndarray) -> float:
    """PSI of two share vectors over the same bins (empty bins floored)."""
    e = np.maximum(np.asarray(reference, dtype=np.float64), FLOOR)
    a = np.maximum(np.asarray(recent, dtype=np.float64), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(reference: np.ndarray, recent: np.ndarray) -> float:
    """PSI with bins cut at the reference's deciles; missing values form one more bin."""
    reference, recent = np.asarray(reference, float), np.asarray(recent, float)
    present = reference[~np.isnan(reference)]
    edges = np.unique(np.quantile(present, DECILES)) if present.size else np.array([])

    def shares(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        # A value equal to an edge falls in the bin below it: bins are (edge_k-1, edge_k].
        codes = np.searchsorted(edges, values[~missing], side="left")
        counts = np.bincount(codes, minlength=edges.size + 1).astype(float)
        return np.append(counts, missing.sum()) / max(len(values), 1)

    return psi_from_shares(shares(reference), shares(recent))


def categorical_psi(reference, recent) -> float:
    """PSI over the categories seen in either sample (missing is a category)."""
    ref = pd.Series(reference, dtype=object).fillna("(missing)").astype(str)
    now = pd.Series(recent, dtype=object).fillna("(missing)").astype(str)
    categories = sorted(set(ref) | set(now))
    e = ref.value_counts(normalize=True).reindex(categories, fill_value=0.0).to_numpy()
    a = now.value_counts(normalize=True).reindex(categories, fill_value=0.0).to_numpy()
    return psi_from_shares(e, a)


def _inputs(profiles: pd.DataFrame) -> dict[str, tuple[str, np.ndarray]]:
    """Each model input as (kind, values): one-hot groups folded back into their field."""
    X = encode_features(profiles)
    out: dict[str, tuple[str, np.ndarray]] = {}
    for name in _CATEGORICAL_GROUPS:
        out[name] = ("categorical", profiles[name].to_numpy(dtype=object))
    for j, feature in enumerate(FEATURES):
        if feature.group in _CATEGORICAL_GROUPS:
            continue
        values = X[:, j]
        binary = np.isin(values[~np.isnan(values)], (0.0, 1.0)).all()
        out[feature.name] = ("categorical" if binary else "numeric", values)
    return out


def drift_report(
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    *,
    reference_scores: np.ndarray,
    recent_scores: np.ndarray,
) -> dict:
    """PSI and status of every model input and of the score, worst first."""
    ref_inputs, now_inputs = _inputs(reference), _inputs(recent)
    features = []
    for name, (kind, values) in ref_inputs.items():
        other = now_inputs[name][1]
        if kind == "numeric" and np.unique(values[~np.isnan(values)]).size <= 2:
            kind = "categorical"
        value = numeric_psi(values, other) if kind == "numeric" else categorical_psi(values, other)
        features.append(
            {"feature": name, "kind": kind, "psi": round(value, 4), "status": status(value)}
        )
    features.sort(key=lambda f: (-f["psi"], f["feature"]))
    score_psi = numeric_psi(reference_scores, recent_scores)
    worst = max([score_psi, *(f["psi"] for f in features)])
    return {
        "reference_rows": len(reference),
        "recent_rows": len(recent),
        "thresholds": {"watch": WATCH, "act": ACT},
        "score": {"psi": round(score_psi, 4), "status": status(score_psi)},
        "features": features,
        "status": status(worst),
        "warnings": [
            f"{f['feature']}: PSI {f['psi']:.3f} ({f['status']})"
            for f in features
            if f["status"] != "stable"
        ]
        + (
            [f"score: PSI {score_psi:.3f} ({status(score_psi)})"]
            if status(score_psi) != "stable"
            else []
        ),
    }
