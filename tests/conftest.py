"""Shared fixtures: canonical profile frames, the shipped ruleset, model and scorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.contract import fields as F


def random_profiles(n: int, *, seed: int = 0) -> pd.DataFrame:
    """A canonical profile frame with every field varied; valid under the contract."""
    rng = np.random.default_rng(seed)
    has_exported = rng.random(n) < 0.3
    frame = pd.DataFrame(
        {
            "sme_id": [f"T-{i:06d}" for i in range(n)],
            "name": [f"Usaha {i}" for i in range(n)],
            "sector": rng.choice(F.SECTORS, n),
            "hs_code": np.where(rng.random(n) < 0.5, "6109", None),
            "legal_form": rng.choice([*F.LEGAL_FORMS, None], n),
            "year_established": rng.integers(1970, 2026, n),
            "employees": rng.integers(0, 300, n),
            "annual_revenue_idr": np.round(rng.lognormal(20, 1.5, n), 2),
            "monthly_capacity_units": np.where(
                rng.random(n) < 0.8, rng.integers(0, 50_000, n).astype(float), np.nan
            ),
            "capacity_utilization": np.where(
                rng.random(n) < 0.8, np.round(rng.random(n), 2), np.nan
            ),
            "certifications": rng.integers(0, 1 << len(F.CERTIFICATIONS), n)
            & rng.integers(0, 1 << len(F.CERTIFICATIONS), n),
            "has_exported": has_exported,
            "export_years": np.where(has_exported, rng.integers(0, 15, n), 0).astype(float),
            "export_value_usd_last_year": np.where(has_exported, rng.lognormal(10, 1, n), 0.0),
            "export_markets": np.where(has_exported, rng.integers(0, 1 << len(F.MARKETS), n), 0),
            "target_markets": rng.integers(0, 1 << len(F.MARKETS), n),
            "foreign_buyer_contacts": rng.integers(0, 20, n).astype(float),
            "trade_fairs_last_3y": rng.integers(0, 6, n).astype(float),
            "english_capable_staff": rng.integers(0, 5, n).astype(float),
        }
    )
    for name in F.BOOL_FIELDS:
        if name not in frame:
            frame[name] = rng.random(n) < 0.5
    frame = frame[list(F.PROFILE_COLUMNS)]
    for name in (
        "year_established",
        "employees",
        "certifications",
        "export_markets",
        "target_markets",
    ):
        frame[name] = frame[name].astype(np.int64)
    return frame


def random_labels(frame: pd.DataFrame, *, seed: int = 0) -> np.ndarray:
    """Labels that depend monotonically on a few facts, for training tests."""
    rng = np.random.default_rng(seed)
    logit = (
        -2.0
        + 1.2 * frame["has_exported"].to_numpy()
        + 0.6 * frame["has_website"].to_numpy()
        + 0.3 * np.log1p(frame["foreign_buyer_contacts"].to_numpy())
        + 0.4 * F.count_values(frame["certifications"].to_numpy())
    )
    return rng.random(len(frame)) < 1 / (1 + np.exp(-logit))


@pytest.fixture(scope="session")
def ruleset():
    from scoring.rules.loading import load_ruleset

    return load_ruleset()


@pytest.fixture(scope="session")
def model():
    from scoring.model.additive import load_model

    return load_model()


@pytest.fixture(scope="session")
def scorer(ruleset, model):
    from scoring.engine import Scorer

    return Scorer(ruleset, model)
