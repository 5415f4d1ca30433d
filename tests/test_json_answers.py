"""JSON answers through orjson (``api.http.json_answers``): Flask's JSON, written faster."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid

import pytest
from flask import Flask, jsonify
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from api.http.json_answers import OrjsonProvider

pytest_plugins = ["api_fixtures"]

# Floats the standard library writes without an exponent (orjson writes the others in
# its own shortest form), and any text, DEL and characters past the BMP included.
PLAIN_FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: x == 0 or 1e-4 <= abs(x) < 1e16
)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | PLAIN_FLOATS
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
ANY_FLOAT = st.floats(allow_nan=False, allow_infinity=False)


def _app() -> Flask:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    return app


@pytest.fixture
def flask_app() -> Flask:
    return _app()


@dataclasses.dataclass
class Point:
    x: int
    label: str


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_answers_are_flasks_json_byte_for_byte(value):
    app = _app()
    with app.app_context():
        body = jsonify(value).get_data()
        assert app.json.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert body == (json.dumps(value, separators=(",", ":")) + "\n").encode()


@settings(max_examples=300, deadline=None)
@given(value=ANY_FLOAT)
def test_any_float_is_written_as_the_same_number(value):
    with _app().app_context():
        assert json.loads(jsonify([value]).get_data()) == [value]


def test_an_answer_is_compact_ascii_in_the_given_order(flask_app):
    with flask_app.app_context():
        response = jsonify({"b": 1, "a": "attachés \x7f 😀", "c": [1.5, None, True]})
    assert response.mimetype == "application/json"
    assert response.get_data() == (
        b'{"b":1,"a":"attach\\u00e9s \\u007f \\ud83d\\ude00","c":[1.5,null,true]}\n'
    )


def test_flask_rules_turn_dates_decimals_uuids_dataclasses_and_markup_into_json(flask_app):
    value = {
        "at": dt.datetime(2026, 12, 5, 8, 30, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 5),
        "amount": decimal.Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "point": Point(3, "é"),
        "html": Markup("<b>x</b>"),
    }
    with flask_app.app_context():
        body = json.loads(jsonify(value).get_data())
    assert body == {
        "at": "Sat, 05 Dec 2026 08:30:00 GMT",
        "day": "Sat, 05 Dec 2026 00:00:00 GMT",
        "amount": "12.50",
        "id": "12345678-1234-5678-1234-567812345678",
        "point": {"x": 3, "label": "é"},
        "html": "<b>x</b>",
    }


def test_what_orjson_does_not_take_is_written_by_flasks_encoder(flask_app):
    with flask_app.app_context():
        big = jsonify({"n": 2**70, 7: "seven"}).get_data()
        assert big == b'{"n":1180591620717411303424,"7":"seven"}\n'
        with pytest.raises(TypeError, match="not JSON serializable"):
            jsonify({"x": object()})


def test_a_float_that_is_not_a_number_is_null(flask_app):
    with flask_app.app_context():
        assert jsonify([float("nan"), float("inf")]).get_data() == b"[null,null]\n"


def test_debug_answers_and_keyword_options_are_indented_by_flasks_encoder(flask_app):
    with flask_app.app_context():
        assert flask_app.json.dumps({"a": [1]}, indent=2) == '{\n  "a": [\n    1\n  ]\n}'
        assert flask_app.json.dumps({"a": "é"}) == '{"a":"\\u00e9"}'
    flask_app.debug = True
    with flask_app.app_context():
        assert jsonify({"a": 1}).get_data() == b'{\n  "a": 1\n}\n'


def test_the_service_answers_with_it(app, client, auth, profile):
    assert isinstance(app.json, OrjsonProvider)
    response = client.post("/api/v1/scores?dry_run=true", json=profile, headers=auth("score"))
    assert response.status_code == 200
    body = response.get_data()
    assert b"attach\\u00e9s" in body  # the English texts of the action plan
    assert body == (json.dumps(response.get_json(), separators=(",", ":")) + "\n").encode()
