"""Fairness audit: does the shortlist treat owners' genders and sectors alike?

On labelled profiles, scored by the engine, per group: how many are shortlisted (the top
share by score), the tier mix, calibration (mean predicted against observed rate) and the
true-positive rate (of the SMEs that did export, the share shortlisted). Gaps against the
best group are flagged: selection below four-fifths of the best rate (the "80% rule"),
a true-positive rate more than 0.05 below the best, or a calibration gap above 0.05.

The model never reads ``owner_gender``; ``proxy_check`` measures whether its inputs carry
it anyway (how well they predict the owner's gender, and the score's correlation with it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scoring.model.features import encode_features

DEFAULT_SHORTLIST_SHARE = 0.2
SELECTION_RATIO_FLOOR = 0.8
TPR_GAP_LIMIT = 0.05
CALIBRATION_GAP_LIMIT = 0.05
MISSING_GROUP = "(missing)"
PROXY_MAX_ROWS = 5000
MIN_GROUP_SIZE = 20


def shortlist_mask(
    score: np.ndarray, probability: np.ndarray, sme_ids: np.ndarray, *, share: float
) -> np.ndarray:
    """The top ``share`` of rows by score, ties broken by probability then ``sme_id``, as in
    the shortlist builder."""
    n = len(score)
    k = round(share * n)
    order = np.lexsort(
        (np.asarray(sme_ids, dtype=str), -np.asarray(probability), -np.asarray(score))
    )
    selected = np.zeros(n, dtype=bool)
    selected[order[:k]] = True
    return selected


def _rate(num: float, den: float) -> float | None:
    return None if den == 0 else round(float(num) / float(den), 4)


def group_table(
    groups: np.ndarray,
    *,
    labels: np.ndarray,
    probability: np.ndarray,
    tier: np.ndarray,
    selected: np.ndarray,
    tiers: list[str],
    min_group: int = MIN_GROUP_SIZE,
) -> dict:
    """Per-group figures, gaps against the best group and the flags that exceed the limits.

    Groups smaller than ``min_group`` are reported but neither set the best rates nor are
    flagged: a rate of 2 of 3 says too little to judge the others by.
    """
    groups = np.array([MISSING_GROUP if pd.isna(g) else str(g) for g in groups], dtype=object)
    y = np.asarray(labels, dtype=bool)
    rows = []
    for group in sorted(set(groups)):
        member = groups == group
        n = int(member.sum())
        positives = int((y & member).sum())
        mean_predicted = float(np.mean(probability[member]))
        observed = float(np.mean(y[member]))
        rows.append(
            {
                "group": group,
                "n": n,
                "selected": int((selected & member).sum()),
                "selection_rate": _rate((selected & member).sum(), n),
                "tiers": {t: _rate((tier[member] == t).sum(), n) for t in tiers},
                "mean_predicted": round(mean_predicted, 4),
                "observed_rate": round(observed, 4),
                "calibration_gap": round(mean_predicted - observed, 4),
                "positives": positives,
                "true_positive_rate": _rate((selected & member & y).sum(), positives),
            }
        )
    judged = [r for r in rows if r["n"] >= min_group] or rows
    best_selection = max(r["selection_rate"] for r in judged)
    tprs = [r["true_positive_rate"] for r in judged if r["true_positive_rate"] is not None]
    best_tpr = max(tprs) if tprs else None
    flags = []
    for r in rows:
        ratio = None if best_selection == 0 else round(r["selection_rate"] / best_selection, 4)
        tpr_gap = (
            None
            if best_tpr is None or r["true_positive_rate"] is None
            else round(best_tpr - r["true_positive_rate"], 4)
        )
        r["selection_ratio_to_best"] = ratio
        r["tpr_gap_to_best"] = tpr_gap
        r["flags"] = []
        if r["n"] < min_group:
            r["small_group"] = True
            continue
        r["small_group"] = False
        if ratio is not None and ratio < SELECTION_RATIO_FLOOR:
            r["flags"].append("selection_rate")
        if tpr_gap is not None and tpr_gap > TPR_GAP_LIMIT:
            r["flags"].append("true_positive_rate")
        if abs(r["calibration_gap"]) > CALIBRATION_GAP_LIMIT:
            r["flags"].append("calibration")
        flags += [f"{r['group']}: {flag}" for flag in r["flags"]]
    return {"groups": rows, "flags": flags}


def proxy_check(
    profiles: pd.DataFrame, gender: np.ndarray, score: np.ndarray, *, seed: int = 0
) -> dict | None:
    """How much of ``owner_gender`` (female against male) the model's inputs and the score
    carry: cross-validated ROC AUC of a logistic regression on the inputs (0.5 = none; fitted
    on at most ``PROXY_MAX_ROWS`` rows) and the correlation of the score with being female.
    None if either group is too small."""
    gender = np.asarray(gender, dtype=object)
    known = np.isin(gender, ["female", "male"])
    female = gender[known] == "female"
    if min(int(female.sum()), int((~female).sum())) < 10:
        return None
    rows = np.flatnonzero(known)
    if rows.size > PROXY_MAX_ROWS:  # a fixed sample: the AUC's precision is ample at this size
        rows = np.sort(np.random.default_rng(seed).choice(rows, PROXY_MAX_ROWS, replace=False))
    sampled_female = gender[rows] == "female"
    X = encode_features(profiles.iloc[rows])
    classifier = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    )
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    predicted = cross_val_predict(classifier, X, sampled_female, cv=folds, method="predict_proba")[
        :, 1
    ]
    return {
        "rows": int(known.sum()),
        "classifier_rows": int(rows.size),
        "inputs_predict_gender_auc": round(float(roc_auc_score(sampled_female, predicted)), 4),
        "score_predicts_gender_auc": round(float(roc_auc_score(female, score[known])), 4),
        "score_female_correlation": round(float(np.corrcoef(score[known], female)[0, 1]), 4),
    }


def audit(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    attributes: dict[str, np.ndarray],
    *,
    scores,
    share: float = DEFAULT_SHORTLIST_SHARE,
) -> dict:
    """The audit for each attribute (``owner_gender``, ``sector``) given an engine
    ``ScoreTable`` of the profiles."""
    selected = shortlist_mask(scores.score, scores.ml_probability, scores.sme_id, share=share)
    tiers = [t.id for t in scores.ruleset.tiers]
    report = {
        "rows": len(profiles),
        "positives": int(np.sum(labels)),
        "shortlist_share": share,
        "shortlisted": int(selected.sum()),
        "model_version": scores.model_version,
        "ruleset_version": scores.ruleset_version,
        "limits": {
            "selection_ratio_floor": SELECTION_RATIO_FLOOR,
            "tpr_gap": TPR_GAP_LIMIT,
            "calibration_gap": CALIBRATION_GAP_LIMIT,
        },
        "attributes": {},
    }
    for name, values in attributes.items():
        report["attributes"][name] = group_table(
            values,
            labels=labels,
            probability=scores.ml_probability,
            tier=scores.tier,
            selected=selected,
            tiers=tiers,
        )
    if "owner_gender" in attributes:
        report["proxy"] = proxy_check(profiles, attributes["owner_gender"], scores.score)
    return report
