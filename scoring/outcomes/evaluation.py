"""Was the score right? Figures over support decisions whose label is known.

Every figure here is plain arithmetic on counts that ``tests/test_outcome_evaluation.py``
checks by hand: export rates with Wilson 95% intervals, ROC AUC with a stratified bootstrap
interval, the Brier score and a reliability table, and the difference in export rate
between supported and not supported SMEs of the same score band (Newcombe's interval).
That difference is an association: the office chose whom to support, so it is not the
effect of support.

Below ``MIN_KNOWN_OUTCOMES`` known labels the figures are left out and only counts are
given: a rate of 1 out of 4 misleads more than it informs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from scoring.model.evaluation import roc_auc

#: Fewer known outcomes than this: "too few outcomes to judge", counts only.
MIN_KNOWN_OUTCOMES = 30
Z95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 2026
#: Score bands (0 to 100; the last band includes 100).
SCORE_BANDS = ((0.0, 20.0), (20.0, 40.0), (40.0, 60.0), (60.0, 80.0), (80.0, 100.0))
#: Bands of the predicted probability for the reliability table (the last includes 1).
PROBABILITY_BANDS = ((0.0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.4), (0.4, 1.0))
TOO_FEW = "too few outcomes to judge"
ASSOCIATION_NOTE = (
    "An association, not the effect of support: the office chose whom to support, and "
    "what made it choose may also make an SME export."
)


def wilson(exported: int, n: int, *, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion; None when ``n`` is 0."""
    if n == 0:
        return None
    p = exported / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float] | None:
    """``p1 - p2`` and its 95% interval by Newcombe's hybrid score method (his method 10,
    built from the two Wilson intervals); None unless both groups have members."""
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return difference, low, high


def auc_interval(
    y: np.ndarray, s: np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED
) -> dict | None:
    """ROC AUC of ``s`` for ``y`` with a 95% percentile interval from a bootstrap that
    resamples each outcome within itself; None unless both outcomes occur."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=np.float64)
    positives, negatives = np.flatnonzero(y), np.flatnonzero(~y)
    if positives.size == 0 or negatives.size == 0:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        idx = np.concatenate(
            [
                rng.choice(positives, positives.size, replace=True),
                rng.choice(negatives, negatives.size, replace=True),
            ]
        )
        values.append(roc_auc(y[idx], s[idx]))
    low, high = np.percentile(values, [2.5, 97.5])
    return {
        "auc": round(roc_auc(y, s), 4),
        "ci_low": round(float(low), 4),
        "ci_high": round(float(high), 4),
    }


def band_of(value: float, bands: Sequence[tuple[float, float]]) -> int:
    """Index of the band holding ``value`` (each band includes its lower edge; the last
    also its upper)."""
    for i, (low, high) in enumerate(bands):
        if low <= value < high:
            return i
    return len(bands) - 1


def band_name(band: tuple[float, float], *, percent: bool = False) -> str:
    low, high = band
    if percent:
        return f"{low * 100:g}-{high * 100:g}%"
    return f"{low:g}-{high:g}"


def _rate(n: int, exported: int) -> dict:
    interval = wilson(exported, n)
    return {
        "n": n,
        "exported": exported,
        "rate": round(exported / n, 4) if n else None,
        "ci_low": round(interval[0], 4) if interval else None,
        "ci_high": round(interval[1], 4) if interval else None,
    }


def _counts(rows: Sequence[dict]) -> dict:
    known = [r for r in rows if r["label"] is not None]
    return {
        "decisions": len(rows),
        "known": len(known),
        "censored": len(rows) - len(known),
        "exported": sum(r["label"] for r in known),
        "not_exported": sum(1 - r["label"] for r in known),
    }


def evaluate(
    rows: Sequence[dict[str, Any]],
    *,
    tiers: Sequence[str],
    decision: str | None = "support",
    minimum: int = MIN_KNOWN_OUTCOMES,
) -> dict:
    """The evaluation of ``rows`` (one per decision: ``decision``, ``label`` 1/0/None,
    ``score``, ``tier``, ``ml_probability``).

    Rates, discrimination and calibration are over the decisions of kind ``decision``
    (None: all) with a known label; the supported-against-not comparison is over both
    kinds. ``tiers`` orders the tier table (the ruleset's tiers, best first).
    """
    chosen = [r for r in rows if decision is None or r["decision"] == decision]
    counts = {
        "all": _counts(chosen),
        "supported": _counts([r for r in rows if r["decision"] == "support"]),
        "not_supported": _counts([r for r in rows if r["decision"] == "no_support"]),
    }
    known = [r for r in chosen if r["label"] is not None]
    result: dict[str, Any] = {
        "decision": decision,
        "minimum_known": minimum,
        "counts": counts,
        "enough": len(known) >= minimum,
        "message": None,
        "by_tier": None,
        "by_score_band": None,
        "discrimination": None,
        "calibration": None,
        "supported_vs_not": None,
    }
    if not result["enough"]:
        result["message"] = (
            f"{TOO_FEW}: {len(known)} known outcome(s), at least {minimum} needed; "
            f"{counts['all']['censored']} decision(s) still without a known outcome"
        )
        return result
    y = np.array([r["label"] for r in known], dtype=np.int64)
    scores = np.array([r["score"] for r in known], dtype=np.float64)
    probabilities = np.array([r["ml_probability"] for r in known], dtype=np.float64)
    result["by_tier"] = [
        {"tier": tier, **_rate(len(group), sum(r["label"] for r in group))}
        for tier in tiers
        for group in [[r for r in known if r["tier"] == tier]]
    ]
    result["by_score_band"] = _banded(known, "score", SCORE_BANDS, percent=False)
    result["discrimination"] = {
        "score": auc_interval(y, scores),
        "ml_probability": auc_interval(y, probabilities),
    }
    result["calibration"] = {
        "brier": round(float(np.mean((probabilities - y) ** 2)), 4),
        "base_rate": round(float(y.mean()), 4),
        "mean_predicted": round(float(probabilities.mean()), 4),
        "bands": _calibration(known),
    }
    result["supported_vs_not"] = _comparison([r for r in rows if r["label"] is not None])
    return result


def _banded(rows, key, bands, *, percent) -> list[dict]:
    out = []
    for i, band in enumerate(bands):
        group = [r for r in rows if band_of(r[key], bands) == i]
        out.append({"band": band_name(band, percent=percent), **_rate(len(group), _sum(group))})
    return out


def _sum(group: Sequence[dict]) -> int:
    return sum(r["label"] for r in group)


def _calibration(rows: Sequence[dict]) -> list[dict]:
    out = []
    for i, band in enumerate(PROBABILITY_BANDS):
        group = [r for r in rows if band_of(r["ml_probability"], PROBABILITY_BANDS) == i]
        mean = sum(r["ml_probability"] for r in group) / len(group) if group else None
        out.append(
            {
                "band": band_name(band, percent=True),
                "mean_predicted": round(mean, 4) if mean is not None else None,
                **_rate(len(group), _sum(group)),
            }
        )
    return out


def _comparison(rows: Sequence[dict]) -> dict:
    bands = []
    for i, band in enumerate(SCORE_BANDS):
        group = [r for r in rows if band_of(r["score"], SCORE_BANDS) == i]
        yes = [r for r in group if r["decision"] == "support"]
        no = [r for r in group if r["decision"] == "no_support"]
        diff = newcombe(_sum(yes), len(yes), _sum(no), len(no))
        bands.append(
            {
                "band": band_name(band),
                "supported": _rate(len(yes), _sum(yes)),
                "not_supported": _rate(len(no), _sum(no)),
                "difference": round(diff[0], 4) if diff else None,
                "ci_low": round(diff[1], 4) if diff else None,
                "ci_high": round(diff[2], 4) if diff else None,
            }
        )
    return {"note": ASSOCIATION_NOTE, "bands": bands}
