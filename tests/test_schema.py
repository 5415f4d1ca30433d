"""The marshmallow schema of one JSON profile, and its agreement with the table validator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import RAISE, ValidationError
from marshmallow import fields as ma
from marshmallow import validate as mv

from scoring.contract import fields as F
from scoring.contract.cells import is_missing, strip_text, whole_number_text
from scoring.contract.frames import canonical_frame, profiles_to_records
from scoring.contract.schema import ProfileSchema, schema_errors_to_list, validate_profile
from scoring.contract.validate import validate_records
from scoring.errors import ProfileValidationError

YEAR = F.current_year()
SECTORS = ", ".join(F.SECTORS)
MARKETS = ", ".join(F.MARKETS)

PROFILE = {
    "sme_id": "BDG-001",
    "name": "Batik Sari",
    "sector": "apparel",
    "year_established": 2015,
    "employees": 12,
    "annual_revenue_idr": 850_000_000,
    "has_nib": True,
    "has_npwp": True,
}


def errors_of(data):
    with pytest.raises(ProfileValidationError) as caught:
        validate_profile(data)
    return caught.value.errors


def loaded(data):
    return profiles_to_records(validate_profile(data).profiles)[0]


# --- the schema class ---------------------------------------------------------------------


def test_schema_fields_follow_the_contract_table():
    schema = ProfileSchema()
    assert list(schema.fields) == list(F.ALL_COLUMNS)
    assert schema.unknown == RAISE
    for spec in F.FIELDS:
        field = schema.fields[spec.name]
        assert field.required is spec.required, spec.name
        assert field.metadata == {"description": spec.help}, spec.name


def test_schema_field_types_and_validators_for_openapi():
    fields = ProfileSchema().fields
    assert isinstance(fields["sme_id"], ma.String)
    assert isinstance(fields["employees"], ma.Integer)
    assert isinstance(fields["annual_revenue_idr"], ma.Float)
    assert isinstance(fields["has_nib"], ma.Boolean)
    assert isinstance(fields["certifications"], ma.List)
    (one_of,) = fields["sector"].validators
    assert isinstance(one_of, mv.OneOf) and tuple(one_of.choices) == F.SECTORS
    (item_one_of,) = fields["target_markets"].inner.validators
    assert tuple(item_one_of.choices) == F.MARKETS
    (employees,) = fields["employees"].validators
    assert isinstance(employees, mv.Range) and (employees.min, employees.max) == (0, 100_000)
    assert fields["year_established"].validators[0].max == YEAR
    length, regexp = fields["sme_id"].validators
    assert length.max == 64 and regexp.regex.pattern == F.SME_ID_PATTERN


def test_year_bound_follows_the_calendar(monkeypatch):
    monkeypatch.setattr(F, "current_year", lambda: YEAR + 5)
    assert loaded({**PROFILE, "year_established": YEAR + 5})["year_established"] == YEAR + 5
    assert errors_of({**PROFILE, "year_established": YEAR + 6}) == [
        {"field": "year_established", "message": f"Must be between 1900 and {YEAR + 5}."}
    ]


# --- accepted forms ---------------------------------------------------------------------


def test_valid_profile_gives_a_batch_of_one():
    batch = validate_profile({**PROFILE, "owner_name": " Ibu Sari ", "has_website": "Ya"})
    assert (batch.received, batch.scored, batch.rejected) == (1, 1, 0)
    assert batch.row_numbers.tolist() == [1]
    assert batch.labels is None
    assert batch.personal.to_dict("records") == [
        {
            "owner_gender": None,
            "owner_name": "Ibu Sari",
            "contact_phone": None,
            "contact_email": None,
            "district": None,
        }
    ]
    pd.testing.assert_frame_equal(
        batch.profiles, canonical_frame([{**PROFILE, "has_website": True}])
    )


def test_words_text_numbers_and_case_are_read_as_in_files():
    got = loaded(
        {
            **PROFILE,
            "sector": " Food_Beverage ",
            "employees": 12.0,
            "annual_revenue_idr": "1,500,000.50",
            "has_nib": "Ya",
            "has_npwp": "tidak",
            "has_website": 1,
            "certifications": "halal; sni",
            "target_markets": ["eu", " GCC "],
        }
    )
    assert (got["sector"], got["employees"], got["annual_revenue_idr"]) == (
        "food_beverage",
        12,
        1_500_000.5,
    )
    assert (got["has_nib"], got["has_npwp"], got["has_website"]) == (True, False, True)
    assert (got["certifications"], got["target_markets"]) == (["SNI", "HALAL"], ["EU", "GCC"])


def test_left_out_booleans_are_assumed():
    batch = validate_profile({**PROFILE, "has_website": False, "knows_incoterms": None})
    assumed = batch.assumed.iloc[0].to_dict()
    assert list(assumed) == list(F.ASSUMED_FIELDS)
    assert {name for name, v in assumed.items() if v} == set(F.OPTIONAL_BOOL_FIELDS) - {
        "has_website"
    }


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sme_id", "-x", "Must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit."),
        ("name", True, "Not a valid string."),
        ("name", 2.5, "Not a valid string."),
        ("name", "n" * 201, "Longer than maximum length 200."),
        ("sector", "foods", f"Unknown value 'foods'. Must be one of: {SECTORS}."),
        ("hs_code", "901", "Must be 4 to 10 digits."),
        ("year_established", 1899, f"Must be between 1900 and {YEAR}."),
        ("employees", 3.5, "Must be a whole number."),
        ("employees", "3,5", "Not a valid integer."),
        ("employees", True, "Not a valid integer."),
        ("employees", [3], "Not a valid integer."),
        ("annual_revenue_idr", "lots", "Not a valid number."),
        ("annual_revenue_idr", -1, "Must be between 0 and 1000000000000000."),
        ("capacity_utilization", 1.01, "Must be between 0 and 1."),
        ("has_nib", 2, "Not a valid boolean."),
        ("has_nib", "maybe", "Not a valid boolean."),
        ("has_website", [True], "Not a valid boolean."),
        ("certifications", 5, "Not a valid list."),
        ("certifications", {"HALAL": True}, "Not a valid list."),
        ("certifications", ["HALAL", 1.5], "Not a valid string."),
        ("certifications", ["HALAL", "halal"], "Duplicate values: HALAL."),
        (
            "export_markets",
            ["MARS"],
            f"Unknown value 'MARS'. Must be one of: {MARKETS}.",
        ),
        (
            "owner_gender",
            "x",
            "Unknown value (not shown: personal data). Must be one of: female, male, undisclosed.",
        ),
    ],
)
def test_field_error_message(field, value, message):
    assert errors_of({**PROFILE, field: value}) == [{"field": field, "message": message}]


def test_hs_code_too_long_breaks_length_and_pattern():
    assert errors_of({**PROFILE, "hs_code": "1" * 11}) == [
        {"field": "hs_code", "message": "Longer than maximum length 10."},
        {"field": "hs_code", "message": "Must be 4 to 10 digits."},
    ]


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_required_fields_missing(blank):
    assert errors_of({"sme_id": blank}) == [
        {"field": name, "message": "Missing data for required field."}
        for name in F.ALL_COLUMNS
        if F.FIELD_BY_NAME[name].required
    ]


def test_unknown_field_is_an_error_with_the_others():
    assert errors_of({**PROFILE, "employes": 3, "employees": -1}) == [
        {"field": "employees", "message": "Must be between 0 and 100000."},
        {"field": "employes", "message": "Unknown field."},
    ]


@pytest.mark.parametrize("body", [[PROFILE], "profile", 3, None])
def test_non_object_body(body):
    assert errors_of(body) == [{"field": "_schema", "message": "Invalid input type."}]


@pytest.mark.parametrize(
    ("has_exported", "export_years", "ok"),
    [(False, 2, False), (None, 2, False), ("tidak", "2", False), (True, 2, True), (False, 0, True)],
)
def test_export_years_must_be_zero_without_exports(has_exported, export_years, ok):
    data = {**PROFILE, "has_exported": has_exported, "export_years": export_years}
    if ok:
        validate_profile(data)
    else:
        assert errors_of(data) == [
            {"field": "export_years", "message": "Must be 0 when has_exported is false."}
        ]


def test_cross_field_rule_is_reported_with_field_errors():
    data = {**PROFILE, "employees": -1, "has_exported": False, "export_years": 3}
    assert [e["field"] for e in errors_of(data)] == ["employees", "export_years"]


def test_all_errors_at_once():
    data = {
        **PROFILE,
        "sme_id": "?",
        "sector": "batik",
        "employees": 1.5,
        "has_npwp": None,
        "target_markets": ["EU", "MOON", "US", "EU"],
        "colour": "red",
    }
    assert errors_of(data) == [
        {
            "field": "sme_id",
            "message": "Must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.",
        },
        {"field": "sector", "message": f"Unknown value 'batik'. Must be one of: {SECTORS}."},
        {"field": "employees", "message": "Must be a whole number."},
        {"field": "has_npwp", "message": "Missing data for required field."},
        {
            "field": "target_markets",
            "message": f"Unknown value 'MOON'. Must be one of: {MARKETS}.",
        },
        {"field": "colour", "message": "Unknown field."},
    ]


def test_schema_errors_to_list_flattens_list_items():
    messages = {
        "_schema": ["Invalid input type."],
        "zzz": ["Unknown field."],
        "certifications": {0: ["Not a valid string."], 3: ["Unknown value 'X'."]},
        "sme_id": ["a", "b"],
    }
    assert schema_errors_to_list(messages) == [
        {"field": "sme_id", "message": "a"},
        {"field": "sme_id", "message": "b"},
        {"field": "certifications", "message": "Not a valid string."},
        {"field": "certifications", "message": "Unknown value 'X'."},
        {"field": "zzz", "message": "Unknown field."},
        {"field": "_schema", "message": "Invalid input type."},
    ]
    assert schema_errors_to_list(["oops"]) == [{"field": "_schema", "message": "oops"}]


def test_schema_load_raises_marshmallow_errors_for_the_api():
    with pytest.raises(ValidationError) as caught:
        ProfileSchema().load({**PROFILE, "employees": "x"})
    assert caught.value.messages == {"employees": ["Not a valid integer."]}


# --- the two validators agree ---------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["", " ", "Ya", "tidak", "1,5", "1.500", "3.0", "HALAL; sni", "EU,eu"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)


def _variants(value: str):
    return st.sampled_from([value, value.upper(), value.lower(), f" {value.title()} "])


def _valid(spec: F.Field):
    """JSON-native values a profile may carry for the field, in every accepted form."""
    if spec.kind is F.Kind.STRING:
        if spec.pattern:
            return st.from_regex(spec.pattern, fullmatch=True)
        return st.text(min_size=1, max_size=spec.max_length)
    if spec.kind is F.Kind.ENUM:
        return st.sampled_from(spec.choices).flatmap(_variants)
    if spec.kind in (F.Kind.INT, F.Kind.FLOAT):
        low, high = int(spec.min), int(min(spec.max_value, 1e12))
        ints = st.integers(low, high)
        forms = [ints, ints.map(float), ints.map(str), ints.map(lambda v: f"{v:,}")]
        if spec.kind is F.Kind.FLOAT:
            forms.append(st.floats(spec.min, spec.max_value))
        return st.one_of(forms)
    if spec.kind is F.Kind.BOOL:
        words = sorted(F.TRUE_WORDS | F.FALSE_WORDS)
        return st.one_of(
            st.booleans(),
            st.sampled_from([0, 1, 0.0, 1.0]),
            st.sampled_from(words).flatmap(_variants),
        )
    values = st.lists(st.sampled_from(spec.choices), unique=True, max_size=4)
    return st.one_of(values, values.map("; ".join), values.map(lambda v: [x.lower() for x in v]))


def _mistake(spec: F.Field):
    """Values that break the field's rule, and anything JSON can carry."""
    wrong = [JSON_VALUES, st.sampled_from([None, "", "   "])]
    if spec.kind in (F.Kind.INT, F.Kind.FLOAT):
        high = spec.max_value
        wrong += [
            st.integers(int(high) + 1, int(high) + 10**6),
            st.integers(-(10**6), int(spec.min) - 1),
            st.just(3.5),
            st.just("3,5"),
        ]
    if spec.kind in (F.Kind.ENUM, F.Kind.ENUM_LIST):
        wrong.append(st.just("zzz"))
    if spec.kind is F.Kind.ENUM_LIST:
        wrong.append(st.sampled_from(spec.choices).map(lambda c: [c, c.lower()]))
    if spec.kind is F.Kind.STRING:
        wrong.append(st.just("x" * ((spec.max_length or 10) + 1)))
    return st.one_of(wrong)


@st.composite
def json_profiles(draw):
    rate = draw(st.sampled_from([0, 0, 2, 10, 40]))  # percent of fields given a mistake
    out = {}
    for spec in F.FIELDS:
        roll = draw(st.integers(0, 99))
        if roll < rate:
            out[spec.name] = draw(_mistake(spec))
        elif spec.required or roll % 3:
            out[spec.name] = draw(_valid(spec))
    if draw(st.booleans()) and out.get("has_exported") not in (True, 1, "ya", "true"):
        out["export_years"] = 0
    return out


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def _id_key(profile) -> tuple:
    """What the table validator compares ``sme_id``s on; unique for a profile without one."""
    value = profile.get("sme_id") if isinstance(profile, dict) else None
    if isinstance(value, str) and not is_missing(value):
        return ("id", strip_text(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = whole_number_text(float(value))
        if text is not None:
            return ("id", text)
    return ("none", id(profile))


# A repeated sme_id is a rule of files and arrays only (one profile cannot repeat itself),
# so the compared arrays hold distinct ids; tests/test_office_spreadsheets.py pins that rule.
@given(st.lists(json_profiles(), min_size=1, max_size=4, unique_by=_id_key))
def test_schema_and_table_validator_agree(profiles):
    table = validate_records(profiles)
    assert table.received == table.scored + table.rejected == len(profiles)
    rejected = {e.row: e.errors for e in table.errors}
    position = 0
    for row, data in enumerate(profiles, start=1):
        try:
            one = validate_profile(data)
        except ProfileValidationError as error:
            assert rejected.get(row) == error.errors, data
            continue
        assert row not in rejected, (data, rejected.get(row))
        assert table.row_numbers[position] == row
        for name in ("profiles", "personal", "assumed"):
            expected = getattr(table, name).iloc[[position]].reset_index(drop=True)
            pd.testing.assert_frame_equal(getattr(one, name), expected)
        position += 1
    assert position == table.scored


def test_unknown_keys_refuse_the_whole_array_but_one_profile_gets_field_errors():
    data = {**PROFILE, "sektor": "apparel"}
    assert errors_of(data) == [{"field": "sektor", "message": "Unknown field."}]
    with pytest.raises(ValueError, match="'sektor' \\(did you mean 'sector'\\?\\)"):
        validate_records([data])


def test_both_validators_read_the_full_profile_the_same_way():
    full = {
        **PROFILE,
        "hs_code": "6109",
        "legal_form": "CV",
        "certifications": ["SNI", "OEKOTEX"],
        "export_markets": "ASEAN",
        "has_exported": "ya",
        "export_years": "2",
        "owner_gender": "Female",
    }
    one = validate_profile(full)
    table = validate_records([full])
    pd.testing.assert_frame_equal(one.profiles, table.profiles)
    pd.testing.assert_frame_equal(one.personal, table.personal)
    assert one.profiles["certifications"].tolist() == [
        F.list_to_mask("certifications", ["SNI", "OEKOTEX"])
    ]
    assert np.array_equal(one.row_numbers, table.row_numbers)
