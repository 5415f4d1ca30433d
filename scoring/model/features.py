"""Model inputs: the canonical profile frame encoded as a numeric matrix.

Only business facts enter the model. ``owner_gender``, names, contacts and
district are not in the profile frame at all, so they cannot leak in here.
Unknown counts (trade fairs, buyer contacts, English staff, export years and
value) are encoded as zero, exactly as the rules treat them, which keeps the
model monotone in every "more is better" input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.contract import fields as F
from scoring.contract.columns import ProfileColumns, codes_of, column, stacked_numbers


@dataclass(frozen=True)
class Feature:
    """One model column: where it comes from and its monotonic direction."""

    name: str
    group: str  # the profile fact a reason names (one-hot columns share their field)
    monotone: int  # +1 more is better, -1 less is better, 0 unconstrained


_COUNTS_ZERO_IF_UNKNOWN = (
    "export_years",
    "export_value_usd_last_year",
    "foreign_buyer_contacts",
    "trade_fairs_last_3y",
    "english_capable_staff",
)


def _build_features() -> tuple[Feature, ...]:
    features = [Feature(f"sector:{s}", "sector", 0) for s in F.SECTORS]
    features += [Feature(f"legal_form:{s}", "legal_form", 0) for s in F.LEGAL_FORMS]
    numbers = ("year_established", "employees", "annual_revenue_idr", "monthly_capacity_units")
    features += [Feature(name, name, F.BETTER[name]) for name in numbers]
    features.append(Feature("capacity_utilization", "capacity_utilization", 0))
    features += [Feature(name, name, F.BETTER[name]) for name in F.BOOL_FIELDS]
    features += [
        Feature(f"certifications:{c}", f"certifications:{c}", F.BETTER["certifications"])
        for c in F.CERTIFICATIONS
    ]
    features += [Feature(name, name, F.BETTER[name]) for name in _COUNTS_ZERO_IF_UNKNOWN]
    features.append(Feature("export_markets_count", "export_markets", F.BETTER["export_markets"]))
    return tuple(features)


FEATURES: tuple[Feature, ...] = _build_features()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
MONOTONIC_CST: tuple[int, ...] = tuple(f.monotone for f in FEATURES)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in FEATURES))
#: (n_features,) index of each feature's group in GROUPS.
GROUP_INDEX: np.ndarray = np.array([GROUPS.index(f.group) for f in FEATURES], dtype=np.int64)


def _fields_of(feature: Feature) -> str:
    head = feature.name.split(":", 1)[0]
    return "export_markets" if head == "export_markets_count" else head


#: Profile field each feature is computed from (used to re-encode only what a fix changes).
FEATURE_FIELD: tuple[str, ...] = tuple(_fields_of(f) for f in FEATURES)


#: Feature columns computed from each profile field, in field order of first use.
FIELD_COLUMNS: dict[str, np.ndarray] = {
    name: np.flatnonzero(np.array(FEATURE_FIELD) == name) for name in dict.fromkeys(FEATURE_FIELD)
}
_ONE_HOT = {"sector": F.SECTORS, "legal_form": F.LEGAL_FORMS}


def encode_field(frame: pd.DataFrame | ProfileColumns, name: str) -> np.ndarray:
    """The (n, k) block of feature columns computed from one profile field."""
    if name in _ONE_HOT:
        choices = _ONE_HOT[name]
        codes = codes_of(frame, name, choices)
        return (codes[:, None] == np.arange(len(choices))).astype(np.float64)
    if name == "certifications":
        masks = column(frame, name, np.int64)
        return ((masks[:, None] >> np.arange(len(F.CERTIFICATIONS))) & 1).astype(np.float64)
    if name == "export_markets":
        return F.count_values(column(frame, name, np.int64)).astype(np.float64)[:, None]
    values = column(frame, name, np.float64)
    if name in _COUNTS_ZERO_IF_UNKNOWN:
        missing = np.isnan(values)
        if missing.any():  # (a count is never infinite: the contract bounds it)
            values = np.where(missing, 0.0, values)
    return values[:, None]


#: Fields that are their own feature (numbers and booleans), and those features' columns.
_PLAIN = tuple(
    name
    for name in FIELD_COLUMNS
    if name not in _ONE_HOT and name not in ("certifications", "export_markets")
)
_PLAIN_COLUMNS = np.array([FIELD_COLUMNS[name][0] for name in _PLAIN], dtype=np.intp)
_COUNT_COLUMNS = np.array([FIELD_COLUMNS[name][0] for name in _COUNTS_ZERO_IF_UNKNOWN])


def encode_features(frame: pd.DataFrame | ProfileColumns) -> np.ndarray:
    """Encode canonical profiles as a float64 matrix in ``FEATURE_NAMES`` order (what
    ``encode_field`` gives for each field; the plain fields in one step).

    The matrix is laid out feature by feature (Fortran order): each feature's column is
    written, and read by the model's lookup, as one contiguous run.
    """
    n = len(frame)
    by_feature = np.empty((len(FEATURES), n), dtype=np.float64)
    for name in (*_ONE_HOT, "certifications", "export_markets"):
        by_feature[FIELD_COLUMNS[name]] = encode_field(frame, name).T
    if n:
        by_feature[_PLAIN_COLUMNS] = stacked_numbers(frame, _PLAIN)
        counts = by_feature[_COUNT_COLUMNS]
        missing = np.isnan(counts)
        if missing.any():  # unknown counts are 0 (a count is never infinite)
            by_feature[_COUNT_COLUMNS] = np.where(missing, 0.0, counts)
    return by_feature.T
