"""JSON columns through orjson: the text written, values read back equal to those given,
and the standard library's ``json`` for what orjson does not take, on both databases."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api import json_columns
from api.tables import AuditEvent, utcnow

pytest_plugins = ["db_fixtures"]

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@given(JSON_VALUES)
def test_every_json_value_reads_back_as_the_standard_library_reads_it(value):
    written = json_columns.dump(value)
    assert json_columns.load(written) == json.loads(json.dumps(value))
    assert json.loads(written) == json.loads(json.dumps(value))  # valid JSON for any reader


def test_floats_are_written_in_their_shortest_exact_form():
    values = [0.1, 1 / 3, 5e-324, 1.7976931348623157e308, -0.0, 62.5, 1e16]
    read = json_columns.load(json_columns.dump(values))
    assert [v.hex() for v in read] == [v.hex() for v in values]
    assert json_columns.dump({"score": 62.5, "tier": "ready"}) == '{"score":62.5,"tier":"ready"}'


def test_what_orjson_refuses_goes_through_the_standard_library():
    huge = {"n": 2**70, "m": [-(2**80)]}
    assert json_columns.dump(huge) == json.dumps(huge)
    assert json_columns.load(json.dumps(huge)) == huge
    assert json_columns.dump({1: "a", 2.5: "b"}) == '{"1":"a","2.5":"b"}'  # as json.dumps keys


def test_rows_written_with_nan_by_the_standard_library_are_still_read():
    read = json_columns.load('{"a": NaN, "b": [Infinity, -Infinity]}')
    assert math.isnan(read["a"]) and read["b"] == [math.inf, -math.inf]


def test_a_float_that_is_not_a_number_is_written_as_null():
    assert json_columns.dump({"a": math.nan, "b": [math.inf]}) == '{"a":null,"b":[null]}'


def test_numpy_numbers_are_written_as_the_numbers_they_hold():
    import numpy as np

    assert json_columns.dump({"f": np.float64(0.25), "i": np.int64(3)}) == '{"f":0.25,"i":3}'


def test_a_json_column_is_written_and_read_through_the_codec(db_engine):
    details = {"count": 1, "ratio": 0.1, "name": "Kopi Sunda", "nested": {"list": [1, 2.5]}}
    with Session(db_engine) as session:
        session.add(AuditEvent(at=utcnow(), actor="test", action="score", details=details))
        session.commit()
        # PostgreSQL's json type keeps the text as written
        stored = session.execute(text("SELECT CAST(details AS TEXT) FROM audit_events"))
        assert stored.scalar_one() == (
            '{"count":1,"ratio":0.1,"name":"Kopi Sunda","nested":{"list":[1,2.5]}}'
        )
        assert session.scalars(select(AuditEvent.details)).one() == details
