"""The canonical profile frame as plain NumPy columns, for the inside of one scoring call.

A pandas column look-up costs tens of microseconds; the rules, the encoder and
the action plan make hundreds of them, which dominates when a frame has one
row (the API's single score). ``ProfileColumns`` holds the same columns as
arrays; everything that reads profiles accepts either it or a DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


class ProfileColumns:
    """Named NumPy columns of equal length; copies share arrays until one is replaced."""

    def __init__(self, data: dict[str, np.ndarray], n: int):
        self._data = data
        self._n = n

    @classmethod
    def of(cls, frame: pd.DataFrame) -> ProfileColumns:
        return cls({name: values.to_numpy() for name, values in frame.items()}, len(frame))

    @property
    def columns(self) -> list[str]:
        return list(self._data)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name]

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        self._data[name] = values

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def copy(self) -> ProfileColumns:
        return ProfileColumns(dict(self._data), self._n)

    def take(self, rows: np.ndarray, names: Iterable[str]) -> ProfileColumns:
        """Copies of the rows ``rows`` of the columns ``names``."""
        return ProfileColumns({name: self._data[name][rows] for name in names}, len(rows))

    def slice(self, start: int, end: int, names: Iterable[str] | None = None) -> ProfileColumns:
        """Rows ``start:end`` of the columns ``names`` (all by default), as views."""
        names = self._data if names is None else names
        return ProfileColumns({name: self._data[name][start:end] for name in names}, end - start)


def column(frame: pd.DataFrame | ProfileColumns, name: str, dtype=None) -> np.ndarray:
    """One column as an array (missing numbers as NaN when ``dtype`` is float)."""
    values = frame[name]
    if isinstance(values, np.ndarray):
        return values if dtype is None or values.dtype == dtype else values.astype(dtype)
    if dtype is np.float64:
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return values.to_numpy(dtype=dtype)


def stacked_numbers(frame: pd.DataFrame | ProfileColumns, names: tuple[str, ...] | list[str]):
    """(len(names), n) float64: the columns ``names`` (numbers and booleans) stacked.

    NumPy arrays of booleans, whole numbers and floats are cast while they are stacked (the
    same values as ``astype``, without an array per column); others through ``column``."""
    if isinstance(frame, ProfileColumns):
        arrays = [frame[name] for name in names]
        if all(isinstance(a, np.ndarray) and a.dtype.kind in "bif" for a in arrays):
            return np.stack(arrays).astype(np.float64, copy=False)
    return np.stack([column(frame, name, np.float64) for name in names])


def matches(frame: pd.DataFrame | ProfileColumns, name: str, values: Iterable[str]):
    """(hit, present): rows whose text value is one of ``values``, and rows with a value."""
    array = column(frame, name, object)
    present = ~pd.isna(array)
    hit = np.zeros(len(array), dtype=bool)
    for value in values:
        hit |= array == value
    return hit & present, present


_SMALL = 64  # rows up to which a dict look-up beats building a pandas Categorical


def codes_of(frame: pd.DataFrame | ProfileColumns, name: str, choices: tuple[str, ...]):
    """Position of each row's text value in ``choices``; -1 for a missing or unknown value."""
    values = column(frame, name, object)
    if len(values) > _SMALL:
        try:  # Arrow's hash look-up: a third of a pandas Categorical's time
            text = pa.array(values, type=pa.string(), from_pandas=True)
        except (pa.ArrowException, UnicodeEncodeError):  # values that are not all text
            return pd.Index(choices).get_indexer(values).astype(np.int64)
        found = pc.index_in(text, value_set=pa.array(choices, type=pa.string()))
        return pc.fill_null(found, -1).to_numpy().astype(np.int64)
    index = {choice: i for i, choice in enumerate(choices)}
    return np.array([index.get(v, -1) if isinstance(v, str) else -1 for v in values], np.int64)
