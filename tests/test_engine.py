"""The scoring function: outputs, determinism, knock-outs, monotonicity, exact action gains."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import random_labels, random_profiles
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.contract import fields as F
from scoring.contract.frames import profiles_to_records
from scoring.engine import Scorer, score_frame
from scoring.model.additive import load_model, save_model
from scoring.model.training import train
from scoring.rules.loading import load_ruleset

SPEC_KEYS = {
    "sme_id",
    "score",
    "tier",
    "rules_score",
    "ml_probability",
    "category_scores",
    "criteria",
    "knockouts",
    "market_readiness",
    "reasons",
    "action_plan",
    "assumed",
    "model_version",
    "ruleset_version",
    "scored_at",
}
FIXED_TIME = "2026-11-28T10:00:00Z"


@pytest.fixture(scope="module")
def small_scorer(tmp_path_factory):
    """A scorer with a model trained on random profiles, independent of the shipped artifact."""
    profiles = random_profiles(3000, seed=4)
    trained = train(profiles, random_labels(profiles, seed=4), seed=1)
    models_dir = tmp_path_factory.mktemp("models")
    save_model(trained.bundle, trained.manifest, models_dir, activate=True)
    return Scorer(load_ruleset(), load_model(models_dir))


def _score(scorer, frame):
    return score_frame(frame, ruleset=scorer.ruleset, model=scorer.model, scored_at=FIXED_TIME)


def _criterion(ruleset, predicate):
    return next(c for c in ruleset.criteria if predicate(c))


def test_record_has_exactly_the_spec_fields(small_scorer):
    record = _score(small_scorer, random_profiles(1, seed=3)).to_records()[0]
    assert set(record) == SPEC_KEYS
    assert record["scored_at"] == FIXED_TIME
    assert record["model_version"] == small_scorer.model.version
    assert record["ruleset_version"] == small_scorer.ruleset.version_string
    assert set(record["category_scores"]) == {c.id for c in small_scorer.ruleset.categories}
    assert 0.0 <= record["score"] <= 100.0 and record["score"] == round(record["score"], 1)
    for item in record["criteria"]:
        assert set(item) == {"id", "category", "met", "points", "max_points", "label"}
        assert item["points"] == (item["max_points"] if item["met"] else 0)


def test_same_profile_and_versions_give_byte_identical_output(small_scorer):
    frame = random_profiles(40, seed=8)
    first = json.dumps(_score(small_scorer, frame).to_records(), sort_keys=True)
    second = json.dumps(_score(small_scorer, frame.copy()).to_records(), sort_keys=True)
    assert first == second


def test_a_profile_scored_alone_equals_its_row_in_a_batch(small_scorer):
    frame = random_profiles(30, seed=12)
    together = _score(small_scorer, frame).to_records()
    for i in range(len(frame)):
        alone = _score(small_scorer, frame.iloc[[i]].reset_index(drop=True)).to_records()[0]
        assert alone == together[i]


@pytest.mark.parametrize("profiles", [1, 5, 40, 120])
def test_fixes_scored_together_are_those_scored_by_family_to_the_bit(
    small_scorer, scorer, monkeypatch, profiles
):
    """A few pairs are evaluated all at once (every criterion, every feature), many by
    family of fixes (only what each family changes; past 512 pairs, points changed rather
    than summed again): the fixed profiles' rules scores and decision sums are the same
    bits, and so are the gains."""
    from scoring.contract.columns import ProfileColumns
    from scoring.engine import column_sums, encode_features, fixed_decisions
    from scoring.rules import ruleset as ruleset_module

    frame = random_profiles(profiles, seed=40 + profiles)
    columns = ProfileColumns.of(frame)
    for each in (small_scorer, scorer):
        additive = each.model.additive
        by_feature = additive.contributions_by_feature(encode_features(columns))
        decision = additive.intercept + column_sums(by_feature)
        outputs = {}
        for mode, limit in (("together", 10**9), ("by family", 0)):
            monkeypatch.setattr(ruleset_module, "_TOGETHER_PAIRS", limit)
            rules = each.ruleset.evaluate(columns)
            candidates = rules.applicable & ~rules.met & each.ruleset.actionable
            fixes = each.ruleset.score_fixes(columns, rules, candidates)
            assert [f.whole for f in fixes.families] == (
                [True] if mode == "together" else [False] * len(fixes.families)
            )
            fixed = fixed_decisions(fixes, by_feature, decision, each.model)
            outputs[mode] = (fixes.rows, fixes.criteria, fixes.rules_score, fixed)
            outputs[mode] += (each.score(frame).gains,)
        for mine, theirs in zip(outputs["together"], outputs["by family"], strict=True):
            np.testing.assert_array_equal(mine, theirs)
        assert len(outputs["together"][0]) == candidates.sum() > 0
        assert not np.array_equal(outputs["together"][3], decision[outputs["together"][0]])


def test_missing_nib_caps_tier_at_not_ready_and_comes_first_in_the_plan(small_scorer):
    ruleset = small_scorer.ruleset
    nib = _criterion(ruleset, lambda c: c.knockout and "has_nib" in c.fields)
    frame = random_profiles(200, seed=5)
    for name in F.OPTIONAL_BOOL_FIELDS:
        frame[name] = True
    frame["has_npwp"] = True
    frame["has_nib"] = False
    table = _score(small_scorer, frame)
    assert set(table.tier) == {ruleset.knockout_tier}
    records = table.to_records()
    assert all(nib.id in r["knockouts"] for r in records)
    assert all(r["action_plan"][0]["criterion"] == nib.id for r in records)
    with_nib = frame.assign(has_nib=True)
    assert (_score(small_scorer, with_nib).score > table.score).all()


def test_market_readiness_covers_exactly_the_target_markets(small_scorer):
    frame = random_profiles(1, seed=2)
    frame["target_markets"] = F.list_to_mask("target_markets", ["EU", "GCC"])
    record = _score(small_scorer, frame).to_records()[0]
    assert set(record["market_readiness"]) == {"EU", "GCC"}
    for entry in record["market_readiness"].values():
        assert 0.0 <= entry["score"] <= 100.0


def test_assumed_booleans_are_reported(small_scorer):
    frame = random_profiles(1, seed=2)
    assumed = pd.DataFrame(
        [[name in ("has_website", "access_to_finance") for name in F.OPTIONAL_BOOL_FIELDS]],
        columns=list(F.OPTIONAL_BOOL_FIELDS),
    )
    table = score_frame(
        frame, ruleset=small_scorer.ruleset, model=small_scorer.model, assumed=assumed
    )
    assert table.to_records()[0]["assumed"] == ["has_website", "access_to_finance"]


def test_reasons_are_at_most_five_signed_and_ordered(small_scorer):
    for record in _score(small_scorer, random_profiles(50, seed=9)).to_records():
        effects = [r["effect"] for r in record["reasons"]]
        assert len(effects) <= 5
        assert [abs(e) for e in effects] == sorted((abs(e) for e in effects), reverse=True)


def test_reasons_are_computed_when_first_asked_for_and_once(small_scorer, monkeypatch):
    from scoring import engine

    calls = []
    explain = engine._reasons
    monkeypatch.setattr(engine, "_reasons", lambda *a: calls.append(1) or explain(*a))
    table = _score(small_scorer, random_profiles(40, seed=11))
    table.to_frame()  # the flat table shows no reasons
    assert calls == []
    groups = table.reason_groups
    assert table.reason_effects.shape == groups.shape == (40, 5)
    assert table.reason_groups is groups
    assert calls == [1]
    assert table.explain is None  # the contributions it held are let go
    records = table.to_records()
    assert calls == [1]
    assert [len(r["reasons"]) for r in records] == (groups >= 0).sum(axis=1).tolist()


def test_flat_table_matches_records(small_scorer):
    table = _score(small_scorer, random_profiles(60, seed=10))
    flat = table.to_frame()
    records = table.to_records()
    assert list(flat["sme_id"]) == [r["sme_id"] for r in records]
    assert list(flat["score"]) == [r["score"] for r in records]
    assert list(flat["knockouts"]) == ["; ".join(r["knockouts"]) for r in records]
    expected = [
        "; ".join(f"{a['criterion']} (+{a['gain']:.1f})" for a in r["action_plan"][:3])
        for r in records
    ]
    assert list(flat["top_actions"]) == expected
    assert any(r["knockouts"] for r in records)


# --- properties ----------------------------------------------------------------------

profile_seeds = st.integers(min_value=0, max_value=2**31 - 1)
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _improve(frame: pd.DataFrame, how: str, value) -> pd.DataFrame:
    better = frame.copy()
    if how == "certification":
        better["certifications"] = better["certifications"] | F.bit("certifications", value)
    elif how == "nib":
        better["has_nib"] = True
    else:
        better[how] = better[how].fillna(0) + value
    return better


@SETTINGS
@given(
    seed=profile_seeds,
    how=st.sampled_from(["certification", "nib", "trade_fairs_last_3y", "foreign_buyer_contacts"]),
    cert=st.sampled_from(F.CERTIFICATIONS),
    step=st.integers(min_value=1, max_value=5),
)
def test_improvements_never_lower_any_score(small_scorer, seed, how, cert, step):
    frame = random_profiles(20, seed=seed)
    before = _score(small_scorer, frame)
    after = _score(small_scorer, _improve(frame, how, cert if how == "certification" else step))
    assert np.all(after.score >= before.score)
    assert np.all(after.rules_score >= before.rules_score - 1e-9)
    assert np.all(after.ml_probability >= before.ml_probability - 1e-12)


@SETTINGS
@given(seed=profile_seeds)
def test_scores_stay_within_bounds(small_scorer, seed):
    table = _score(small_scorer, random_profiles(25, seed=seed))
    assert np.all((table.score >= 0) & (table.score <= 100))
    assert np.all((table.rules_score >= 0) & (table.rules_score <= 100))
    assert np.all((table.ml_probability >= 0) & (table.ml_probability <= 1))
    assert set(table.tier) <= {t.id for t in small_scorer.ruleset.tiers}


@SETTINGS
@given(seed=profile_seeds)
def test_applying_the_top_action_raises_the_score_by_its_gain(small_scorer, seed):
    ruleset = small_scorer.ruleset
    frame = random_profiles(8, seed=seed)
    records = _score(small_scorer, frame).to_records()
    index = {c.id: k for k, c in enumerate(ruleset.criteria)}
    for i, record in enumerate(records):
        gains = [a["gain"] for a in record["action_plan"]]
        assert all(g > 0 for g in gains)
        knockouts = [a["criterion"] in record["knockouts"] for a in record["action_plan"]]
        assert knockouts == sorted(knockouts, reverse=True)  # failed knock-outs come first
        rest = [g for g, k in zip(gains, knockouts, strict=True) if not k]
        assert rest == sorted(rest, reverse=True)
        if not gains:
            continue
        top = record["action_plan"][0]
        fixed = ruleset.apply_fix(index[top["criterion"]], frame.iloc[[i]].reset_index(drop=True))
        rescored = _score(small_scorer, fixed).to_records()[0]
        assert round(rescored["score"] - record["score"], 1) == top["gain"]
        assert top["criterion"] not in [a["criterion"] for a in rescored["action_plan"]]


def test_profiles_round_trip_through_records(small_scorer):
    frame = random_profiles(5, seed=1)
    records = profiles_to_records(frame)
    assert records[0]["sme_id"] == "T-000000"
    assert isinstance(records[0]["certifications"], list)


def test_the_flat_tables_top_actions_list_each_rows_actions_with_their_gains():
    from scoring.engine import _action_texts

    ids = np.array(["legal.nib", "quality.haccp", "digital.web"], dtype=object)
    order = np.array([[1, 0, 2], [2, 1, 0], [0, 2, 1], [1, 2, 0], [2, 0, 1]])
    nan = np.nan
    gains = np.array(
        [
            [12.5, 0.1, 100.0],  # three actions
            [3.0, 3.0, nan],  # two, the same gain
            [7.2, 0.0, nan],  # a gain of 0 is no action, nor anything after it
            [nan, nan, nan],  # none
            [0.7, nan, nan],  # one
        ]
    )
    texts = _action_texts(order, gains, ids).to_pylist()
    assert texts == [
        "quality.haccp (+12.5); legal.nib (+0.1); digital.web (+100.0)",
        "digital.web (+3.0); quality.haccp (+3.0)",
        "legal.nib (+7.2)",
        "",
        "digital.web (+0.7)",
    ]
    assert _action_texts(order[:, :1], gains[:, :1], ids).to_pylist() == [
        "quality.haccp (+12.5)",
        "digital.web (+3.0)",
        "legal.nib (+7.2)",
        "",
        "digital.web (+0.7)",
    ]
    assert _action_texts(order[:, :0], gains[:, :0], ids).to_pylist() == [""] * 5
