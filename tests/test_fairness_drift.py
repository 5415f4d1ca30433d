"""Fairness and drift figures against values computed by hand on small fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring.audit.drift import categorical_psi, numeric_psi, psi_from_shares, status
from scoring.audit.fairness import group_table, shortlist_mask

# Ten SMEs: four with a female owner (F), six with a male owner (M).
GROUPS = np.array(["F"] * 4 + ["M"] * 6, dtype=object)
SELECTED = np.array([1, 0, 0, 0, 1, 1, 1, 0, 0, 0], dtype=bool)
LABELS = np.array([1, 1, 0, 0, 1, 0, 1, 1, 0, 0], dtype=bool)
PROBABILITY = np.array([0.8, 0.4, 0.3, 0.1, 0.9, 0.5, 0.6, 0.7, 0.2, 0.1])
TIERS = np.array(
    ["ready", "developing", "developing", "not_ready"] + ["ready"] * 3 + ["developing"] * 3
)


@pytest.fixture
def table():
    return group_table(
        GROUPS,
        labels=LABELS,
        probability=PROBABILITY,
        tier=TIERS,
        selected=SELECTED,
        tiers=["ready", "near_ready", "developing", "not_ready"],
        min_group=1,
    )


def test_selection_rates_and_the_four_fifths_rule(table):
    female, male = table["groups"]
    assert (female["group"], female["n"], female["selected"]) == ("F", 4, 1)
    assert female["selection_rate"] == 0.25 and male["selection_rate"] == 0.5
    assert female["selection_ratio_to_best"] == 0.5  # 0.25 / 0.5 < 0.8: flagged
    assert male["selection_ratio_to_best"] == 1.0
    assert "selection_rate" in female["flags"] and "selection_rate" not in male["flags"]


def test_tier_distribution_per_group(table):
    female, male = table["groups"]
    assert female["tiers"] == {
        "ready": 0.25,
        "near_ready": 0.0,
        "developing": 0.5,
        "not_ready": 0.25,
    }
    assert male["tiers"] == {"ready": 0.5, "near_ready": 0.0, "developing": 0.5, "not_ready": 0.0}


def test_calibration_per_group(table):
    female, male = table["groups"]
    # F: mean predicted (0.8+0.4+0.3+0.1)/4 = 0.4, observed 2/4 = 0.5.
    assert (female["mean_predicted"], female["observed_rate"]) == (0.4, 0.5)
    assert female["calibration_gap"] == -0.1 and "calibration" in female["flags"]
    # M: mean predicted 3.0/6 = 0.5, observed 3/6 = 0.5.
    assert (male["mean_predicted"], male["observed_rate"], male["calibration_gap"]) == (
        0.5,
        0.5,
        0.0,
    )


def test_true_positive_rate_and_its_gap(table):
    female, male = table["groups"]
    # F: 1 of 2 exporters shortlisted; M: 2 of 3 (rows 4 and 6 of exporters 4, 6, 7).
    assert female["true_positive_rate"] == 0.5 and male["true_positive_rate"] == 0.6667
    assert female["tpr_gap_to_best"] == 0.1667 and "true_positive_rate" in female["flags"]
    assert male["tpr_gap_to_best"] == 0.0 and male["flags"] == []
    assert table["flags"] == ["F: selection_rate", "F: true_positive_rate", "F: calibration"]


def test_groups_below_the_minimum_size_neither_set_the_best_rate_nor_are_flagged():
    table = group_table(
        GROUPS,
        labels=LABELS,
        probability=PROBABILITY,
        tier=TIERS,
        selected=SELECTED,
        tiers=["ready"],
        min_group=5,
    )
    female, male = table["groups"]
    assert female["small_group"] is True and female["flags"] == []
    assert male["selection_ratio_to_best"] == 1.0 and table["flags"] == []


def test_shortlist_takes_the_top_share_with_ties_broken_by_probability_then_id():
    score = np.array([50.0, 70.0, 70.0, 10.0])
    probability = np.array([0.5, 0.3, 0.3, 0.9])
    ids = np.array(["d", "c", "b", "a"])
    assert shortlist_mask(score, probability, ids, share=0.5).tolist() == [False, True, True, False]
    assert shortlist_mask(score, probability, ids, share=0.25).tolist() == [
        False,
        False,
        True,
        False,
    ]


def test_numeric_psi_uses_the_reference_deciles_and_floors_empty_bins():
    reference = np.arange(1.0, 11.0)  # each value alone in one decile bin: 10% each
    recent = np.array([1.0] * 5 + [10.0] * 5)  # 50% in the first bin, 50% in the last
    # 2 * (0.5 - 0.1) * ln(0.5 / 0.1) + 8 * (0.0001 - 0.1) * ln(0.0001 / 0.1)
    expected = 2 * 0.4 * math.log(5) + 8 * (0.0001 - 0.1) * math.log(0.001)
    assert numeric_psi(reference, recent) == pytest.approx(expected)
    assert expected == pytest.approx(6.808228, abs=1e-6)
    assert numeric_psi(reference, reference) == 0.0


def test_categorical_psi_and_the_usual_thresholds():
    # reference a 50% b 50%; recent a 75% b 25%:
    # (0.75 - 0.5) ln(1.5) + (0.25 - 0.5) ln(0.5) = 0.101366 + 0.173287 = 0.274653
    assert categorical_psi(["a", "a", "b", "b"], ["a", "a", "a", "b"]) == pytest.approx(
        0.274653, abs=1e-6
    )
    assert psi_from_shares([0.5, 0.5], [0.55, 0.45]) == pytest.approx(0.010033, abs=1e-6)
    assert [status(v) for v in (0.05, 0.1, 0.2, 0.25, 1.0)] == [
        "stable",
        "watch",
        "watch",
        "act",
        "act",
    ]


def test_missing_values_are_a_bin_of_their_own():
    reference = np.array([1.0, 2.0, np.nan, np.nan])
    recent = np.array([1.0, 2.0, 3.0, 4.0])
    # reference: two values in the bins up to the deciles, 50% missing; recent: 0% missing.
    assert numeric_psi(reference, recent) > 0.25
