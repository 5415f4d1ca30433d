"""The rules engine: condition operators, applicability, scores, knock-outs, loading, fixes."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import random_profiles
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.contract import fields as F
from scoring.contract.columns import ProfileColumns
from scoring.errors import RulesetError
from scoring.rules.conditions import Compare, Truth
from scoring.rules.loading import load_ruleset, parse_ruleset
from scoring.rules.ruleset import CATEGORIES

NAN = math.nan
DATA = Path(__file__).resolve().parent.parent / "data"

# --------------------------------------------------------------------------- builders

_DEFAULTS = {
    "sme_id": "T-0",
    "name": "Usaha",
    "sector": "other",
    "hs_code": None,
    "legal_form": None,
    "year_established": 2015,
    "employees": 3,
    "annual_revenue_idr": 1e8,
    "monthly_capacity_units": NAN,
    "capacity_utilization": NAN,
    "certifications": [],
    "export_years": 0.0,
    "export_value_usd_last_year": NAN,
    "export_markets": [],
    "target_markets": [],
    "foreign_buyer_contacts": NAN,
    "trade_fairs_last_3y": NAN,
    "english_capable_staff": NAN,
    **dict.fromkeys(F.BOOL_FIELDS, False),
}


def profiles(*rows: dict) -> pd.DataFrame:
    """A canonical profile frame: one row per dict, unspecified fields at neutral defaults."""
    records = [{**_DEFAULTS, "sme_id": f"T-{i}", **row} for i, row in enumerate(rows)]
    columns = {}
    for name in F.PROFILE_COLUMNS:
        values = [r[name] for r in records]
        kind = F.FIELD_BY_NAME[name].kind
        if kind is F.Kind.ENUM_LIST:
            columns[name] = np.array([F.list_to_mask(name, v) for v in values], dtype=np.int64)
        elif kind is F.Kind.BOOL:
            columns[name] = np.array(values, dtype=bool)
        elif kind is F.Kind.INT and F.FIELD_BY_NAME[name].required:
            columns[name] = np.array(values, dtype=np.int64)
        elif kind in (F.Kind.INT, F.Kind.FLOAT):
            columns[name] = np.array(values, dtype=np.float64)
        else:
            columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns)


def criterion(cid: str, category: str, points: float, condition: dict, **extra) -> dict:
    return {
        "id": cid,
        "category": category,
        "points": points,
        "condition": condition,
        "label": {"id": f"Label {cid}", "en": f"Label {cid}"},
        "recommendation": {"id": "Lakukan ini", "en": "Do this"},
        **extra,
    }


def document(*criteria: dict) -> dict:
    return {
        "id": "tiny",
        "version": "1.0",
        "title": {"id": "Uji", "en": "Test"},
        "blend": {"rules_weight": 0.6, "ml_weight": 0.4},
        "tiers": [
            {"id": "ready", "min_score": 70, "label": {"id": "Siap", "en": "Ready"}},
            {"id": "near_ready", "min_score": 55, "label": {"id": "Hampir", "en": "Near"}},
            {"id": "developing", "min_score": 35, "label": {"id": "Berkembang", "en": "Dev"}},
            {"id": "not_ready", "min_score": 0, "label": {"id": "Belum", "en": "Not"}},
        ],
        "knockout_tier": "not_ready",
        "categories": {c: {"id": f"K {c}", "en": f"C {c}"} for c in CATEGORIES},
        "markets": {m: {"id": f"P {m}", "en": f"M {m}"} for m in F.MARKETS},
        "criteria": list(criteria),
    }


def tiny_document() -> dict:
    return document(
        criterion("legal.nib", "legal", 10, {"true": "has_nib"}, knockout=True),
        criterion("product.qc", "product", 5, {"true": "has_quality_control"}),
        criterion(
            "food.halal",
            "product",
            5,
            {"contains": {"certifications": "HALAL"}},
            applies_to={"sectors": ["food_beverage"]},
        ),
        criterion(
            "eu.oekotex",
            "product",
            4,
            {"contains": {"certifications": "OEKOTEX"}},
            applies_to={"sectors": ["apparel", "textile"], "target_markets": ["EU"]},
        ),
        criterion("market.fair", "market", 6, {"ge": {"trade_fairs_last_3y": 1}}),
        criterion(
            "us.fda",
            "legal",
            3,
            {"contains": {"certifications": "FDA"}},
            applies_to={"target_markets": ["US", "GCC"]},
        ),
    )


@pytest.fixture(scope="module")
def tiny():
    return parse_ruleset(tiny_document(), source="tiny")


@pytest.fixture(scope="module")
def tiny_rows():
    return profiles(
        {
            "sector": "food_beverage",
            "target_markets": ["US"],
            "has_nib": True,
            "certifications": ["HALAL", "FDA"],
            "trade_fairs_last_3y": 2.0,
        },
        {
            "sector": "apparel",
            "target_markets": ["EU", "JP"],
            "has_quality_control": True,
            "certifications": ["OEKOTEX"],
        },
        {
            "sector": "apparel",
            "has_nib": True,
            "certifications": ["OEKOTEX", "FDA"],
            "trade_fairs_last_3y": 0.0,
        },
        {
            "sector": "textile",
            "target_markets": ["EU", "GCC"],
            "has_nib": True,
            "has_quality_control": True,
            "trade_fairs_last_3y": 1.0,
        },
    )


def problems_of(doc: dict) -> list[tuple[str, str]]:
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(doc, source="broken")
    return caught.value.problems


def has_problem(problems: list[tuple[str, str]], where: str, fragment: str) -> bool:
    return any(w == where and fragment in why for w, why in problems)


# --------------------------------------------------------------------------- operators

OPERATOR_ROWS = (
    {
        "has_nib": True,
        "employees": 10,
        "sector": "food_beverage",
        "legal_form": "pt",
        "hs_code": "6109",
        "certifications": ["HALAL", "HACCP"],
        "trade_fairs_last_3y": 2.0,
        "capacity_utilization": 0.5,
    },
    {
        "employees": 5,
        "sector": "apparel",
        "certifications": ["OEKOTEX"],
        "target_markets": ["EU"],
    },
    {
        "has_nib": True,
        "employees": 0,
        "legal_form": "cv",
        "hs_code": "0901",
        "trade_fairs_last_3y": 0.0,
        "capacity_utilization": 0.9,
    },
    {
        "employees": 7,
        "sector": "food_beverage",
        "legal_form": "individual",
        "hs_code": "610910",
        "certifications": ["HALAL", "BPOM", "HACCP"],
        "trade_fairs_last_3y": 1.0,
        "capacity_utilization": 0.85,
    },
)

T, F_ = True, False


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"true": "has_nib"}, [T, F_, T, F_]),
        ({True: "has_nib"}, [T, F_, T, F_]),  # what YAML 1.1 makes of a bare `true:` key
        ({"eq": {"has_nib": True}}, [T, F_, T, F_]),
        ({"ne": {"has_nib": False}}, [T, F_, T, F_]),
        ({"eq": {"sector": "food_beverage"}}, [T, F_, F_, T]),
        ({"ne": {"legal_form": "pt"}}, [F_, F_, T, T]),  # missing legal_form: neither eq nor ne
        ({"eq": {"hs_code": "6109"}}, [T, F_, F_, F_]),
        ({"eq": {"capacity_utilization": 0.5}}, [T, F_, F_, F_]),
        ({"ne": {"capacity_utilization": 0.5}}, [F_, F_, T, T]),
        ({"gt": {"employees": 5}}, [T, F_, F_, T]),
        ({"ge": {"employees": 5}}, [T, T, F_, T]),
        ({"ge": {"trade_fairs_last_3y": 1}}, [T, F_, F_, T]),  # NaN never passes
        ({"lt": {"capacity_utilization": 0.85}}, [T, F_, F_, F_]),
        ({"le": {"capacity_utilization": 0.85}}, [T, F_, F_, T]),
        ({"in": {"legal_form": ["pt", "cv"]}}, [T, F_, T, F_]),
        ({"not_in": {"legal_form": ["pt", "cv"]}}, [F_, F_, F_, T]),
        ({"contains": {"certifications": "HALAL"}}, [T, F_, F_, T]),
        ({"contains_any": {"certifications": ["BPOM", "OEKOTEX"]}}, [F_, T, F_, T]),
        ({"contains_all": {"certifications": ["HALAL", "HACCP"]}}, [T, F_, F_, T]),
        ({"contains": {"target_markets": "EU"}}, [F_, T, F_, F_]),
        (
            {"all": [{"contains": {"certifications": "HALAL"}}, {"true": "has_nib"}]},
            [T, F_, F_, F_],
        ),
        (
            {"any": [{"true": "has_nib"}, {"contains": {"certifications": "OEKOTEX"}}]},
            [T, T, T, F_],
        ),
        ({"not": {"in": {"legal_form": ["pt"]}}}, [F_, T, T, T]),
        ({"lt": {"year_established": 2016}}, [T, T, T, T]),
    ],
)
def test_operator_gives_exact_met_vector(condition, expected):
    ruleset = parse_ruleset(
        document(criterion("x.test", "legal", 1, condition, actionable=False)), source="op"
    )
    result = ruleset.evaluate(profiles(*OPERATOR_ROWS))
    assert result.met[:, 0].tolist() == expected


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (Truth("has_nib", want=False), [F_, T, F_, T]),
        (Compare("ne", "has_nib", True), [F_, T, F_, T]),
        (Compare("lt", "trade_fairs_last_3y", 1), [F_, F_, T, F_]),
        (Compare("le", "employees", 5), [F_, T, T, F_]),
    ],
)
def test_operators_refused_on_more_is_better_fields_still_evaluate_correctly(node, expected):
    assert node.evaluate(profiles(*OPERATOR_ROWS)).tolist() == expected


def test_criterion_reports_the_fields_its_condition_reads(tiny):
    condition = {"any": [{"true": "has_nib"}, {"ge": {"trade_fairs_last_3y": 1}}]}
    ruleset = parse_ruleset(document(criterion("x.a", "legal", 1, condition)), source="f")
    assert ruleset.criteria[0].fields == frozenset({"has_nib", "trade_fairs_last_3y"})
    assert ruleset.criteria[0].condition.to_data() == condition


# --------------------------------------------------------------------------- scores


def test_applicability_follows_sector_and_target_markets(tiny, tiny_rows):
    result = tiny.evaluate(tiny_rows)
    assert result.applicable.tolist() == [
        [T, T, T, F_, T, T],  # food, targets US: no OEKO-TEX (sector), FDA applies (US)
        [T, T, F_, T, T, F_],  # apparel, targets EU+JP: OEKO-TEX applies, FDA does not
        [T, T, F_, F_, T, F_],  # apparel, no target: market-restricted criteria do not apply
        [T, T, F_, T, T, T],  # textile, targets EU+GCC
    ]
    assert result.met.tolist() == [
        [T, F_, T, F_, T, T],
        [F_, T, F_, T, F_, F_],
        [T, F_, F_, F_, F_, F_],  # holds FDA and OEKO-TEX, but they do not apply
        [T, T, F_, F_, T, F_],
    ]


def test_market_arrays_mark_restricted_criteria(tiny):
    eu, us, gcc = (F.MARKETS.index(m) for m in ("EU", "US", "GCC"))
    assert tiny.market_specific[eu].tolist() == [F_, F_, F_, T, F_, F_]
    assert tiny.market_specific[us].tolist() == [F_, F_, F_, F_, F_, T]
    assert tiny.market_specific[gcc].tolist() == [F_, F_, F_, F_, F_, T]
    assert tiny.market_members[eu].tolist() == [T, T, T, T, T, F_]
    assert tiny.market_members[F.MARKETS.index("JP")].tolist() == [T, T, T, F_, T, F_]
    assert tiny.points.tolist() == [10.0, 5.0, 5.0, 4.0, 6.0, 3.0]
    assert tiny.category_index.tolist() == [0, 1, 1, 1, 3, 0]
    assert tiny.knockout.tolist() == [T, F_, F_, F_, F_, F_]


def test_rules_score_is_met_points_over_applicable_points(tiny, tiny_rows):
    result = tiny.evaluate(tiny_rows)
    assert result.rules_score.tolist() == [
        100 * 24 / 29,
        100 * 9 / 25,
        100 * 10 / 21,
        100 * 21 / 28,
    ]


def test_category_scores_are_nan_where_nothing_applies(tiny, tiny_rows):
    result = tiny.evaluate(tiny_rows)
    expected = np.full((4, 7), NAN)
    legal, product, market = 0, 1, 3
    expected[0, [legal, product, market]] = [100.0, 100 * 5 / 10, 100.0]
    expected[1, [legal, product, market]] = [0.0, 100.0, 0.0]
    expected[2, [legal, product, market]] = [100.0, 0.0, 0.0]
    expected[3, [legal, product, market]] = [100 * 10 / 13, 100 * 5 / 9, 100.0]
    np.testing.assert_array_equal(result.category_scores, expected)


def test_market_scores_cover_targeted_markets_only(tiny, tiny_rows):
    result = tiny.evaluate(tiny_rows)
    expected = np.full((4, len(F.MARKETS)), NAN)
    m = {name: i for i, name in enumerate(F.MARKETS)}
    expected[0, m["US"]] = 100 * 24 / 29
    expected[1, m["EU"]] = 100 * 9 / 25
    expected[1, m["JP"]] = 100 * 5 / 21  # OEKO-TEX counts for the EU only
    expected[3, m["EU"]] = 100 * 21 / 25
    expected[3, m["GCC"]] = 100 * 21 / 24
    np.testing.assert_array_equal(result.market_scores, expected)


def test_rules_score_is_zero_when_nothing_applies():
    ruleset = parse_ruleset(
        document(
            criterion(
                "food.halal",
                "product",
                5,
                {"contains": {"certifications": "HALAL"}},
                applies_to={"sectors": ["food_beverage"]},
            )
        ),
        source="f",
    )
    result = ruleset.evaluate(profiles({"sector": "apparel", "target_markets": ["EU"]}))
    assert result.rules_score.tolist() == [0.0]
    assert np.isnan(result.category_scores).all()
    assert np.isnan(result.market_scores).all()


def test_a_profile_scores_the_same_alone_and_in_any_batch(ruleset):
    frame = random_profiles(400, seed=9)
    together = ruleset.evaluate(frame)
    for rows in ([3], [3, 250, 17], list(range(100, 400, 7))):
        alone = ruleset.evaluate(frame.iloc[rows].reset_index(drop=True))
        for name in ("applicable", "met", "rules_score", "category_scores", "market_scores"):
            np.testing.assert_array_equal(getattr(alone, name), getattr(together, name)[rows])
        np.testing.assert_array_equal(alone.knockout_failed, together.knockout_failed[rows])


def test_group_points_are_the_criterion_by_criterion_sums_at_any_batch_size(ruleset):
    """Whole and half points are summed by matrix products over blocks of profiles: the
    same bits as adding the criteria one by one in ruleset order."""
    assert ruleset._group_weights is not None
    frame = random_profiles(1500, seed=4)
    applicable = ruleset.evaluate(frame).applicable.T.copy()
    expected = np.zeros((len(ruleset._groups), applicable.shape[1]))
    for g, members in enumerate(ruleset._groups):
        for c in members:
            expected[g] += applicable[c] * ruleset.points[c]
    for n in (1, 7, 328, 329, 1500):
        np.testing.assert_array_equal(ruleset._group_points(applicable[:, :n]), expected[:, :n])
    np.testing.assert_array_equal(ruleset._group_points(applicable, first=1), expected[:1])


def _shipped_with_points(change) -> object:
    from importlib import resources

    text = resources.files("scoring").joinpath("rulesets/default.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    for item in data["criteria"]:
        item["points"] = change(item["points"])
    return parse_ruleset(data, source="changed points")


@pytest.mark.parametrize(
    "change",
    [lambda p: p, lambda p: p + 0.1],
    ids=["whole and half points", "points that do not add up exactly"],
)
def test_each_fix_scores_its_rules_as_the_fixed_profile_evaluated_afresh(change):
    """The action plan's rules scores: with whole and half points each pair's profile's
    points are changed by the criteria evaluated again, otherwise summed again in ruleset
    order; both to the bit as evaluating the fixed profile from scratch."""
    ruleset = _shipped_with_points(change)
    assert (ruleset._group_weights is not None) == (change(1) == 1)
    for n in (3, 400):  # a few pairs, and many
        frame = _random_frame(12, n=n)
        columns = ProfileColumns.of(frame)
        before = ruleset.evaluate(columns)
        candidates = before.applicable & ~before.met & ruleset.actionable
        fixes = ruleset.score_fixes(columns, before, candidates)
        assert len(fixes.rows) == int(candidates.sum()) > n
        for c in np.unique(fixes.criteria):
            pairs = fixes.criteria == c
            chosen = frame.iloc[fixes.rows[pairs]].reset_index(drop=True)
            np.testing.assert_array_equal(
                fixes.rules_score[pairs],
                ruleset.evaluate(ruleset.apply_fix(int(c), chosen)).rules_score,
                err_msg=str(c),
            )


def test_evaluate_handles_an_empty_frame(tiny):
    result = tiny.evaluate(profiles({}).iloc[:0].reset_index(drop=True))
    assert result.met.shape == (0, 6)
    assert result.market_scores.shape == (0, len(F.MARKETS))
    assert result.rules_score.shape == (0,)


def test_evaluate_refuses_a_frame_without_needed_columns(tiny, tiny_rows):
    with pytest.raises(ValueError, match="has_nib"):
        tiny.evaluate(tiny_rows.drop(columns=["has_nib"]))


# --------------------------------------------------------------------------- knock-outs and tiers


def test_missing_nib_is_a_failed_knockout(tiny, tiny_rows):
    assert tiny.evaluate(tiny_rows).knockout_failed.tolist() == [F_, T, F_, F_]


def test_knockout_counts_only_where_it_applies():
    ruleset = parse_ruleset(
        document(
            criterion(
                "food.pirt",
                "legal",
                5,
                {"contains": {"certifications": "PIRT"}},
                knockout=True,
                applies_to={"sectors": ["food_beverage"]},
            ),
            criterion("legal.npwp", "legal", 5, {"true": "has_npwp"}),
        ),
        source="f",
    )
    frame = profiles({"sector": "food_beverage"}, {"sector": "apparel"})
    assert ruleset.evaluate(frame).knockout_failed.tolist() == [T, F_]


def test_assign_tiers_uses_bands_from_the_top(tiny):
    scores = np.array([100.0, 70.0, 69.9, 55.0, 54.99, 35.0, 34.9, 0.0])
    tiers = tiny.assign_tiers(scores, np.zeros(8, dtype=bool))
    assert tiers.tolist() == [
        "ready",
        "ready",
        "near_ready",
        "near_ready",
        "developing",
        "developing",
        "not_ready",
        "not_ready",
    ]


def test_missing_nib_caps_tier_at_not_ready(tiny):
    tiers = tiny.assign_tiers(np.array([95.0, 95.0, 60.0]), np.array([T, F_, T]))
    assert tiers.tolist() == ["not_ready", "ready", "not_ready"]


def test_assign_tiers_refuses_nan(tiny):
    with pytest.raises(ValueError, match="NaN"):
        tiny.assign_tiers(np.array([NAN]), np.array([F_]))


# --------------------------------------------------------------------------- fixes


def test_fix_sets_booleans_thresholds_and_bits_keeping_dtypes():
    ruleset = parse_ruleset(
        document(
            criterion("a.nib", "legal", 1, {"eq": {"has_nib": True}}),
            criterion("a.staff", "capacity", 1, {"ge": {"employees": 5}}),
            criterion("a.more", "capacity", 1, {"gt": {"employees": 5}}),
            criterion("a.fairs", "market", 1, {"ge": {"trade_fairs_last_3y": 2}}),
            criterion(
                "a.food",
                "product",
                1,
                {"contains_any": {"certifications": ["PIRT", "BPOM"]}},
            ),
            criterion(
                "a.both",
                "product",
                1,
                {"contains_all": {"certifications": ["HACCP", "HALAL"]}},
            ),
        ),
        source="f",
    )
    frame = profiles(
        {"employees": 2, "trade_fairs_last_3y": NAN, "certifications": ["HALAL"]},
        {"employees": 9, "trade_fairs_last_3y": 3.0, "certifications": ["BPOM"], "has_nib": True},
    )
    fixed = [ruleset.apply_fix(c, frame) for c in range(6)]
    assert fixed[0]["has_nib"].tolist() == [T, T]
    assert fixed[1]["employees"].tolist() == [5, 9]
    assert fixed[2]["employees"].tolist() == [6, 9]
    assert fixed[3]["trade_fairs_last_3y"].tolist() == [2.0, 3.0]
    assert [F.mask_to_list("certifications", m) for m in fixed[4]["certifications"]] == [
        ["HALAL", "PIRT"],  # the cheapest first
        ["BPOM"],  # already met: untouched
    ]
    assert [F.mask_to_list("certifications", m) for m in fixed[5]["certifications"]] == [
        ["HALAL", "HACCP"],
        ["HALAL", "BPOM", "HACCP"],
    ]
    for out in fixed:
        assert out.dtypes.equals(frame.dtypes)
    assert frame["employees"].tolist() == [2, 9]  # the input is not changed


def test_fix_of_all_fixes_each_part_and_any_fixes_the_first():
    ruleset = parse_ruleset(
        document(
            criterion(
                "a.all",
                "legal",
                1,
                {"all": [{"true": "has_nib"}, {"contains": {"certifications": "SVLK"}}]},
            ),
            criterion(
                "a.any",
                "market",
                1,
                {"any": [{"ge": {"foreign_buyer_contacts": 3}}, {"true": "has_exported"}]},
            ),
        ),
        source="f",
    )
    frame = profiles({}, {"has_exported": True, "foreign_buyer_contacts": 1.0})
    both = ruleset.apply_fix(0, frame)
    assert both["has_nib"].tolist() == [T, T]
    assert F.has_value(both["certifications"].to_numpy(), "certifications", "SVLK").tolist() == [
        T,
        T,
    ]
    first = ruleset.apply_fix(1, frame)
    assert first["foreign_buyer_contacts"].tolist() == [3.0, 1.0]  # row 1 already meets it


def test_fix_of_a_not_actionable_criterion_is_refused(ruleset):
    c = next(i for i, crit in enumerate(ruleset.criteria) if crit.id == "market.has_exported")
    with pytest.raises(ValueError, match=r"market\.has_exported"):
        ruleset.apply_fix(c, profiles({}))


# --------------------------------------------------------------------------- broken rulesets

CRITERION_PROBLEMS = [
    ({"condition": {"is": "has_nib"}}, "unknown operator 'is'"),
    ({"condition": {"true": "has_nib", "false": "has_npwp"}}, "exactly one operator"),
    ({"condition": {"all": []}}, "non-empty list"),
    ({"condition": {"all": {"true": "has_nib"}}}, "non-empty list"),
    ({"condition": {"not": [{"true": "has_nib"}]}}, "exactly one operator"),
    ({"condition": {"ge": {"employees": 5, "english_capable_staff": 1}}}, "one field"),
    ({"condition": {"ge": 5}}, "one field"),
    ({"condition": {"true": "has_nibb"}}, "unknown field 'has_nibb'; did you mean 'has_nib'?"),
    ({"condition": {"eq": {"exported_within_12m": True}}}, "unknown field"),
    ({"condition": {"eq": {"owner_gender": "female"}}}, "personal data"),
    ({"condition": {"in": {"district": ["Coblong"]}}}, "personal data"),
    ({"condition": {"eq": {"sme_id": "X-1"}}}, "identifies the SME"),
    ({"condition": {"true": "employees"}}, "'true' needs a field of type bool; 'employees' is int"),
    ({"condition": {"ge": {"sector": 1}}}, "needs a field of type int or float"),
    ({"condition": {"contains": {"sector": "apparel"}}}, "needs a field of type enum_list"),
    ({"condition": {"ge": {"employees": "5"}}}, "must be a number"),
    ({"condition": {"ge": {"employees": True}}}, "must be a number"),
    ({"condition": {"ge": {"employees": 2.5}}}, "whole number"),
    ({"condition": {"le": {"capacity_utilization": 85}}}, "85 is above the field's maximum 1"),
    ({"condition": {"lt": {"year_established": 1800}}}, "1800 is below the field's minimum 1900"),
    ({"condition": {"eq": {"sector": "fishing"}}}, "'fishing' is not one of"),
    ({"condition": {"eq": {"has_nib": "ya"}}}, "must be true or false"),
    ({"condition": {"eq": {"hs_code": "61-09"}}}, "pattern"),
    ({"condition": {"contains": {"certifications": "ISO14001"}}}, "'ISO14001' is not one of"),
    ({"condition": {"contains_any": {"certifications": "HALAL"}}}, "non-empty list"),
    ({"condition": {"contains_any": {"certifications": ["SNI", "SNI"]}}}, "listed twice"),
    ({"condition": {"in": {"legal_form": "pt"}}}, "non-empty list"),
    ({"condition": {"false": "has_nib"}}, "can turn false when 'has_nib' improves"),
    ({"condition": {"ne": {"has_nib": True}}}, "can turn false"),
    ({"condition": {"lt": {"trade_fairs_last_3y": 3}}}, "can turn false"),
    ({"condition": {"eq": {"foreign_buyer_contacts": 3}}}, "can turn false"),
    ({"condition": {"ge": {"year_established": 2020}}}, "reward less of it"),
    (
        {"condition": {"not": {"contains": {"certifications": "HALAL"}}}},
        "under 'not' can turn false",
    ),
    ({"condition": {"le": {"capacity_utilization": 0.8}}}, "has no fix"),
    ({"condition": {"any": [{"eq": {"sector": "other"}}, {"true": "has_nib"}]}}, "has no fix"),
    ({"condition": {"contains": {"target_markets": "EU"}}}, "has no fix"),
    ({"condition": {"gt": {"export_value_usd_last_year": 0}}}, "has no fix"),
    ({"category": "quality"}, "unknown category 'quality'"),
    ({"points": 0}, "points must be a positive number"),
    ({"points": -2}, "points must be a positive number"),
    ({"points": "5"}, "points must be a positive number"),
    ({"points": True}, "points must be a positive number"),
    ({"knockout": "yes"}, "knockout must be true or false"),
    ({"actionable": 1}, "actionable must be true or false"),
    ({"applies_to": {"sectors": ["fishing"]}}, "'fishing' is not one of"),
    ({"applies_to": {"target_markets": ["UK"]}}, "'UK' is not one of"),
    ({"applies_to": {"employees": [5]}}, "only sectors and target_markets"),
    ({"applies_to": {"sectors": []}}, "must be a non-empty list"),
    ({"applies_to": []}, "applies_to must be a mapping"),
    ({"label": {"id": "Label"}}, "label is missing 'en'"),
    ({"recommendation": {"en": "Do it"}}, "recommendation is missing 'id'"),
    ({"label": {"id": "Label", "en": " "}}, "label.en must be non-empty text"),
    ({"label": {"id": "L", "en": "L", "fr": "L"}}, "unknown language 'fr'"),
    ({"label": "NIB"}, "label must be a mapping"),
    ({"weight": 3}, "unknown key 'weight'"),
    ({"recommendation_by_sector": {"apparel": "x"}}, "recommendation_by_sector must be a list"),
    (
        {"recommendation_by_sector": [{"sectors": ["fishing"], "id": "I", "en": "E"}]},
        "recommendation_by_sector[0].sectors: 'fishing' is not one of",
    ),
    (
        {"recommendation_by_sector": [{"sectors": [], "id": "I", "en": "E"}]},
        "recommendation_by_sector[0].sectors must be a non-empty list",
    ),
    (
        {"recommendation_by_sector": [{"sectors": ["apparel"], "id": "I"}]},
        "recommendation_by_sector[0] is missing 'en'",
    ),
    (
        {
            "recommendation_by_sector": [
                {"sectors": ["apparel"], "id": "I", "en": "E"},
                {"sectors": ["textile", "apparel"], "id": "I2", "en": "E2"},
            ]
        },
        "recommendation_by_sector[1].sectors: 'apparel' has advice above already",
    ),
    (
        {
            "applies_to": {"sectors": ["food_beverage"]},
            "recommendation_by_sector": [{"sectors": ["apparel"], "id": "I", "en": "E"}],
        },
        "'apparel' is not in applies_to.sectors",
    ),
]


@pytest.mark.parametrize(("change", "fragment"), CRITERION_PROBLEMS)
def test_broken_criterion_is_refused_naming_it(change, fragment):
    doc = tiny_document()
    doc["criteria"][1].update(change)
    problems = problems_of(doc)
    assert has_problem(problems, "product.qc", fragment), problems


@pytest.mark.parametrize("key", ["id", "category", "points", "condition", "label"])
def test_criterion_missing_a_key_is_refused(key):
    doc = tiny_document()
    del doc["criteria"][4][key]
    where = "criteria[4]" if key == "id" else "market.fair"
    assert has_problem(problems_of(doc), where, f"missing '{key}'")


def test_duplicate_criterion_id_is_refused():
    doc = tiny_document()
    doc["criteria"][2]["id"] = "product.qc"
    assert has_problem(problems_of(doc), "product.qc", "duplicate criterion id")


def test_badly_formed_criterion_id_is_refused():
    doc = tiny_document()
    doc["criteria"][2]["id"] = "Food Halal"
    assert has_problem(problems_of(doc), "Food Halal", "lower-case")


def _tiers(*mins):
    return [
        {"id": f"t{i}", "min_score": m, "label": {"id": "x", "en": "x"}} for i, m in enumerate(mins)
    ]


SECTION_PROBLEMS = [
    (lambda d: d.update(extra=1), "ruleset", "unknown key 'extra'"),
    (lambda d: d.pop("tiers"), "ruleset", "missing 'tiers'"),
    (lambda d: d.pop("criteria"), "ruleset", "missing 'criteria'"),
    (lambda d: d.update(version=2026.11), "version", "must be text"),
    (lambda d: d.update(id="Default Rules"), "id", "lower-case"),
    (lambda d: d.update(title={"en": "Test"}), "title", "title is missing 'id'"),
    (lambda d: d["blend"].update(ml_weight=0.5), "blend", "must be 1, got 1.1"),
    (lambda d: d["blend"].update(ml_weight="0.4"), "blend", "ml_weight must be a number"),
    (lambda d: d["blend"].pop("ml_weight"), "blend", "missing 'ml_weight'"),
    (lambda d: d["blend"].update(extra=0), "blend", "unknown key 'extra'"),
    (lambda d: d.update(tiers=_tiers(70, 80, 0)), "tiers[1]", "must be below the tier above"),
    (lambda d: d.update(tiers=_tiers(70, 55, 10)), "tiers", "lowest tier must have min_score 0"),
    (lambda d: d.update(tiers=_tiers(70, 120, 0)), "tiers[1]", "from 0 to 100"),
    (lambda d: d.update(tiers=[]), "tiers", "non-empty list"),
    (lambda d: d["tiers"][1].update(id="ready"), "tiers[1]", "tier id 'ready' is used twice"),
    (lambda d: d["tiers"][0].pop("label"), "tiers[0]", "missing 'label'"),
    (lambda d: d.update(knockout_tier="rejected"), "knockout_tier", "'rejected' is not one of"),
    (lambda d: d["categories"].pop("finance"), "categories", "missing 'finance'"),
    (lambda d: d["categories"].update(quality={"id": "M", "en": "Q"}), "categories", "'quality'"),
    (lambda d: d["categories"].update(legal={"id": "L"}), "categories", "label of legal"),
    (lambda d: d["markets"].pop("GCC"), "markets", "missing 'GCC'"),
    (lambda d: d["markets"].update(UK={"id": "I", "en": "UK"}), "markets", "unknown id 'UK'"),
    (lambda d: d.update(markets=["EU"]), "markets", "must be a mapping"),
    (lambda d: d.update(criteria=[]), "criteria", "non-empty list"),
    (lambda d: d["criteria"].append("legal.nib"), "criteria[6]", "must be a mapping"),
]


@pytest.mark.parametrize(("change", "where", "fragment"), SECTION_PROBLEMS)
def test_broken_section_is_refused_naming_it(change, where, fragment):
    doc = tiny_document()
    change(doc)
    problems = problems_of(doc)
    assert has_problem(problems, where, fragment), problems


def test_a_document_that_is_not_a_mapping_is_refused():
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(["id", "default"], source="list.yaml")
    assert caught.value.problems[0][0] == "ruleset"
    assert caught.value.source == "list.yaml"


def _paths(node, path=()):
    yield path
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            yield from _paths(child, (*path, key))


_TINY_PATHS = [p for p in _paths(tiny_document()) if p]
_JUNK = st.sampled_from(
    [None, 0, -1, 2.5, NAN, "", "x", "EU", "has_nib", True, [], {}, [None], {"eq": None}, 10**30]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_TINY_PATHS), _JUNK), min_size=1, max_size=3))
def test_any_damaged_document_is_refused_cleanly_or_loads(damage):
    doc = tiny_document()
    for path, junk in damage:
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = junk
        except (KeyError, IndexError, TypeError):
            continue
    try:
        parse_ruleset(doc, source="damaged")
    except RulesetError as error:
        assert error.problems
        assert all(isinstance(w, str) and isinstance(why, str) for w, why in error.problems)


BROKEN_FILE = """\
id: broken
version: "1"
title: {id: Rusak, en: Broken}
blend: {rules_weight: 0.7, ml_weight: 0.4}
tiers:
  - {id: ready, min_score: 60, label: {id: Siap, en: Ready}}
  - {id: not_ready, min_score: 0, label: {id: Belum, en: Not ready}}
knockout_tier: not_ready
categories:
  legal: {id: Legalitas, en: Legal}
  product: {id: Produk, en: Product}
  capacity: {id: Kapasitas, en: Capacity}
  market: {id: Pasar, en: Market}
  people: {id: SDM, en: People}
  digital: {id: Digital, en: Digital}
  finance: {id: Keuangan, en: Finance}
markets:
  EU: {id: Uni Eropa, en: EU}
  US: {id: AS, en: US}
  JP: {id: Jepang, en: Japan}
  CN: {id: Tiongkok, en: China}
  GCC: {id: Teluk, en: Gulf}
  ASEAN: {id: ASEAN, en: ASEAN}
  AU: {id: Australia, en: Australia}
  OTHER: {id: Lain, en: Other}
criteria:
  - id: legal.nib
    category: legal
    points: 10
    knockout: true
    condition: {true: has_nib}
    label: {id: NIB, en: NIB}
    recommendation: {id: Daftar OSS, en: Register on OSS}
  - id: people.gender
    category: people
    points: 5
    actionable: false
    condition: {eq: {owner_gender: female}}
    label: {id: Gender, en: Gender}
    recommendation: {id: X, en: X}
  - id: legal.nib
    category: legal
    points: -1
    condition: {true: has_npwp}
    label: {id: NPWP}
    recommendation: {id: Daftar, en: Register}
"""


def test_broken_file_reports_every_problem(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_FILE, encoding="utf-8")
    with pytest.raises(RulesetError) as caught:
        load_ruleset(path)
    problems = caught.value.problems
    assert caught.value.source == str(path)
    assert [where for where, _ in problems] == [
        "blend",
        "people.gender",
        "legal.nib",
        "legal.nib",
        "legal.nib",
    ]
    assert has_problem(problems, "blend", "must be 1")
    assert has_problem(problems, "people.gender", "personal data")
    assert has_problem(problems, "legal.nib", "duplicate criterion id")
    assert has_problem(problems, "legal.nib", "points must be a positive number, got -1")
    assert has_problem(problems, "legal.nib", "label is missing 'en'")
    assert "people.gender" in str(caught.value)


def test_yaml_syntax_error_is_a_ruleset_error_with_its_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text('id: default\nversion: "1"\n  title: [oops\n', encoding="utf-8")
    with pytest.raises(RulesetError) as caught:
        load_ruleset(path)
    ((where, why),) = caught.value.problems
    assert where == "yaml"
    assert why.startswith("line 3, column ")


def test_unreadable_file_is_a_ruleset_error(tmp_path):
    with pytest.raises(RulesetError) as caught:
        load_ruleset(tmp_path / "missing.yaml")
    assert caught.value.problems[0][0] == "file"


def test_yaml_tags_are_not_executed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("id: !!python/object/apply:os.system [echo hi]\n", encoding="utf-8")
    with pytest.raises(RulesetError) as caught:
        load_ruleset(path)
    assert caught.value.problems[0][0] == "yaml"


# --------------------------------------------------------------------------- the default ruleset


def test_default_ruleset_loads_with_all_categories_and_markets(ruleset):
    assert ruleset.id == "default"
    assert [c.id for c in ruleset.categories] == list(CATEGORIES)
    assert [m.id for m in ruleset.markets] == list(F.MARKETS)
    assert [t.id for t in ruleset.tiers] == ["ready", "near_ready", "developing", "not_ready"]
    assert [t.min_score for t in ruleset.tiers] == [70.0, 55.0, 35.0, 0.0]
    assert ruleset.knockout_tier == "not_ready"
    assert (ruleset.rules_weight, ruleset.ml_weight) == (0.6, 0.4)
    assert 30 <= len(ruleset.criteria) <= 45
    assert {c.id for c in ruleset.criteria if c.knockout} == {"legal.nib", "legal.npwp"}
    assert set(ruleset.category_index.tolist()) == set(range(len(CATEGORIES)))
    assert ruleset.version_string == f"{ruleset.version}+{ruleset.fingerprint[:8]}"
    assert len(ruleset.fingerprint) == 64
    for crit in ruleset.criteria:
        assert set(crit.label) == set(crit.recommendation) == {"id", "en"}


def test_default_ruleset_covers_the_market_specific_requirements(ruleset):
    by_id = {c.id: c for c in ruleset.criteria}
    assert by_id["food.halal"].applies_sectors == ("food_beverage",)
    assert by_id["food.home_registration"].condition.to_data() == {
        "contains_any": {"certifications": ["PIRT", "BPOM"]}
    }
    assert by_id["food.safety_system"].condition.to_data() == {
        "contains_any": {"certifications": ["HACCP", "ISO22000"]}
    }
    assert by_id["us.food_fda"].applies_markets == ("US",)
    assert by_id["eu.textile_oekotex"].applies_sectors == ("apparel", "textile")
    assert by_id["eu.medical_ce"].applies_markets == ("EU",)
    assert by_id["eu.medical_iso13485"].applies_markets == ("EU",)
    assert by_id["us.medical_fda"].applies_markets == ("US",)
    assert by_id["medical.cpakb"].condition.to_data() == {"contains": {"certifications": "GMP"}}
    assert by_id["wood.svlk"].applies_sectors == ("furniture_wood", "handicraft")
    targeted = set(ruleset.market_specific.any(axis=1).nonzero()[0].tolist())
    assert {F.MARKETS.index(m) for m in ("EU", "US", "CN", "GCC")} <= targeted
    assert {c.id for c in ruleset.criteria if not c.actionable} == {
        "capacity.workforce",
        "capacity.spare_capacity",
        "market.has_exported",
        "market.export_track_record",
    }


def test_default_ruleset_reads_no_personal_or_identifying_field(ruleset):
    read = frozenset().union(*(c.fields for c in ruleset.criteria))
    assert read <= frozenset(F.PROFILE_COLUMNS) - {"sme_id", "name"}
    assert not read & set(F.PERSONAL_COLUMNS)


def test_fingerprint_follows_content_not_formatting(ruleset):
    from importlib import resources

    text = resources.files("scoring").joinpath("rulesets").joinpath("default.yaml").read_text()
    data = yaml.safe_load(text)
    reformatted = yaml.safe_load(yaml.safe_dump(data, sort_keys=True, allow_unicode=True))
    assert parse_ruleset(reformatted, source="x").fingerprint == ruleset.fingerprint
    changed = copy.deepcopy(data)
    changed["criteria"][0]["points"] = 11
    assert parse_ruleset(changed, source="x").fingerprint != ruleset.fingerprint


def test_ruleset_is_immutable(ruleset):
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.version = "x"
    with pytest.raises(ValueError):
        ruleset.points[0] = 99.0
    with pytest.raises(ValueError):
        ruleset.market_members[0, 0] = False


def _random_frame(seed: int, n: int = 300) -> pd.DataFrame:
    """conftest profiles with some optional numbers unknown, as real uploads have."""
    frame = random_profiles(n, seed=seed)
    rng = np.random.default_rng(seed)
    for name in ("foreign_buyer_contacts", "trade_fairs_last_3y", "english_capable_staff"):
        frame[name] = frame[name].mask(rng.random(n) < 0.2)
    frame["sector"] = frame["sector"].mask(rng.random(n) < 0.02)  # an unknown sector applies least
    return frame


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_every_fix_meets_its_criterion_and_lowers_nothing(ruleset, seed):
    frame = _random_frame(seed)
    before = ruleset.evaluate(frame)
    for c, crit in enumerate(ruleset.criteria):
        if not crit.actionable:
            continue
        fixed = ruleset.apply_fix(c, frame)
        after = ruleset.evaluate(fixed)
        assert crit.condition.evaluate(fixed).all(), crit.id
        assert (after.met[:, c] == after.applicable[:, c]).all(), crit.id
        assert (after.applicable == before.applicable).all(), crit.id
        assert not (before.met & ~after.met).any(), crit.id
        assert (after.rules_score >= before.rules_score).all(), crit.id
        assert fixed.dtypes.equals(frame.dtypes), crit.id


def _improvements():
    yield "has_nib", lambda f: f.assign(has_nib=True)
    for name in F.BOOL_FIELDS:
        yield name, lambda f, name=name: f.assign(**{name: True})
    for cert in F.CERTIFICATIONS:
        bit = F.bit("certifications", cert)
        yield cert, lambda f, bit=bit: f.assign(certifications=f["certifications"] | bit)
    for name in ("trade_fairs_last_3y", "foreign_buyer_contacts", "english_capable_staff"):
        yield name, lambda f, name=name: f.assign(**{name: f[name].fillna(0) + 1})
    yield "employees", lambda f: f.assign(employees=f["employees"] + 1)


@pytest.mark.parametrize(("what", "improve"), list(_improvements()))
@pytest.mark.parametrize("seed", [1, 2])
def test_improving_a_profile_never_lowers_rules(ruleset, what, improve, seed):
    frame = _random_frame(seed)
    before = ruleset.evaluate(frame)
    after = ruleset.evaluate(improve(frame))
    assert not (before.met & ~after.met).any(), what
    assert (after.rules_score >= before.rules_score).all(), what
    assert (after.applicable == before.applicable).all(), what


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    text = (Path(__file__).resolve().parent.parent / "scoring/rulesets/default.yaml").read_text()
    doubled = text.replace("    points: 10\n", "    points: 10\n    points: 12\n", 1)
    assert doubled != text
    path = tmp_path / "doubled.yaml"
    path.write_text(doubled)
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    (where, why), *_ = info.value.problems
    assert where == "yaml"
    assert why.endswith("duplicate key 'points'")
    assert why.startswith("line ")


def test_dependents_are_exactly_the_criteria_sharing_a_field():
    ruleset = load_ruleset()
    for c, criterion in enumerate(ruleset.criteria):
        expected = [
            d for d, other in enumerate(ruleset.criteria) if other.fields & criterion.fields
        ]
        assert ruleset.dependents(c).tolist() == expected
        assert c in expected
        shared = set().union(*(ruleset.criteria[d].fields for d in expected))
        assert ruleset.fix_fields(c) == tuple(sorted(shared))


def test_sector_advice_replaces_the_general_recommendation_for_its_sectors():
    doc = tiny_document()
    doc["criteria"][1]["recommendation_by_sector"] = [
        {"sectors": ["food_beverage", "cosmetics_herbal"], "id": "Pangan", "en": "Food"},
    ]
    qc = next(c for c in parse_ruleset(doc, source="tiny").criteria if c.id == "product.qc")
    general = doc["criteria"][1]["recommendation"]
    assert qc.recommendation_for("food_beverage") == {"id": "Pangan", "en": "Food"}
    assert qc.recommendation_for("cosmetics_herbal") == {"id": "Pangan", "en": "Food"}
    assert qc.recommendation_for("apparel") == general
    assert qc.recommendation_for(None) == general


def _packaging_advice(scorer, sector: str, lang: str) -> str:
    profile = json.loads((DATA / "example_profile.json").read_text(encoding="utf-8"))
    profile.update(sector=sector, export_packaging=False, hs_code=None)
    plan = scorer.score_profile(profile, lang=lang)["action_plan"]
    (action,) = [a for a in plan if a["criterion"] == "product.export_packaging"]
    return action["recommendation"]


def test_export_packaging_advice_follows_the_sector(scorer):
    food = _packaging_advice(scorer, "food_beverage", "en")
    for words in ("ingredients", "net weight", "BPOM", "PIRT", "halal", "expiry date", "nutrition"):
        assert words in food, words
    assert "fibre" not in food.lower() and "care" not in food.lower()
    assert "serat" not in _packaging_advice(scorer, "food_beverage", "id")
    for sector in ("apparel", "textile", "footwear_leather"):
        assert "fibre content" in _packaging_advice(scorer, sector, "en")
        assert "kandungan serat" in _packaging_advice(scorer, sector, "id")
    other = _packaging_advice(scorer, "handicraft", "en")
    assert "fibre" not in other and "BPOM" not in other
