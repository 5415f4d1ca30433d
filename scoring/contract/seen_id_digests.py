"""The ``sme_id``s of a large file read so far, kept as 128-bit digests: 20 bytes an id.

``SeenIds`` keeps every id as a Python string in a dict, about 120 bytes an id: 600 MB
for a file of five million rows. A rescoring run keeps the ids here instead, as two 64-bit
SipHash digests (``pandas.util.hash_array`` with two keys) and the row that gave the id
first, in sorted NumPy runs merged like a binary counter up to ``MAX_RUN`` digests each,
so adding a chunk costs a few binary searches, memory is 20 bytes a distinct id, and no
merge holds two copies of millions of digests at once. Ids within one chunk are compared as
strings; ids of different chunks by their digests, which two different ids share with a
probability of about n^2 / 2^129 (1e-25 for ten million ids).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_KEYS = ("sme-export-id-hi", "sme-export-id-lo")  # 16 characters each, as hash_array wants
#: Digests a run may hold (20 MB): past it runs are kept side by side, each searched.
MAX_RUN = 2**20


@dataclass
class _Run:
    """Digests sorted by ``high``, with the low half and the first row of each."""

    high: np.ndarray
    low: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.high)

    def find(self, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        """The first row of each digest, -1 where this run does not hold it; ``high``
        sorted (binary searches in order touch memory in order)."""
        out = np.full(len(high), -1, dtype=np.int64)
        last = len(self.high) - 1
        if last < 0:
            return out
        start = np.minimum(np.searchsorted(self.high, high), last)
        found = np.flatnonzero(self.high[start] == high)
        hit = found[self.low[start[found]] == low[found]]
        out[hit] = self.rows[start[hit]]
        shared = found[self.high[np.minimum(start[found] + 1, last)] == high[found]]
        for i in shared[start[shared] < last].tolist():  # a shared high half: rare
            stop = np.searchsorted(self.high, high[i], side="right")
            same = np.flatnonzero(self.low[start[i] : stop] == low[i])
            out[i] = self.rows[start[i] + same[0]] if same.size else -1
        return out

    def merged(self, other: _Run) -> _Run:
        at = np.searchsorted(self.high, other.high, side="right")
        return _Run(
            np.insert(self.high, at, other.high),
            np.insert(self.low, at, other.low),
            np.insert(self.rows.astype(np.result_type(self.rows, other.rows)), at, other.rows),
        )


def _row_type(rows: np.ndarray) -> type:
    """uint32 (4 bytes) while row numbers fit in it."""
    return np.uint32 if not rows.size or rows.max() < 2**32 else np.int64


def _digests(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return tuple(pd.util.hash_array(ids, hash_key=key, categorize=False) for key in _KEYS)


class SeenIdDigests:
    """The ``sme_id`` of every row of one file read so far, with the row that gave it
    first; the same answers as ``scoring.contract.seen_ids.SeenIds`` in 20 bytes an id."""

    def __init__(self, first: dict[str, int] | None = None) -> None:
        self._runs: list[_Run] = []
        if first:
            ids = np.array(list(first), dtype=object)
            self._add(*_digests(ids), np.array(list(first.values()), dtype=np.int64))

    def first_rows(self, ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each id (None: not given) the row that gave it first, -1 where this row is
        the first; the ids of this chunk are remembered."""
        out = np.full(len(ids), -1, dtype=np.int64)
        given = np.flatnonzero(pd.notna(np.asarray(ids, dtype=object)))
        if not given.size:
            return out
        rows = np.asarray(rows, dtype=np.int64)[given]
        codes, uniques = pd.factorize(np.asarray(ids, dtype=object)[given])
        _, first_at = np.unique(codes, return_index=True)  # first position of each id
        high, low = _digests(np.asarray(uniques, dtype=object))
        earlier = np.full(len(uniques), -1, dtype=np.int64)
        by_high = np.argsort(high)
        for run in self._runs:
            unseen = by_high[earlier[by_high] < 0]
            earlier[unseen] = run.find(high[unseen], low[unseen])
        new = earlier < 0
        first = np.where(new, rows[first_at], earlier)[codes]
        out[given] = np.where(first != rows, first, -1)
        self._add(high[new], low[new], rows[first_at[new]])
        return out

    def _add(self, high: np.ndarray, low: np.ndarray, rows: np.ndarray) -> None:
        if not len(high):
            return
        order = np.argsort(high, kind="stable")
        rows = rows[order]
        run = _Run(high[order], low[order], rows.astype(_row_type(rows)))
        # a binary counter: runs of about equal size are merged, so there are few runs; but
        # none past MAX_RUN, whose merge would hold two copies of millions of digests at once
        while self._runs and len(self._runs[-1]) <= len(run) <= MAX_RUN - len(self._runs[-1]):
            run = self._runs.pop().merged(run)
        self._runs.append(run)
