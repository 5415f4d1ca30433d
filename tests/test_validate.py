"""The vectorised table validator: every rule of SPEC section 3, file forms, the canonical frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import random_profiles
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.contract import fields as F
from scoring.contract.frames import canonical_frame, profiles_to_records
from scoring.contract.validate import RowError, validate_records, validate_table
from scoring.errors import FileFormatError
from scoring.files.table import RawTable

YEAR = F.current_year()
SECTORS = ", ".join(F.SECTORS)
CERTS = ", ".join(F.CERTIFICATIONS)
MARKETS = ", ".join(F.MARKETS)

#: A profile as a semicolon CSV from an Indonesian office carries it: all text.
CSV_ROW = {
    "sme_id": "BDG-001",
    "name": "Batik Sari",
    "sector": "apparel",
    "year_established": "2015",
    "employees": "12",
    "annual_revenue_idr": "850000000",
    "has_nib": "Ya",
    "has_npwp": "Ya",
}

#: The canonical contract dict of a complete profile.
FULL_PROFILE = {
    "sme_id": "BDG-002",
    "name": "Keripik Tempe Bu Ani",
    "sector": "food_beverage",
    "hs_code": "200899",
    "legal_form": "cv",
    "year_established": 2009,
    "employees": 25,
    "annual_revenue_idr": 1_500_000.5,
    "monthly_capacity_units": 12_000,
    "capacity_utilization": 0.75,
    "has_quality_control": True,
    "can_supply_continuously": True,
    "has_nib": True,
    "has_npwp": True,
    "trademark_registered": False,
    "certifications": ["HALAL", "PIRT"],
    "has_exported": True,
    "export_years": 3,
    "export_value_usd_last_year": 23_000.0,
    "export_markets": ["ASEAN", "AU"],
    "target_markets": ["JP", "GCC", "ASEAN"],
    "foreign_buyer_contacts": 4,
    "trade_fairs_last_3y": 2,
    "english_capable_staff": 1,
    "completed_export_training": True,
    "has_website": True,
    "has_english_catalog": False,
    "on_b2b_marketplace": True,
    "social_media_active": True,
    "export_packaging": False,
    "knows_incoterms": True,
    "has_export_pricing": False,
    "has_logistics_partner": False,
    "access_to_finance": True,
}


def table(rows, *, decimal=".", first_row_number=2, row_numbers=None, source="cohort.csv"):
    frame = pd.DataFrame([dict(r) for r in rows], dtype=object)
    return RawTable(frame, first_row_number, decimal, source, row_numbers)


def csv_row(**changes):
    row = dict(CSV_ROW)
    row.update(changes)
    return row


def only_errors(batch):
    assert len(batch.errors) == 1 and batch.scored == 0
    return batch.errors[0].errors


def record(batch):
    assert batch.errors == []
    return profiles_to_records(batch.profiles)[0]


# --- accepted forms -----------------------------------------------------------------------


def test_text_row_becomes_canonical_profile():
    batch = validate_table(table([csv_row(annual_revenue_idr="850.000.000")], decimal=","))
    assert record(batch) == {
        **{name: None for name in F.PROFILE_COLUMNS},
        **{name: False for name in F.BOOL_FIELDS},
        **{name: [] for name in F.LIST_FIELDS},
        "sme_id": "BDG-001",
        "name": "Batik Sari",
        "sector": "apparel",
        "year_established": 2015,
        "employees": 12,
        "annual_revenue_idr": 850_000_000.0,
        "has_nib": True,
        "has_npwp": True,
    }
    assert batch.row_numbers.tolist() == [2]
    assert batch.received == 1 and batch.scored == 1 and batch.rejected == 0


def test_indonesian_locale_values_are_read():
    row = csv_row(
        annual_revenue_idr="1.500.000,50",
        capacity_utilization="0,75",
        has_nib="Ya",
        has_npwp="Tidak",
        trademark_registered="TIDAK ADA",
        sector=" Food_Beverage ",
        certifications="halal; sni",
        target_markets="eu;Gcc",
        export_value_usd_last_year="23.000",
    )
    got = record(validate_table(table([row], decimal=",")))
    assert got["annual_revenue_idr"] == 1_500_000.5
    assert got["capacity_utilization"] == 0.75
    assert (got["has_nib"], got["has_npwp"], got["trademark_registered"]) == (True, False, False)
    assert got["sector"] == "food_beverage"
    assert got["certifications"] == ["SNI", "HALAL"]
    assert got["target_markets"] == ["EU", "GCC"]
    assert got["export_value_usd_last_year"] == 23_000.0
    profiles = validate_table(table([row], decimal=",")).profiles
    assert profiles["certifications"].tolist() == [F.bit("certifications", "HALAL") | 1]


def test_dot_locale_reads_comma_thousands():
    row = csv_row(annual_revenue_idr="1,500,000.50", capacity_utilization=".5", employees="1,200")
    got = record(validate_table(table([row], decimal=".")))
    assert (got["annual_revenue_idr"], got["capacity_utilization"]) == (1_500_000.5, 0.5)
    assert got["employees"] == 1200


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("FALSE", False), ("1", True), ("0", False), ("yes", True), ("n", False)],
)
def test_boolean_words(text, expected):
    assert record(validate_table(table([csv_row(has_website=text)])))["has_website"] is expected


def test_enum_values_ignore_case_spaces_and_separators():
    row = csv_row(legal_form=" PT ", certifications="ISO 9001, oeko-tex", owner_gender="Female")
    batch = validate_table(table([row]))
    got = record(batch)
    assert (got["legal_form"], got["certifications"]) == ("pt", ["ISO9001", "OEKOTEX"])
    assert batch.personal["owner_gender"].tolist() == ["female"]


def test_native_values_from_excel_json_and_parquet():
    row = {
        "sme_id": 1001,  # a spreadsheet number in a text column
        "name": "Rotan Jaya",
        "sector": "FURNITURE_WOOD",
        "year_established": 2001.0,
        "employees": np.int64(40),
        "annual_revenue_idr": 2.5e9,
        "monthly_capacity_units": np.nan,
        "has_nib": True,
        "has_npwp": np.bool_(True),
        "has_website": 1,
        "certifications": np.array(["SVLK", "FSC"], dtype=object),
        "target_markets": ["EU", "US"],
        "export_markets": [],
    }
    got = record(validate_table(table([row])))
    assert got["sme_id"] == "1001"
    assert (got["sector"], got["year_established"], got["employees"]) == (
        "furniture_wood",
        2001,
        40,
    )
    assert got["monthly_capacity_units"] is None
    assert (got["has_npwp"], got["has_website"]) == (True, True)
    assert got["certifications"] == ["SVLK", "FSC"]
    assert (got["target_markets"], got["export_markets"]) == (["EU", "US"], [])


def test_typed_columns_as_parquet_gives_them():
    frame = pd.DataFrame(
        {
            "sme_id": pd.Series(["A1", "A2"], dtype="string"),
            "name": ["x", "y"],
            "sector": pd.Categorical(["apparel", "textile"]),
            "year_established": np.array([2000, 2010], dtype=np.int64),
            "employees": pd.array([1, 2], dtype="Int64"),
            "annual_revenue_idr": [1.0, 2.0],
            "has_nib": np.array([True, False]),
            "has_npwp": pd.array([True, None], dtype="boolean"),
            "export_years": [0.0, np.nan],
        }
    )
    batch = validate_table(RawTable(frame, 1, ".", "c.parquet"))
    assert batch.profiles["sector"].tolist() == ["apparel"]
    assert batch.errors == [
        RowError(2, "A2", [{"field": "has_npwp", "message": "Missing data for required field."}])
    ]


# --- one error per field problem, exact messages ------------------------------------------

FIELD_ERRORS = [
    ("sme_id", "-BDG", "Must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit."),
    ("sme_id", "BDG 001", "Must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit."),
    ("sme_id", "True", None),  # text is text
    ("name", "x" * 201, "Longer than maximum length 200."),
    ("sector", "foods", f"Unknown value 'foods'. Must be one of: {SECTORS}."),
    ("hs_code", "09-01", "Must be 4 to 10 digits."),
    ("hs_code", "123", "Must be 4 to 10 digits."),
    (
        "legal_form",
        "llc",
        "Unknown value 'llc'. Must be one of: individual, cv, pt, cooperative, other.",
    ),
    ("year_established", "1899", f"Must be between 1900 and {YEAR}."),
    ("year_established", str(YEAR + 1), f"Must be between 1900 and {YEAR}."),
    ("year_established", "sejak 2010", "Not a valid integer."),
    ("employees", "3.5", "Must be a whole number."),
    ("employees", "-1", "Must be between 0 and 100000."),
    ("employees", "100001", "Must be between 0 and 100000."),
    ("annual_revenue_idr", "banyak", "Not a valid number."),
    ("annual_revenue_idr", "0,5", "Not a valid number."),  # a decimal comma in a dot file
    ("annual_revenue_idr", "2e15", "Must be between 0 and 1000000000000000."),
    ("monthly_capacity_units", "-5", "Must be between 0 and 1000000000000."),
    ("capacity_utilization", "1.5", "Must be between 0 and 1."),
    ("capacity_utilization", "75 persen", "Not a valid number."),
    ("has_quality_control", "mungkin", "Not a valid boolean."),
    ("can_supply_continuously", "2", "Not a valid boolean."),
    ("has_nib", "ok", "Not a valid boolean."),
    ("has_npwp", "-", "Missing data for required field."),
    ("trademark_registered", "yes please", "Not a valid boolean."),
    ("certifications", "HALAL;ISO9000", f"Unknown value 'ISO9000'. Must be one of: {CERTS}."),
    ("certifications", "HALAL; halal", "Duplicate values: HALAL."),
    ("has_exported", "sometimes", "Not a valid boolean."),
    ("export_years", "-1", "Must be between 0 and 200."),
    ("export_value_usd_last_year", "-0.5", "Must be between 0 and 10000000000000."),
    ("export_markets", "MARS", f"Unknown value 'MARS'. Must be one of: {MARKETS}."),
    ("target_markets", "EU,EU,US,US", "Duplicate values: EU, US."),
    ("foreign_buyer_contacts", "1000001", "Must be between 0 and 1000000."),
    ("trade_fairs_last_3y", "2.5", "Must be a whole number."),
    ("english_capable_staff", "many", "Not a valid integer."),
    ("completed_export_training", "x", "Not a valid boolean."),
    ("has_website", "www", "Not a valid boolean."),
    ("has_english_catalog", "EN", "Not a valid boolean."),
    ("on_b2b_marketplace", "alibaba", "Not a valid boolean."),
    ("social_media_active", "ig", "Not a valid boolean."),
    ("export_packaging", "box", "Not a valid boolean."),
    ("knows_incoterms", "FOB", "Not a valid boolean."),
    ("has_export_pricing", "CIF", "Not a valid boolean."),
    ("has_logistics_partner", "DHL", "Not a valid boolean."),
    ("access_to_finance", "KUR", "Not a valid boolean."),
    (
        "owner_gender",
        "m",
        "Unknown value (not shown: personal data). Must be one of: female, male, undisclosed.",
    ),
    ("owner_name", "n" * 201, "Longer than maximum length 200."),
    ("contact_phone", "0" * 51, "Longer than maximum length 50."),
    ("contact_email", "e" * 255, "Longer than maximum length 254."),
    ("district", "d" * 101, "Longer than maximum length 100."),
]


@pytest.mark.parametrize(("field", "value", "message"), FIELD_ERRORS)
def test_field_error_message(field, value, message):
    batch = validate_table(table([csv_row(**{field: value})]))
    if message is None:
        assert batch.errors == []
    else:
        sme_id = value if field == "sme_id" else "BDG-001"
        assert batch.errors == [RowError(2, sme_id, [{"field": field, "message": message}])]


def test_every_field_has_an_error_case():
    assert {field for field, _, message in FIELD_ERRORS if message} == set(F.ALL_COLUMNS)


def test_too_long_id_breaks_length_and_pattern():
    assert only_errors(validate_table(table([csv_row(sme_id="A" * 65)]))) == [
        {"field": "sme_id", "message": "Longer than maximum length 64."},
        {
            "field": "sme_id",
            "message": "Must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.",
        },
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("employees", 3.5, "Must be a whole number."),
        ("employees", True, "Not a valid integer."),
        ("annual_revenue_idr", float("inf"), "Not a valid number."),
        ("annual_revenue_idr", [1], "Not a valid number."),
        ("name", 2.5, "Not a valid string."),
        ("name", ["a"], "Not a valid string."),
        ("sector", {"a": 1}, "Not a valid string."),
        ("has_nib", 2, "Not a valid boolean."),
        ("certifications", 5, "Not a valid list."),
        ("certifications", ["HALAL", 1.5], "Not a valid string."),
        ("certifications", ["HALAL", 9001], f"Unknown value '9001'. Must be one of: {CERTS}."),
    ],
)
def test_native_value_of_wrong_type(field, value, message):
    batch = validate_table(table([csv_row(**{field: value})]))
    assert batch.errors == [RowError(2, "BDG-001", [{"field": field, "message": message}])]


def test_whole_float_is_an_integer_and_blank_list_items_are_dropped():
    row = csv_row(employees=3.0, certifications=["HALAL", " ", None], export_markets=";")
    got = record(validate_table(table([row])))
    assert (got["employees"], got["certifications"], got["export_markets"]) == (3, ["HALAL"], [])


@pytest.mark.parametrize("field", [f.name for f in F.FIELDS if f.required])
@pytest.mark.parametrize("blank", [None, "", "   ", float("nan")])
def test_required_field_left_blank(field, blank):
    errors = only_errors(validate_table(table([csv_row(**{field: blank})])))
    assert errors == [{"field": field, "message": "Missing data for required field."}]


def test_required_column_missing_entirely_fails_every_row():
    rows = [csv_row(sme_id="A"), csv_row(sme_id="B")]
    for row in rows:
        del row["has_npwp"]
    batch = validate_table(table(rows))
    missing = [{"field": "has_npwp", "message": "Missing data for required field."}]
    assert batch.errors == [RowError(2, "A", missing), RowError(3, "B", missing)]


def test_unreadable_sme_id_is_none_in_the_report():
    batch = validate_table(table([csv_row(sme_id=" "), csv_row(sme_id=["A"])]))
    assert [(e.row, e.sme_id) for e in batch.errors] == [(2, None), (3, None)]


# --- cross-field rule, all errors at once, assumed booleans -------------------------------


@pytest.mark.parametrize(
    ("has_exported", "export_years", "ok"),
    [
        ("Tidak", "2", False),
        (None, "2", False),  # left out counts as false
        ("Ya", "2", True),
        ("Tidak", "0", True),
        ("Tidak", None, True),
        ("maybe", "2", None),  # only the boolean is wrong
    ],
)
def test_export_years_must_be_zero_without_exports(has_exported, export_years, ok):
    row = csv_row(has_exported=has_exported, export_years=export_years)
    batch = validate_table(table([row]))
    if ok:
        assert batch.errors == []
    elif ok is None:
        assert only_errors(batch) == [{"field": "has_exported", "message": "Not a valid boolean."}]
    else:
        assert only_errors(batch) == [
            {"field": "export_years", "message": "Must be 0 when has_exported is false."}
        ]


def test_all_errors_of_a_row_are_reported_at_once():
    row = csv_row(
        sector="batik",
        employees="dua belas",
        has_nib=None,
        certifications="HALAL;HALAL",
        export_years="4",
    )
    assert only_errors(validate_table(table([row]))) == [
        {"field": "sector", "message": f"Unknown value 'batik'. Must be one of: {SECTORS}."},
        {"field": "employees", "message": "Not a valid integer."},
        {"field": "has_nib", "message": "Missing data for required field."},
        {"field": "certifications", "message": "Duplicate values: HALAL."},
        {"field": "export_years", "message": "Must be 0 when has_exported is false."},
    ]


def test_left_out_booleans_are_false_and_assumed():
    rows = [
        csv_row(has_website="Ya", has_exported="Tidak"),
        csv_row(sme_id="B", knows_incoterms=""),
    ]
    batch = validate_table(table(rows))
    assert list(batch.assumed.columns) == list(F.ASSUMED_FIELDS)
    assert batch.assumed.dtypes.unique().tolist() == [np.dtype(bool)]
    assert not batch.assumed[list(F.NUMBER_FIELDS)].any(axis=None)
    first, second = batch.assumed[list(F.OPTIONAL_BOOL_FIELDS)].to_dict("records")
    assert {k for k, v in first.items() if not v} == {"has_website", "has_exported"}
    assert {k for k, v in second.items() if not v} == set()
    assert batch.profiles["knows_incoterms"].tolist() == [False, False]
    assert batch.profiles["has_website"].tolist() == [True, False]


# --- a mixed file --------------------------------------------------------------------------


def test_mixed_file_reports_bad_rows_with_row_numbers_and_scores_the_rest():
    rows = [
        csv_row(sme_id="A-1"),
        csv_row(sme_id="A-2", employees="-3"),
        csv_row(sme_id="A-3"),
        csv_row(sme_id="", sector="spices", has_npwp="perhaps"),
        csv_row(sme_id="A-5", certifications="HALAL;BPOM"),
    ]
    batch = validate_table(table(rows, decimal=","))
    assert batch.errors == [
        RowError(3, "A-2", [{"field": "employees", "message": "Must be between 0 and 100000."}]),
        RowError(
            5,
            None,
            [
                {"field": "sme_id", "message": "Missing data for required field."},
                {
                    "field": "sector",
                    "message": f"Unknown value 'spices'. Must be one of: {SECTORS}.",
                },
                {"field": "has_npwp", "message": "Not a valid boolean."},
            ],
        ),
    ]
    assert batch.profiles["sme_id"].tolist() == ["A-1", "A-3", "A-5"]
    assert batch.row_numbers.tolist() == [2, 4, 6]
    assert batch.profiles.index.equals(pd.RangeIndex(3))
    assert (batch.received, batch.scored, batch.rejected) == (5, 3, 2)
    assert batch.received == batch.scored + batch.rejected
    assert batch.errors[1].to_dict() == {
        "row": 5,
        "sme_id": None,
        "errors": batch.errors[1].errors,
    }


def test_explicit_row_numbers_are_used():
    rows = [csv_row(sme_id="A"), csv_row(sme_id="B", employees="x"), csv_row(sme_id="C")]
    batch = validate_table(table(rows, row_numbers=np.array([2, 5, 9], dtype=np.int64)))
    assert [e.row for e in batch.errors] == [5]
    assert batch.row_numbers.tolist() == [2, 9]


def test_chunk_numbering_starts_at_first_row_number():
    rows = [csv_row(sme_id="A", employees="x"), csv_row(sme_id="B")]
    batch = validate_table(table(rows, first_row_number=10_002))
    assert [e.row for e in batch.errors] == [10_002]
    assert batch.row_numbers.tolist() == [10_003]


# --- columns ----------------------------------------------------------------------------


def test_unknown_columns_are_refused_with_suggestions():
    row = csv_row(sectr="apparel", colour="red", has_npwp_="Ya")
    with pytest.raises(FileFormatError) as caught:
        validate_table(table([row]))
    assert str(caught.value) == (
        "cohort.csv: unknown columns 'sectr' (did you mean 'sector'?), 'colour', "
        "'has_npwp_' (did you mean 'has_npwp'?)."
    )


def test_label_column_is_unknown_unless_required():
    rows = [csv_row(exported_within_12m="Ya")]
    with pytest.raises(FileFormatError, match="'exported_within_12m' \\(the training label"):
        validate_table(table(rows))


def test_labels_when_required():
    rows = [
        csv_row(sme_id="A", exported_within_12m="Ya"),
        csv_row(sme_id="B", exported_within_12m=None),
        csv_row(sme_id="C", exported_within_12m="0"),
    ]
    batch = validate_table(table(rows), require_label=True)
    assert batch.labels.dtype == bool and batch.labels.tolist() == [True, False]
    assert batch.errors == [
        RowError(
            3,
            "B",
            [{"field": "exported_within_12m", "message": "Missing data for required field."}],
        )
    ]
    assert F.LABEL not in batch.profiles


def test_repeated_columns_are_refused():
    frame = pd.DataFrame([["A", "B"]], columns=["sme_id", "sme_id"])
    with pytest.raises(FileFormatError, match="repeated columns 'sme_id'"):
        validate_table(RawTable(frame, 2, ".", "x.csv"))


def test_headerless_empty_column_is_ignored():
    frame = pd.DataFrame([csv_row()], dtype=object)
    frame[""] = None
    assert validate_table(RawTable(frame, 2, ".", "x.csv")).scored == 1


# --- canonical frame ----------------------------------------------------------------------

CANONICAL_DTYPES = {
    **{f.name: np.dtype(object) for f in F.FIELDS if f.kind in (F.Kind.STRING, F.Kind.ENUM)},
    **{f.name: np.dtype(np.float64) for f in F.FIELDS if f.kind in (F.Kind.INT, F.Kind.FLOAT)},
    "year_established": np.dtype(np.int64),
    "employees": np.dtype(np.int64),
    **{name: np.dtype(bool) for name in F.BOOL_FIELDS},
    **{name: np.dtype(np.int64) for name in F.LIST_FIELDS},
}


@pytest.mark.parametrize("rows", [[], [CSV_ROW], [CSV_ROW, {**CSV_ROW, "employees": "x"}]])
def test_canonical_dtypes_exactly(rows):
    batch = validate_table(table(rows) if rows else RawTable(pd.DataFrame(), 2, ".", "e.csv"))
    assert list(batch.profiles.columns) == list(F.PROFILE_COLUMNS)
    assert batch.profiles.dtypes.to_dict() == {c: CANONICAL_DTYPES[c] for c in F.PROFILE_COLUMNS}
    assert batch.profiles.index.equals(pd.RangeIndex(len(batch.profiles)))
    assert list(batch.personal.columns) == list(F.PERSONAL_COLUMNS)
    assert set(batch.personal.dtypes) <= {np.dtype(object)}
    assert batch.row_numbers.dtype == np.int64
    assert len(batch.personal) == len(batch.assumed) == len(batch.row_numbers) == batch.scored


def test_canonical_frame_dtypes_and_round_trip():
    frame = canonical_frame([FULL_PROFILE, record(validate_table(table([CSV_ROW])))])
    assert frame.dtypes.to_dict() == {c: CANONICAL_DTYPES[c] for c in F.PROFILE_COLUMNS}
    assert frame["certifications"].tolist() == [
        F.list_to_mask("certifications", ["HALAL", "PIRT"]),
        0,
    ]
    records = profiles_to_records(frame)
    assert records[0] == {
        **FULL_PROFILE,
        "certifications": ["HALAL", "PIRT"],
        "target_markets": ["JP", "GCC", "ASEAN"],
    }
    assert profiles_to_records(canonical_frame(records)) == records


def test_round_trip_of_a_varied_cohort():
    expected = random_profiles(300, seed=3)
    records = profiles_to_records(expected)
    frame = canonical_frame(records)
    assert profiles_to_records(frame) == records
    for name in ("sme_id", "name", "sector", "hs_code", "legal_form"):
        expected[name] = expected[name].astype(object).where(expected[name].notna(), None)
    pd.testing.assert_frame_equal(frame, expected)


def test_file_and_canonical_paths_agree():
    lists = {
        "certifications": "PIRT;HALAL",
        "export_markets": "ASEAN; AU",
        "target_markets": "JP,GCC,EU",
    }
    full = {**FULL_PROFILE, **lists}
    batch = validate_table(table([{k: str(v) for k, v in full.items()}]))
    expected = canonical_frame([{**FULL_PROFILE, "target_markets": ["JP", "GCC", "EU"]}])
    pd.testing.assert_frame_equal(batch.profiles, expected)


# --- JSON arrays -------------------------------------------------------------------------


def test_records_are_numbered_from_one_and_non_objects_reported():
    bad = {**FULL_PROFILE, "sme_id": "BDG-003", "employees": 2.5}
    batch = validate_records([dict(FULL_PROFILE), "not a profile", bad])
    assert batch.errors == [
        RowError(2, None, [{"field": "_schema", "message": "Invalid input type."}]),
        RowError(3, "BDG-003", [{"field": "employees", "message": "Must be a whole number."}]),
    ]
    assert batch.row_numbers.tolist() == [1]
    assert (batch.received, batch.scored, batch.rejected) == (3, 1, 2)
    assert profiles_to_records(batch.profiles) == [
        {
            **FULL_PROFILE,
            "certifications": ["HALAL", "PIRT"],
            "target_markets": ["JP", "GCC", "ASEAN"],
        }
    ]


def test_unknown_key_in_records_is_refused():
    with pytest.raises(FileFormatError, match="'employes' \\(did you mean 'employees'\\?\\)"):
        validate_records([{**FULL_PROFILE, "employes": 3}])


def test_empty_array():
    batch = validate_records([])
    assert (batch.received, batch.scored, batch.rejected) == (0, 0, 0)


# --- volume -------------------------------------------------------------------------------


def _as_csv_text(profiles: pd.DataFrame) -> pd.DataFrame:
    """The canonical frame written the way an Indonesian semicolon CSV carries it."""
    text = pd.DataFrame(index=profiles.index)
    for spec in F.FIELDS:
        if spec.personal:
            continue
        column = profiles[spec.name]
        if spec.kind is F.Kind.BOOL:
            text[spec.name] = np.where(column, "Ya", "Tidak")
        elif spec.kind is F.Kind.ENUM_LIST:
            text[spec.name] = [", ".join(v) for v in F.masks_to_lists(spec.name, column)]
        elif spec.kind is F.Kind.FLOAT:
            text[spec.name] = column.map(
                lambda v: "" if pd.isna(v) else f"{v:.2f}".replace(".", ",")
            )
        elif spec.kind is F.Kind.INT:
            text[spec.name] = column.map(lambda v: "" if pd.isna(v) else str(int(v)))
        else:
            text[spec.name] = column.astype(object).where(column.notna(), None)
    return text.astype(object)


def test_fifty_thousand_rows_are_validated_column_by_column():
    n = 50_000
    profiles = random_profiles(n, seed=7)
    profiles["annual_revenue_idr"] = profiles["annual_revenue_idr"].round(2)
    profiles["capacity_utilization"] = profiles["capacity_utilization"].round(2)
    profiles["export_value_usd_last_year"] = profiles["export_value_usd_last_year"].round(2)
    frame = _as_csv_text(profiles)
    bad = np.arange(0, n, 1000)
    frame.loc[bad, "employees"] = "banyak"
    batch = validate_table(RawTable(frame, 2, ",", "big.csv"))
    assert (batch.received, batch.scored, batch.rejected) == (n, n - len(bad), len(bad))
    assert [e.row for e in batch.errors] == (bad + 2).tolist()
    keep = np.setdiff1d(np.arange(n), bad)
    expected = canonical_frame(profiles_to_records(profiles.iloc[keep].reset_index(drop=True)))
    pd.testing.assert_frame_equal(batch.profiles, expected)


def test_a_personal_fields_value_is_never_quoted_in_its_error():
    batch = validate_records([{**FULL_PROFILE, "owner_gender": "Wulandari Pratiwi"}])
    assert batch.errors[0].errors == [
        {
            "field": "owner_gender",
            "message": "Unknown value (not shown: personal data). "
            "Must be one of: female, male, undisclosed.",
        }
    ]


def test_spreadsheet_row_errors_name_the_column_and_value_but_never_a_personal_one(tmp_path):
    path = tmp_path / "e.csv"
    header = [*CSV_ROW, "owner_gender"]
    row = {**CSV_ROW, "sector": "Kopi", "owner_gender": "Pratiwi"}
    path.write_text(
        ";".join(header) + "\n" + ";".join(row[k] for k in header) + "\n", encoding="utf-8"
    )
    from scoring.files.readers import read_table

    errors = validate_table(read_table(path)).errors[0].errors
    assert [{k: v for k, v in e.items() if k != "message"} for e in errors] == [
        {"field": "sector", "column": "C", "value": "Kopi"},
        {"field": "owner_gender", "column": "I"},
    ]


_NUMBER_ALPHABET = "0123456789" * 3 + ".,+-eE ٣"


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=_NUMBER_ALPHABET, min_size=1, max_size=12), min_size=1),
    mark=st.sampled_from([".", ","]),
)
def test_number_cells_of_a_column_are_read_as_each_cell_alone(texts, mark):
    """Text cells read as numbers column by column (plain digits without the pattern, the
    others with it) give what ``number_from_text`` gives each."""
    import pyarrow as pa

    from scoring.contract.cells import number_from_text
    from scoring.contract.parsing import _text_numbers

    rows = np.arange(len(texts))
    got = _text_numbers(pa.array(texts, type=pa.large_string()), rows, len(texts), mark)
    expected = [number_from_text(text, mark) for text in texts]
    assert [None if np.isnan(v) else v for v in got.tolist()] == expected


_CAST_SPECIALS = ["nan", "NaN", "inf", "-Infinity", "1e999", "+.5", "1.", "-0", "0.39", "7"]


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False).map(repr),
            st.sampled_from(_CAST_SPECIALS),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_decimal_point_texts_cast_in_one_go_are_read_as_each_cell_alone(texts):
    """A column of decimals as a program writes them is cast in one kernel call: the same
    numbers as ``number_from_text`` of each, "nan" and "inf" refused as the pattern does."""
    import pyarrow as pa

    from scoring.contract.cells import number_from_text
    from scoring.contract.parsing import _text_numbers

    got = _text_numbers(
        pa.array(texts, type=pa.large_string()), np.arange(len(texts)), len(texts), "."
    )
    expected = [number_from_text(text, ".") for text in texts]
    assert [None if np.isnan(v) else v for v in got.tolist()] == expected


_EDGE_ALPHABET = "ab5-\u2013\u2014 \t\xa0\u2007\u202f\ufeff\u00e9"


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=_EDGE_ALPHABET, max_size=4), min_size=1, max_size=30),
    start=st.integers(0, 3),
)
def test_text_cells_are_stripped_and_blanks_made_missing_as_each_cell_alone(texts, start):
    """Whether a column's texts are stripped (kernels) or found to need nothing (their edge
    bytes), each cell ends as ``strip_text`` leaves it, and a blank or "-" one is missing."""
    import pyarrow as pa

    from scoring.contract.cells import NOT_APPLICABLE, strip_text
    from scoring.contract.parsing import _MISSING, _TEXT, _with_text

    array = pa.array(["pad"] * start + texts, type=pa.large_string()).slice(start)
    kind = np.full(len(texts), _TEXT, dtype=np.int8)
    cells = _with_text(None, kind, np.arange(len(texts)), array)
    stripped = [strip_text(text) for text in texts]
    kept = [i for i, text in enumerate(stripped) if text not in ("", *NOT_APPLICABLE)]
    assert cells.text_rows.tolist() == kept
    assert cells.text.to_pylist() == [stripped[i] for i in kept]
    assert [i for i, k in enumerate(cells.kind) if k == _MISSING] == sorted(
        set(range(len(texts))) - set(kept)
    )


def test_plain_digits_and_other_number_texts_in_one_column_are_each_read():
    import pyarrow as pa

    from scoring.contract.parsing import _text_numbers

    texts = ["12", "0,39", "1.234", "12,", ",5", ",", "1.234,5", "007", "1,5e3", "-3", "1 2"]
    got = _text_numbers(pa.array(texts), np.arange(len(texts)), len(texts), ",")
    nan = np.nan
    np.testing.assert_array_equal(
        got, [12.0, 0.39, 1234.0, 12.0, 0.5, nan, 1234.5, 7.0, 1500.0, -3.0, nan]
    )


def test_a_spreadsheets_ids_are_read_once_to_find_its_non_data_rows_and_repeats(
    tmp_path, monkeypatch
):
    """Reading a CSV or XLSX chunk, the `sme_id` column serves both to take out a sheet's
    totals and notes and to find ids repeated from earlier rows: it is parsed once."""
    import io

    from scoring.contract import validate
    from scoring.contract.seen_id_digests import SeenIdDigests
    from scoring.files.readers import iter_tables
    from scoring.files.writers import write_table

    frame = random_profiles(30, seed=2)
    frame.loc[29, "sme_id"] = frame.loc[3, "sme_id"]  # a repeat, found all the same
    buffer = io.BytesIO()
    write_table(frame, buffer, format="csv")
    buffer.write(b"Jumlah" + b";" * (len(frame.columns) - 1) + b"\r\n")  # a total row
    buffer.seek(0)
    raw = next(iter(iter_tables(buffer, filename="cohort.csv", chunk_rows=100, arrow=True)))
    assert raw.columns is not None
    parsed = []
    parse = validate.parse_column
    monkeypatch.setattr(
        validate, "parse_column", lambda c, spec, d: parsed.append(spec.name) or parse(c, spec, d)
    )
    table = validate.prepare_table(raw, seen_ids=SeenIdDigests())
    assert parsed.count("sme_id") == 1
    assert len(table.frame) == 30 and len(table.skipped) == 1
    assert table.repeats == {frame.loc[3, "sme_id"]: 5}  # row 5: the header is row 1
