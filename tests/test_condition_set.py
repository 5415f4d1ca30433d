"""Conditions evaluated together give exactly what each condition's own evaluate gives."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_profiles

from scoring.contract.columns import ProfileColumns
from scoring.rules.condition_set import ConditionSet
from scoring.rules.conditions import AllOf, AnyOf, Compare, Contains, Member, Not, Truth

EVERY_KIND = (
    Truth("has_nib", want=True),
    Truth("has_website", want=True),
    Truth("has_npwp", want=False),
    Compare("eq", "has_nib", True),
    Compare("ne", "has_exported", False),
    Compare("ge", "employees", 5),
    Compare("gt", "employees", 40),
    Compare("le", "capacity_utilization", 0.85),
    Compare("lt", "trade_fairs_last_3y", 2),
    Compare("ge", "trade_fairs_last_3y", 1),
    Compare("eq", "capacity_utilization", 0.5),
    Compare("ne", "monthly_capacity_units", 0),
    Compare("eq", "sector", "food_beverage"),
    Compare("ne", "legal_form", "pt"),
    Member("in", "legal_form", ("pt", "cv")),
    Member("not_in", "sector", ("apparel",)),
    Contains("contains", "certifications", ("HALAL",)),
    Contains("contains_any", "certifications", ("BPOM", "OEKOTEX")),
    Contains("contains_all", "certifications", ("HALAL", "HACCP")),
    Contains("contains", "target_markets", ("EU",)),
    Contains("contains_any", "export_markets", ("JP", "CN")),
    AllOf((Contains("contains", "certifications", ("BPOM",)), Truth("has_nib", want=True))),
    AnyOf((Truth("has_website", want=True), Compare("ge", "english_capable_staff", 2))),
    Not(Member("in", "legal_form", ("pt",))),
)


def _one_by_one(conditions, frame) -> np.ndarray:
    return np.array([c.evaluate(frame) for c in conditions], dtype=bool).reshape(
        len(conditions), len(frame)
    )


@pytest.mark.parametrize("n", [0, 1, 7, 500])
@pytest.mark.parametrize("as_columns", [False, True])
def test_every_kind_of_condition_evaluates_as_alone(n, as_columns):
    frame = random_profiles(n, seed=n)
    if n:
        frame.loc[::3, "trade_fairs_last_3y"] = np.nan
        frame.loc[::4, "capacity_utilization"] = np.nan
    source = ProfileColumns.of(frame) if as_columns else frame
    together = ConditionSet(EVERY_KIND).evaluate(source)
    assert together.dtype == bool
    np.testing.assert_array_equal(together, _one_by_one(EVERY_KIND, source))


def test_the_shipped_ruleset_evaluates_as_criterion_by_criterion(ruleset):
    frame = ProfileColumns.of(random_profiles(2000, seed=11))
    conditions = [c.condition for c in ruleset.criteria]
    np.testing.assert_array_equal(
        ConditionSet(conditions).evaluate(frame), _one_by_one(conditions, frame)
    )


@pytest.mark.parametrize("n", [1, 40])
def test_fixing_failing_rows_in_place_is_fix(ruleset, n):
    frame = ProfileColumns.of(random_profiles(n, seed=3))
    for criterion in ruleset.criteria:
        if not criterion.actionable:
            continue
        condition = criterion.condition
        failing = np.flatnonzero(~condition.evaluate(frame))
        if not failing.size:
            continue
        names = sorted(condition.fields)
        expected = frame.take(failing, names)
        condition.fix(expected, np.ones(failing.size, dtype=bool))
        got = frame.take(failing, names)
        condition.fix_failing(got, 0, failing.size)
        for name in names:
            assert got[name].dtype == expected[name].dtype
            np.testing.assert_array_equal(got[name], expected[name], err_msg=criterion.id)
        assert condition.evaluate(got).all(), criterion.id


def test_a_set_of_one_condition_is_that_condition_in_a_new_array():
    frame = ProfileColumns.of(random_profiles(50, seed=5))
    for condition in EVERY_KIND:
        flags = ConditionSet([condition]).evaluate(frame)
        np.testing.assert_array_equal(flags[0], condition.evaluate(frame))
        flags[:] = False  # the set's own array: the profiles are untouched
        np.testing.assert_array_equal(
            ConditionSet([condition]).evaluate(frame)[0], condition.evaluate(frame)
        )
