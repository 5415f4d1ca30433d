"""Every output of the engine stays the same, byte for byte, on fixed inputs.

The digests in ``tests/data/engine_output_digests.json`` were recorded from the engine;
a change to how scores are computed, explained or serialised must leave them all as they
are. Record them again (``tests/engine_outputs.py --write``) only for an intended change
of the outputs, and say so in the commit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_outputs import (
    CASES,
    DIGESTS,
    FIXED_TIME,
    edge_profiles,
    plain_leaves,
    table_digests,
)

RECORDED = json.loads(DIGESTS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", list(CASES))
def test_outputs_match_the_recorded_digests(scorer, case):
    assert CASES[case](scorer) == RECORDED[case]


def test_records_hold_only_python_values(scorer):
    types = set()
    for profile in edge_profiles():
        for lang in ("en", "id"):
            types.update(plain_leaves(scorer.score_profile(profile, lang=lang)))
    assert types <= {str, int, float, bool, type(None)}


def test_an_empty_frame_scores_to_empty_outputs(scorer):
    from conftest import random_profiles

    table = scorer.score(random_profiles(0), scored_at=FIXED_TIME)
    assert table.to_records() == []
    assert len(table.to_frame()) == 0
    assert set(table_digests(table)) == {"records_en", "records_id", "frame_csv", "frame_dtypes"}


def test_a_json_profile_is_read_as_its_canonical_frame_would_be():
    from scoring.contract.columns import ProfileColumns
    from scoring.contract.frames import canonical_frame, profiles_to_records
    from scoring.contract.schema import ProfileSchema, read_profile

    schema = ProfileSchema()
    for profile in edge_profiles():
        frame = canonical_frame([schema.load(profile)])
        read = read_profile(profile)
        expected = ProfileColumns.of(frame)
        assert read.columns.columns == expected.columns
        for name in expected.columns:
            got, want = read.columns[name], expected[name]
            assert got.dtype == want.dtype, name
            np.testing.assert_array_equal(got, want, err_msg=name)
        (record,) = profiles_to_records(frame)
        assert list(read.record.items()) == list(record.items())
        assert [type(v) for v in read.record.values()] == [type(v) for v in record.values()]


def test_the_score_endpoint_answers_records_as_the_schema_dumps_them(scorer):
    from api.blueprints.scores import as_documented
    from api.http.schemas import ScoreRecordSchema

    schema = ScoreRecordSchema()
    for profile in edge_profiles():
        for lang in ("en", "id"):
            record = scorer.score_profile(profile, lang=lang, scored_at=FIXED_TIME)
            dumped, ours = schema.dump(record), as_documented(record)
            assert json.dumps(ours) == json.dumps(dumped)
