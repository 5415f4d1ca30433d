"""Whether the scores were right: every figure on a small fixed dataset, against values
worked out by hand (the working is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring.outcomes.evaluation import (
    ASSOCIATION_NOTE,
    auc_interval,
    band_of,
    evaluate,
    newcombe,
    wilson,
)

TIERS = ["ready", "near_ready", "developing", "not_ready"]


def row(decision, score, tier, p, label):
    return {"decision": decision, "score": score, "tier": tier, "ml_probability": p, "label": label}


ROWS = [
    row("support", 85.0, "ready", 0.50, 1),
    row("support", 82.0, "ready", 0.45, 0),
    row("support", 65.0, "near_ready", 0.30, 1),
    row("support", 62.0, "near_ready", 0.25, 0),
    row("support", 45.0, "developing", 0.12, 0),
    row("support", 30.0, "not_ready", 0.08, 0),
    row("support", 50.0, "developing", 0.15, None),  # censored
    row("no_support", 64.0, "near_ready", 0.28, 0),
    row("no_support", 40.0, "developing", 0.10, 0),
]


def rate(n, exported, rate_, low, high):
    return {"n": n, "exported": exported, "rate": rate_, "ci_low": low, "ci_high": high}


# Wilson, z = 1.959964, z^2 = 3.841459:
#   1 of 2: centre (0.5 + z^2/4) / (1 + z^2/2) = 0.5; half-width
#           z / (1 + z^2/2) * sqrt(0.25/2 + z^2/16) = 0.671051 * 0.604228 = 0.405468
#   0 of 1: centre (z^2/2) / (1 + z^2) = 0.396725 = half-width, so 0 to 0.793450
ONE_OF_TWO = (0.0945, 0.9055)
NONE_OF_ONE = (0.0, 0.7935)


@pytest.mark.parametrize(
    ("exported", "n", "expected"),
    [
        (1, 2, ONE_OF_TWO),
        (0, 1, NONE_OF_ONE),
        (3, 10, (0.1078, 0.6032)),  # the textbook example (Newcombe 1998, table I)
        (81, 263, (0.2553, 0.3662)),  # Newcombe 1998, table I
        (15, 148, (0.0624, 0.1605)),  # Newcombe 1998, table I
    ],
)
def test_wilson_intervals(exported, n, expected):
    low, high = wilson(exported, n)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_of_nobody_is_none():
    assert wilson(0, 0) is None


def test_newcombe_difference_matches_the_published_example():
    # Newcombe 1998 (Statistics in Medicine 17: 873), table II example (a): 56/70 - 48/80,
    # method 10 interval 0.0524 to 0.3339.
    difference, low, high = newcombe(56, 70, 48, 80)
    assert round(difference, 4) == 0.2
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert newcombe(1, 2, 0, 0) is None


def test_auc_interval_counts_pairs_and_bootstraps_within_each_outcome():
    y = np.array([1, 0, 1, 0, 0, 0])
    scores = np.array([85, 82, 65, 62, 45, 30], dtype=float)
    result = auc_interval(y, scores)
    # Positive 85 beats all 4 negatives; 65 beats 62, 45 and 30 but not 82: 7 of 8 pairs.
    assert result["auc"] == 0.875
    assert result["ci_low"] <= 0.875 <= result["ci_high"] <= 1.0
    assert auc_interval(y, scores) == result  # seeded: the same every time
    separated = auc_interval(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1]))
    assert separated == {"auc": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert auc_interval(np.array([0, 0]), np.array([0.1, 0.2])) is None


def test_band_edges_belong_to_the_upper_band_and_the_top_is_closed():
    bands = ((0.0, 20.0), (20.0, 40.0), (40.0, 100.0))
    assert [band_of(v, bands) for v in (0.0, 19.99, 20.0, 40.0, 100.0)] == [0, 0, 1, 2, 2]


def test_evaluation_of_the_supported_smes():
    result = evaluate(ROWS, tiers=TIERS, decision="support", minimum=6)
    assert result["enough"] is True and result["message"] is None
    assert result["counts"] == {
        "all": {"decisions": 7, "known": 6, "censored": 1, "exported": 2, "not_exported": 4},
        "supported": {"decisions": 7, "known": 6, "censored": 1, "exported": 2, "not_exported": 4},
        "not_supported": {
            "decisions": 2,
            "known": 2,
            "censored": 0,
            "exported": 0,
            "not_exported": 2,
        },
    }
    assert result["by_tier"] == [
        {"tier": "ready", **rate(2, 1, 0.5, *ONE_OF_TWO)},
        {"tier": "near_ready", **rate(2, 1, 0.5, *ONE_OF_TWO)},
        {"tier": "developing", **rate(1, 0, 0.0, *NONE_OF_ONE)},  # the censored one left out
        {"tier": "not_ready", **rate(1, 0, 0.0, *NONE_OF_ONE)},
    ]
    assert result["by_score_band"] == [
        {"band": "0-20", **rate(0, 0, None, None, None)},
        {"band": "20-40", **rate(1, 0, 0.0, *NONE_OF_ONE)},
        {"band": "40-60", **rate(1, 0, 0.0, *NONE_OF_ONE)},
        {"band": "60-80", **rate(2, 1, 0.5, *ONE_OF_TWO)},
        {"band": "80-100", **rate(2, 1, 0.5, *ONE_OF_TWO)},
    ]
    # The probabilities rank the SMEs like the scores: 7 of 8 pairs again.
    assert result["discrimination"]["score"]["auc"] == 0.875
    assert result["discrimination"]["ml_probability"]["auc"] == 0.875
    calibration = result["calibration"]
    # (0.5-1)^2 + 0.45^2 + (0.3-1)^2 + 0.25^2 + 0.12^2 + 0.08^2 = 1.0258; / 6 = 0.170967
    assert calibration["brier"] == 0.171
    assert calibration["base_rate"] == round(2 / 6, 4)
    assert calibration["mean_predicted"] == round(1.70 / 6, 4)
    assert calibration["bands"] == [
        {"band": "0-5%", "mean_predicted": None, **rate(0, 0, None, None, None)},
        {"band": "5-10%", "mean_predicted": 0.08, **rate(1, 0, 0.0, *NONE_OF_ONE)},
        {"band": "10-20%", "mean_predicted": 0.12, **rate(1, 0, 0.0, *NONE_OF_ONE)},
        {"band": "20-40%", "mean_predicted": 0.275, **rate(2, 1, 0.5, *ONE_OF_TWO)},
        {"band": "40-100%", "mean_predicted": 0.475, **rate(2, 1, 0.5, *ONE_OF_TWO)},
    ]


def test_supported_against_not_supported_in_the_same_score_band():
    comparison = evaluate(ROWS, tiers=TIERS, minimum=6)["supported_vs_not"]
    assert comparison["note"] == ASSOCIATION_NOTE
    bands = {b["band"]: b for b in comparison["bands"]}
    # 60-80: supported 1 of 2 (Wilson 0.0945 to 0.9055), not supported 0 of 1 (0 to 0.7935).
    # Newcombe: 0.5 - sqrt(0.405468^2 + 0.793450^2) = 0.5 - sqrt(0.164404 + 0.629563)
    #           = 0.5 - 0.891048 = -0.3910; 0.5 + sqrt(0.405468^2 + 0^2) = 0.9055.
    sixty = bands["60-80"]
    assert sixty["supported"] == rate(2, 1, 0.5, *ONE_OF_TWO)
    assert sixty["not_supported"] == rate(1, 0, 0.0, *NONE_OF_ONE)
    assert (sixty["difference"], sixty["ci_low"], sixty["ci_high"]) == (0.5, -0.391, 0.9055)
    # 40-60: 0 of 1 against 0 of 1 (the censored SME is left out): 0, -0.7935 to 0.7935.
    forty = bands["40-60"]
    assert (forty["difference"], forty["ci_low"], forty["ci_high"]) == (0.0, -0.7935, 0.7935)
    # No SME was turned down in the 80-100 band: nothing to compare.
    top = bands["80-100"]
    assert (top["difference"], top["ci_low"], top["ci_high"]) == (None, None, None)
    assert top["supported"]["n"] == 2 and top["not_supported"]["n"] == 0


def test_too_few_known_outcomes_gives_counts_only():
    result = evaluate(ROWS, tiers=TIERS, minimum=7)
    assert result["enough"] is False
    assert result["message"] == (
        "too few outcomes to judge: 6 known outcome(s), at least 7 needed; "
        "1 decision(s) still without a known outcome"
    )
    assert result["counts"]["all"]["known"] == 6
    for figure in ("by_tier", "by_score_band", "discrimination", "calibration", "supported_vs_not"):
        assert result[figure] is None, figure


def test_the_default_minimum_is_thirty_known_outcomes():
    rows = [row("support", 50.0, "developing", 0.2, i % 2) for i in range(29)]
    assert evaluate(rows, tiers=TIERS)["enough"] is False
    assert evaluate([*rows, row("support", 50.0, "developing", 0.2, 1)], tiers=TIERS)["enough"]


def test_all_decisions_together():
    result = evaluate(ROWS, tiers=TIERS, decision=None, minimum=8)
    assert result["counts"]["all"]["known"] == 8
    near_ready = next(r for r in result["by_tier"] if r["tier"] == "near_ready")
    assert (near_ready["n"], near_ready["exported"]) == (3, 1)
    assert math.isclose(near_ready["rate"], 0.3333)
