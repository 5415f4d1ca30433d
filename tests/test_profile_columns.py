"""Codes of a text column's values among their choices, as the rules and the encoder use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.contract import fields as F
from scoring.contract.columns import ProfileColumns, codes_of

CHOICES = ("apparel", "textile", "other")


@pytest.mark.parametrize("n", [5, 64, 65, 500])  # a dict look-up up to 64 rows, Arrow above
def test_codes_are_positions_among_the_choices_and_minus_one_for_anything_else(n):
    cells = ["textile", "other", None, np.nan, pd.NA, "Apparel", "", "apparel", "x"]
    values = np.array([cells[i % len(cells)] for i in range(n)], dtype=object)
    expected = [CHOICES.index(v) if isinstance(v, str) and v in CHOICES else -1 for v in values]
    codes = codes_of(ProfileColumns({"sector": values}, n), "sector", CHOICES)
    assert codes.dtype == np.int64 and codes.tolist() == expected


def test_values_that_are_not_all_text_are_coded_too():
    values = np.array(["other", 3, None, 2.5, "textile"] * 20, dtype=object)
    codes = codes_of(ProfileColumns({"sector": values}, 100), "sector", CHOICES)
    assert codes.tolist() == [2, -1, -1, -1, 1] * 20


def test_a_frame_and_its_columns_give_the_same_codes():
    frame = pd.DataFrame({"sector": list(F.SECTORS) * 30 + [None]})
    from_frame = codes_of(frame, "sector", F.SECTORS)
    from_columns = codes_of(ProfileColumns.of(frame), "sector", F.SECTORS)
    assert from_frame.tolist() == from_columns.tolist() == [*range(len(F.SECTORS))] * 30 + [-1]
