"""The conditions of many criteria, evaluated together.

Evaluating criterion after criterion costs a few NumPy calls each, which is most of the
work when there is one profile (the API's single score). Most conditions are one test of
one field (``true: has_nib``, ``contains: {certifications: HALAL}``, ``ge: {employees:
5}``), so those of one kind are stacked and tested in one call; the others are evaluated
one by one. The result is exactly each condition's own ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scoring.contract.columns import ProfileColumns, column, stacked_numbers
from scoring.rules.conditions import COMPARISONS, NUMERIC_KINDS, Compare, Condition, Contains, Truth


class ConditionSet:
    """Conditions of several criteria; ``evaluate`` gives one row of flags per condition."""

    def __init__(self, conditions: Sequence[Condition]):
        self.size = len(conditions)
        self._first = conditions[0] if conditions else None
        #: want -> (positions, fields) of ``true:`` / ``false:`` tests
        self._truths: dict[bool, tuple[np.ndarray, list[str]]] = {}
        #: (field, all of the values?) -> (positions, masks) of list tests
        self._contains: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]] = {}
        #: operator -> (positions, fields, thresholds) of number comparisons
        self._compares: dict[str, tuple[np.ndarray, list[str], np.ndarray]] = {}
        self._others: list[tuple[int, Condition]] = []
        truths: dict[bool, list[tuple[int, str]]] = {}
        contains: dict[tuple[str, bool], list[tuple[int, int]]] = {}
        compares: dict[str, list[tuple[int, str, float]]] = {}
        for k, condition in enumerate(conditions):
            if isinstance(condition, Truth):
                truths.setdefault(condition.want, []).append((k, condition.field))
            elif isinstance(condition, Contains):
                key = (condition.field, condition.op != "contains_any")
                contains.setdefault(key, []).append((k, condition.mask))
            elif isinstance(condition, Compare) and condition.kind in NUMERIC_KINDS:
                item = (k, condition.field, condition.value)
                compares.setdefault(condition.op, []).append(item)
            else:
                self._others.append((k, condition))
        for want, items in truths.items():
            self._truths[want] = (_positions(items), [name for _, name in items])
        for key, items in contains.items():
            masks = np.array([mask for _, mask in items], dtype=np.int64)
            self._contains[key] = (_positions(items), masks)
        for op, items in compares.items():
            values = np.array([value for _, _, value in items], dtype=np.float64)
            self._compares[op] = (_positions(items), [name for _, name, _ in items], values)

    def evaluate(self, frame: pd.DataFrame | ProfileColumns) -> np.ndarray:
        """(conditions, n) bool, a new array: row k is condition k's ``evaluate(frame)``."""
        out = np.empty((self.size, len(frame)), dtype=bool)
        if self.size == 1:  # (stacking costs more than it saves)
            out[0] = self._first.evaluate(frame)
            return out
        for want, (positions, names) in self._truths.items():
            flags = _stacked(frame, names, bool)
            out[positions] = flags if want else ~flags
        for (name, every), (positions, masks) in self._contains.items():
            held = column(frame, name, np.int64)[None, :] & masks[:, None]
            out[positions] = held == masks[:, None] if every else held != 0
        for op, (positions, names, thresholds) in self._compares.items():
            values = _stacked(frame, names, np.float64)
            result = COMPARISONS[op](values, thresholds[:, None])
            out[positions] = result & ~np.isnan(values) if op == "ne" else result
        for k, condition in self._others:
            out[k] = condition.evaluate(frame)
        return out


def _positions(items: list[tuple]) -> np.ndarray:
    return np.array([item[0] for item in items], dtype=np.intp)


def _stacked(frame: pd.DataFrame | ProfileColumns, names: list[str], dtype) -> np.ndarray:
    """(len(names), n) the columns ``names`` as ``dtype``."""
    if len(names) == 1:
        return column(frame, names[0], dtype)[None, :]
    if not len(frame):
        return np.empty((len(names), 0), dtype=dtype)
    if dtype is np.float64:
        return stacked_numbers(frame, names)
    return np.stack([column(frame, name, dtype) for name in names])
