"""The ids of a file kept as digests give the answers of the ids kept as strings, whatever
the chunks, however many sorted runs the digests are kept in."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.contract import seen_id_digests
from scoring.contract.seen_id_digests import SeenIdDigests
from scoring.contract.seen_ids import SeenIds

chunks_of_ids = st.lists(
    st.lists(st.one_of(st.none(), st.sampled_from([f"SME-{i}" for i in range(40)])), max_size=30),
    min_size=1,
    max_size=12,
)


def answers(seen, chunks: list[list[str | None]]) -> list[list[int]]:
    out, row = [], 2
    for ids in chunks:
        rows = np.arange(row, row + len(ids), dtype=np.int64)
        row += len(ids)
        out.append(seen.first_rows(np.array(ids, dtype=object), rows).tolist())
    return out


@settings(max_examples=150, deadline=None)
@given(chunks=chunks_of_ids, max_run=st.sampled_from([1, 3, 8, 2**20]))
def test_digests_answer_as_the_ids_themselves(chunks, max_run):
    default, seen_id_digests.MAX_RUN = seen_id_digests.MAX_RUN, max_run
    try:
        digests = SeenIdDigests()
        assert answers(digests, chunks) == answers(SeenIds(), chunks)
    finally:
        seen_id_digests.MAX_RUN = default
    assert all(len(run) <= max(max_run, 30) for run in digests._runs)


def test_runs_stop_growing_at_their_limit(monkeypatch):
    monkeypatch.setattr(seen_id_digests, "MAX_RUN", 100)
    digests = SeenIdDigests()
    for start in range(0, 1_000, 25):
        ids = np.array([f"SME-{i}" for i in range(start, start + 25)], dtype=object)
        digests.first_rows(ids, np.arange(start, start + 25))
    assert sorted(len(run) for run in digests._runs) == [100] * 10
    again = np.array(["SME-5", "SME-999", "SME-1000"], dtype=object)
    assert digests.first_rows(again, np.array([2_000, 2_001, 2_002])).tolist() == [5, 999, -1]
