"""The synthetic data generator: determinism, contract, calibration, monotone label model, files."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from scoring.contract import fields
from scoring.contract.fields import LABEL, Kind
from scoring.contract.outcomes import (
    OUTCOME_COLUMNS,
    SUPPORT_KINDS,
    decision_problems,
    outcome_labels,
)
from scoring.model import synth
from scoring.outcomes.labels import Label, derive_label

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
BANDUNG_COUNTS = {
    "apparel": 35,
    "textile": 22,
    "jewelry_accessories": 11,
    "food_beverage": 5,
    "handicraft": 4,
    "footwear_leather": 3,
    "furniture_wood": 2,
    "cosmetics_herbal": 2,
    "medical_devices": 1,
}


@pytest.fixture(scope="module")
def profiles() -> pd.DataFrame:
    return synth.generate_profiles(20_000, seed=11)


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return synth.generate_profiles(100_000, seed=20201)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return synth.generate_cohort(seed=2020)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("data")
    csv, xlsx, profile = synth.write_example_cohort(out, seed=2020)
    training = synth.write_training_data(out, n=2_000, seed=5)
    return {"csv": csv, "xlsx": xlsx, "json": profile, "parquet": training}


def contract_violations(frame: pd.DataFrame) -> list[str]:
    """Every breach of SPEC section 3 in ``frame``, as readable strings (empty when clean)."""
    problems: list[str] = []

    def check(field: str, bad: pd.Series | np.ndarray, what: str) -> None:
        count = int(np.count_nonzero(bad))
        if count:
            problems.append(f"{field}: {count} row(s) {what}")

    for field in fields.FIELDS:
        if field.name not in frame:
            continue
        column = frame[field.name]
        present = column.notna() if field.kind is not Kind.ENUM_LIST else column.map(bool)
        if field.required:
            check(field.name, column.isna(), "missing a required value")
        if field.kind in (Kind.STRING, Kind.ENUM):
            text = column[column.notna()]
            check(field.name, ~text.map(lambda v: isinstance(v, str)), "not text")
            check(field.name, text.str.len() < 1, "empty")
            if field.max_length:
                check(field.name, text.str.len() > field.max_length, "too long")
            if field.pattern:
                check(field.name, ~text.str.fullmatch(field.pattern[1:-1]), "off pattern")
            if field.choices:
                check(field.name, ~text.isin(field.choices), "outside the enum")
        elif field.kind in (Kind.INT, Kind.FLOAT):
            values = column[present].astype(float)
            if field.kind is Kind.INT:
                check(field.name, values != np.floor(values), "not whole numbers")
            if field.min is not None:
                check(field.name, values < field.min, f"below {field.min}")
            if field.max_value is not None:
                check(field.name, values > field.max_value, f"above {field.max_value}")
        elif field.kind is Kind.BOOL:
            check(field.name, ~column.map(lambda v: isinstance(v, bool | np.bool_)), "not bool")
        elif field.kind is Kind.ENUM_LIST:
            check(field.name, ~column.map(lambda v: isinstance(v, list)), "not a list")
            check(
                field.name,
                column.map(lambda v, allowed=field.choices: any(x not in allowed for x in v)),
                "with values outside the enum",
            )
            check(field.name, column.map(lambda v: len(set(v)) != len(v)), "with duplicates")
    if {"has_exported", "export_years"} <= set(frame.columns):
        check(
            "export_years",
            ~frame["has_exported"] & (frame["export_years"] != 0),
            "not 0 although never exported",
        )
    return problems


def group_rates(frame: pd.DataFrame) -> dict[str, float]:
    label = frame[LABEL].to_numpy()
    trained = frame["completed_export_training"].to_numpy()
    exported = frame["has_exported"].to_numpy()
    return {
        "untrained_never_exported": label[~trained & ~exported].mean(),
        "trained_never_exported": label[trained & ~exported].mean(),
        "already_exporting": label[exported].mean(),
    }


# --------------------------------------------------------------------------- API shape


def test_same_seed_gives_an_identical_frame():
    pd.testing.assert_frame_equal(
        synth.generate_profiles(3_000, seed=7), synth.generate_profiles(3_000, seed=7)
    )
    pd.testing.assert_frame_equal(synth.generate_cohort(seed=3), synth.generate_cohort(seed=3))


def test_different_seeds_give_different_frames():
    a = synth.generate_profiles(3_000, seed=7)
    b = synth.generate_profiles(3_000, seed=8)
    assert not a.drop(columns="sme_id").equals(b.drop(columns="sme_id"))
    assert (a["employees"] != b["employees"]).mean() > 0.5


def test_training_frame_has_contract_columns_without_contact_data_and_with_label(profiles):
    assert list(profiles.columns) == list(synth.TRAINING_COLUMNS)
    assert list(profiles.columns) == [
        *(c for c in fields.ALL_COLUMNS if c not in fields.PERSONAL_COLUMNS or c == "owner_gender"),
        LABEL,
    ]
    assert profiles.index.equals(pd.RangeIndex(len(profiles)))
    assert profiles["sme_id"].iloc[0] == "SYN-0000001"
    assert profiles["sme_id"].iloc[-1] == "SYN-0020000"
    assert profiles["sme_id"].is_unique


def test_training_frame_dtypes_follow_the_contract(profiles):
    for name in (*fields.BOOL_FIELDS, LABEL):
        assert profiles[name].dtype == np.bool_, name
    for name in (
        "year_established",
        "employees",
        "export_years",
        "foreign_buyer_contacts",
        "trade_fairs_last_3y",
        "english_capable_staff",
    ):
        assert profiles[name].dtype == np.int64, name
    for name in (
        "annual_revenue_idr",
        "monthly_capacity_units",
        "capacity_utilization",
        "export_value_usd_last_year",
    ):
        assert profiles[name].dtype == np.float64, name
    for name in fields.LIST_FIELDS:
        assert profiles[name].map(type).eq(list).all(), name


def test_every_generated_row_satisfies_the_contract(profiles):
    assert contract_violations(profiles) == []


def test_optional_values_are_sometimes_missing(profiles):
    for name in ("monthly_capacity_units", "capacity_utilization"):
        assert 0.13 < profiles[name].isna().mean() < 0.17, name
    assert 0.05 < profiles["hs_code"].isna().mean() < 0.11
    assert 0.04 < profiles["legal_form"].isna().mean() < 0.08
    for name in ("sme_id", "name", "sector", "annual_revenue_idr", "export_value_usd_last_year"):
        assert profiles[name].notna().all(), name


def test_list_cells_are_fresh_lists_in_contract_order(profiles):
    certs = profiles["certifications"]
    assert len({id(v) for v in certs}) == len(certs)
    order = {v: i for i, v in enumerate(fields.CERTIFICATIONS)}
    assert certs.map(lambda v: [order[x] for x in v] == sorted(order[x] for x in v)).all()


def test_trained_share_sets_the_share_of_trained_rows():
    frame = synth.generate_profiles(10_000, seed=1, trained_share=0.5)
    assert 0.48 < frame["completed_export_training"].mean() < 0.52
    assert not synth.generate_profiles(500, seed=1, trained_share=0.0)[
        "completed_export_training"
    ].any()


def test_trained_rows_have_better_export_practices(profiles):
    means = profiles.groupby("completed_export_training")[
        ["knows_incoterms", "has_export_pricing", "export_packaging", "has_nib"]
    ].mean()
    assert (means.loc[True] > means.loc[False] + 0.1).all()


def test_zero_rows_give_an_empty_frame_with_the_columns():
    frame = synth.generate_profiles(0, seed=1)
    assert list(frame.columns) == list(synth.TRAINING_COLUMNS)
    assert len(frame) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": -1}, "n must be"), ({"n": 5, "trained_share": 1.5}, "trained_share")],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synth.generate_profiles(seed=1, **kwargs)


def test_sector_specific_certificates_go_with_their_sector(profiles):
    def share(sector: str, cert: str) -> float:
        rows = profiles[profiles["sector"] == sector]
        return rows["certifications"].map(lambda v: cert in v).mean()

    assert share("food_beverage", "HALAL") > 0.2 > share("apparel", "HALAL")
    assert share("medical_devices", "ISO13485") > 0.1 > share("food_beverage", "ISO13485")
    assert share("furniture_wood", "SVLK") > 0.2 > share("cosmetics_herbal", "SVLK")


def test_owner_gender_varies_with_sector(profiles):
    female = profiles.assign(f=profiles["owner_gender"] == "female").groupby("sector")["f"].mean()
    assert female["food_beverage"] > 0.5 > female["furniture_wood"]
    assert female["cosmetics_herbal"] > female["footwear_leather"]


# --------------------------------------------------------------------------- calibration


def test_label_rates_fall_in_the_calibration_bands(large):
    rates = group_rates(large)
    oracle = roc_auc_score(large[LABEL], synth.true_probability(large))
    print(
        "\nlabel rates on 100,000 rows:",
        {k: round(float(v), 4) for k, v in rates.items()},
        f"oracle AUC {oracle:.4f}",
    )
    assert 0.05 <= rates["untrained_never_exported"] <= 0.10
    assert 0.30 <= rates["trained_never_exported"] <= 0.40
    assert 0.65 <= rates["already_exporting"] <= 0.85
    assert 0.80 <= oracle <= 0.90


def test_labels_are_drawn_from_true_probability(large):
    probability = synth.true_probability(large)
    assert abs(large[LABEL].mean() - probability.mean()) < 0.005
    high, low = probability > 0.8, probability < 0.05
    assert large[LABEL][high].mean() > 0.8
    assert large[LABEL][low].mean() < 0.05


def test_true_probability_reads_bit_masks_like_lists(profiles):
    canonical = profiles.copy()
    for name in fields.LIST_FIELDS:
        canonical[name] = [fields.list_to_mask(name, v) for v in profiles[name]]
    np.testing.assert_array_equal(
        synth.true_probability(canonical), synth.true_probability(profiles)
    )


def test_true_probability_refuses_unknown_values(profiles):
    frame = profiles.head(3).copy()
    frame.at[1, "certifications"] = ["HALAL", "ISO-9001"]
    with pytest.raises(ValueError, match="ISO-9001"):
        synth.true_probability(frame)


def test_owner_gender_never_moves_the_probability(profiles):
    swapped = profiles.assign(owner_gender=profiles["owner_gender"].iloc[::-1].to_numpy())
    np.testing.assert_array_equal(synth.true_probability(swapped), synth.true_probability(profiles))


def test_label_coefficients_are_non_negative():
    assert all(term.coefficient >= 0 for term in synth.LABEL_TERMS)
    assert len({term.name for term in synth.LABEL_TERMS}) == len(synth.LABEL_TERMS)


def _improvements() -> dict[str, Callable[[pd.DataFrame], pd.DataFrame]]:
    """Every "more is better" change a profile can make, as frame -> improved frame."""

    def set_true(name):
        return lambda f: f.assign(**{name: True})

    def add(name, amount):
        return lambda f: f.assign(**{name: f[name] + amount})

    def add_certificate(cert):
        def apply(f):
            masks = [fields.list_to_mask("certifications", [*v, cert]) for v in f["certifications"]]
            return f.assign(
                certifications=[fields.mask_to_list("certifications", m) for m in masks]
            )

        return apply

    changes = {name: set_true(name) for name in fields.BOOL_FIELDS}
    changes.update(
        {
            "employees+1": add("employees", 1),
            "employees*3": lambda f: f.assign(employees=f["employees"] * 3),
            "revenue*2": lambda f: f.assign(annual_revenue_idr=f["annual_revenue_idr"] * 2),
            "older firm": add("year_established", -1),
            "export_years+1": add("export_years", 1),
            "export value": lambda f: f.assign(
                export_value_usd_last_year=f["export_value_usd_last_year"] + 1_000
            ),
            "buyer contact+1": add("foreign_buyer_contacts", 1),
            "trade fair+1": add("trade_fairs_last_3y", 1),
            "english staff+1": add("english_capable_staff", 1),
        }
    )
    for cert in fields.CERTIFICATIONS:
        changes[f"certificate {cert}"] = add_certificate(cert)
    return changes


@pytest.mark.parametrize("change", list(_improvements()))
def test_improving_a_profile_never_lowers_true_probability(profiles, change):
    before = synth.true_probability(profiles)
    after = synth.true_probability(_improvements()[change](profiles))
    assert (after >= before).all()
    assert (after > before).any(), f"{change} has no effect at all"


# --------------------------------------------------------------------------- example cohort


def test_cohort_has_85_trained_smes_in_bandungs_sector_mix(cohort):
    assert len(cohort) == 85
    assert list(cohort.columns) == list(fields.ALL_COLUMNS)
    assert LABEL not in cohort.columns
    assert cohort["completed_export_training"].all()
    assert cohort["sector"].value_counts().to_dict() == BANDUNG_COUNTS
    assert cohort["sme_id"].tolist() == [f"BDG-2020-{i:03d}" for i in range(1, 86)]


def test_cohort_satisfies_the_contract_with_synthetic_personal_fields(cohort):
    assert contract_violations(cohort) == []
    for name in fields.PERSONAL_COLUMNS:
        assert cohort[name].notna().all(), name
    assert cohort["contact_phone"].str.fullmatch(r"\+62 8\d{2}-\d{4}-\d{4}").all()
    assert cohort["contact_email"].str.fullmatch(r"[a-z]+\.[a-z]+@example\.(com|org|net)").all()
    assert cohort["district"].isin(synth.BANDUNG_DISTRICTS).all()
    assert cohort["owner_name"].str.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+").all()
    assert cohort["name"].is_unique


def test_cohort_wants_mixed_markets(cohort):
    assert cohort["target_markets"].map(len).ge(1).all()
    wanted = set(cohort["target_markets"].explode())
    assert {"AU", "ASEAN", "JP", "EU", "US", "GCC"} <= wanted


# --------------------------------------------------------------------------- files


def test_cohort_csv_is_written_like_an_indonesian_excel_export(written):
    raw = written["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw[3:].split(b"\r\n", 1)[0].decode()
    assert header.split(";") == list(fields.ALL_COLUMNS)
    text = raw.decode("utf-8-sig")
    assert re.search(r";\d{1,3}(\.\d{3})+,\d{2};", text)  # money as 1.500.000,50
    assert ";Ya;" in text and ";Tidak;" in text
    assert re.search(r";[A-Z]+, [A-Z]+;", text)  # list cells joined with ", "


def test_cohort_csv_reads_back_with_pandas_to_the_same_values(written, cohort):
    back = pd.read_csv(
        written["csv"],
        sep=";",
        decimal=",",
        thousands=".",
        encoding="utf-8-sig",
        true_values=["Ya"],
        false_values=["Tidak"],
        dtype={"hs_code": str},
    )
    assert list(back.columns) == list(cohort.columns)
    for name in cohort.columns:
        if name in fields.LIST_FIELDS:
            lists = back[name].map(lambda v: v.split(", ") if isinstance(v, str) else [])
            assert lists.tolist() == cohort[name].tolist(), name
        elif cohort[name].dtype.kind in "biuf":
            np.testing.assert_array_equal(
                back[name].to_numpy(dtype=float), cohort[name].to_numpy(dtype=float), err_msg=name
            )
        else:
            assert _none_for_missing(back[name]) == _none_for_missing(cohort[name]), name


def _none_for_missing(column: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in column]


def test_cohort_xlsx_holds_the_same_rows_with_native_types(written, cohort):
    sheet = openpyxl.load_workbook(written["xlsx"], read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(cohort.columns)
    assert len(rows) == 86
    for cells, (_, expected) in zip(rows[1:], cohort.iterrows(), strict=True):
        for name, cell in zip(cohort.columns, cells, strict=True):
            value = expected[name]
            if isinstance(value, list):
                assert cell == (", ".join(value) or None), name
            elif isinstance(value, bool | np.bool_):
                assert cell is bool(value), name
            elif isinstance(value, float) and np.isnan(value):
                assert cell is None, name
            else:
                assert cell == value, name


def test_example_profile_is_the_first_cohort_row_with_contract_types(written, cohort):
    profile = json.loads(written["json"].read_text(encoding="utf-8"))
    first = cohort.iloc[0]
    assert profile["sme_id"] == "BDG-2020-001"
    for name, value in profile.items():
        kind = fields.FIELD_BY_NAME[name].kind
        expected = first[name]
        if kind is Kind.INT:
            assert type(value) is int and value == expected, name
        elif kind is Kind.BOOL:
            assert type(value) is bool and value == expected, name
        elif kind is Kind.ENUM_LIST:
            assert value == expected, name
        else:
            assert value == expected, name
    missing = {name for name in cohort.columns if name not in profile}
    assert all(pd.isna(first[name]) for name in missing)


def test_training_parquet_keeps_types_and_lists(written):
    table = pq.read_table(written["parquet"])
    for name in fields.LIST_FIELDS:
        assert table.schema.field(name).type.equals(pa.list_(pa.string())), name
    assert str(table.schema.field(LABEL).type) == "bool"
    assert str(table.schema.field("monthly_capacity_units").type) == "int64"
    back = table.to_pandas()
    expected = synth.generate_profiles(2_000, seed=5)
    for name in fields.LIST_FIELDS:
        back[name] = back[name].map(list)
    for name in ("sme_id", "name", "sector", "hs_code", "legal_form", "owner_gender"):
        back[name] = back[name].astype(object).where(back[name].notna(), None)
        expected[name] = expected[name].astype(object).where(expected[name].notna(), None)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)


def test_writing_twice_gives_identical_bytes(tmp_path, written):
    again = synth.write_example_cohort(tmp_path, seed=2020)
    for path in again:
        assert path.read_bytes() == (written["csv"].parent / path.name).read_bytes(), path.name


def test_shipped_files_match_the_generator(tmp_path):
    for path in [*synth.write_example_cohort(tmp_path), *synth.write_example_outcomes(tmp_path)]:
        assert (DATA_DIR / path.name).read_bytes() == path.read_bytes(), path.name
    shipped = pd.read_parquet(DATA_DIR / synth.TRAINING_FILE)
    assert len(shipped) == 30_000
    expected = synth.generate_profiles(30_000, seed=20201)
    assert shipped["sme_id"].tolist() == expected["sme_id"].tolist()
    assert shipped[LABEL].tolist() == expected[LABEL].tolist()
    assert shipped["certifications"].map(list).tolist() == expected["certifications"].tolist()


def test_data_card_states_synthetic_and_every_coefficient():
    card = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in card
    assert "sme-export generate-data --out-dir data" in card
    for term in synth.LABEL_TERMS:
        assert f"| `{term.name}` | {term.coefficient:.2f} |" in card, term.name
    assert f"{synth.LABEL_INTERCEPT:.2f}" in card


# --------------------------------------------------------------------------- example outcomes


@pytest.fixture(scope="module")
def decisions(cohort) -> pd.DataFrame:
    return synth.generate_decisions(cohort)


@pytest.fixture(scope="module")
def followups(cohort) -> pd.DataFrame:
    return synth.generate_followups(cohort)


def _labels(followups: pd.DataFrame) -> dict[str, Label]:
    """Each SME's label under the store's rule (no follow-up: censored)."""
    return {
        sme_id: derive_label(synth.DECISION_DATE, group.to_dict("records"))
        for sme_id, group in followups.groupby("sme_id")
    }


def test_outcomes_are_deterministic(cohort, decisions, followups, tmp_path):
    pd.testing.assert_frame_equal(synth.generate_decisions(cohort), decisions)
    pd.testing.assert_frame_equal(synth.generate_followups(cohort), followups)
    assert not synth.generate_followups(cohort, seed=1).equals(followups)
    first = [p.read_bytes() for p in synth.write_example_outcomes(tmp_path / "a")]
    again = [p.read_bytes() for p in synth.write_example_outcomes(tmp_path / "b")]
    assert first == again


def test_every_graduate_has_one_decision_and_the_places_are_filled(cohort, decisions):
    assert list(decisions.columns) == list(synth.DECISION_COLUMNS)
    assert decisions["sme_id"].tolist() == sorted(cohort["sme_id"])
    assert (decisions["decided_on"] == synth.DECISION_DATE).all()
    supported = decisions[decisions["decision"] == "support"]
    assert len(supported) == synth.SUPPORT_PLACES
    assert supported["support_kind"].value_counts().to_dict() == synth.SUPPORT_PLACES_BY_KIND
    assert set(synth.SUPPORT_PLACES_BY_KIND) == set(SUPPORT_KINDS)
    other = supported["support_kind"] == "other"
    assert supported.loc[other, "support_other"].notna().all()
    assert supported.loc[~other, "support_other"].isna().all()
    targets = cohort.set_index("sme_id")["target_markets"]
    for sme_id, market in zip(supported["sme_id"], supported["target_market"], strict=True):
        assert market in targets[sme_id], sme_id
    refused = decisions[decisions["decision"] == "no_support"]
    assert (refused["reason"] == synth.NO_PLACE_REASON).all()
    assert refused[["support_kind", "support_other", "target_market"]].isna().all().all()
    for record in decisions.to_dict("records"):
        assert decision_problems(record, today=dt.date(2026, 12, 3)) == [], record["sme_id"]


def test_the_committee_mostly_supports_the_likelier_exporters(cohort, decisions):
    probability = pd.Series(synth.true_probability(cohort), index=cohort["sme_id"])
    chosen = decisions.set_index("sme_id")["decision"] == "support"
    assert probability[chosen[chosen].index].mean() > probability[chosen[~chosen].index].mean()
    assert probability[chosen[~chosen].index].max() > probability[chosen[chosen].index].min()


def test_followups_fall_in_the_three_rounds_and_three_contracts_come_early(cohort, followups):
    assert list(followups.columns) == list(OUTCOME_COLUMNS)
    days = followups["followup_date"]
    assert days.tolist() == sorted(days)
    assert days.min() > synth.DECISION_DATE
    assert days.max() <= dt.date(2026, 6, 30)
    assert all(day.weekday() < 5 for day in days)
    first_round = followups[days < dt.date(2025, 10, 1)]
    assert len(first_round) == 85 - synth.MISSED_FIRST_ROUND
    assert first_round["exported"].sum() == synth.EARLY_CONTRACTS == 3
    assert set(followups["sme_id"]) == set(cohort["sme_id"])
    last_round = followups[days >= dt.date(2026, 6, 16)]
    assert len(last_round) == 85 - synth.UNREACHABLE_LAST_ROUND
    per_sme = followups.groupby("sme_id").size()
    assert (per_sme == 1).sum() == synth.ONLY_SECOND_ROUND  # only the 6-month follow-up


def test_followups_report_exports_consistently(cohort, followups):
    targets = cohort.set_index("sme_id")["target_markets"]
    exported = followups[followups["exported"]]
    no_export = followups[~followups["exported"]]
    for row in exported.itertuples():
        assert row.first_export_date <= row.followup_date
        assert (row.first_export_date - synth.DECISION_DATE).days <= 365
        assert set(row.destination_markets) <= set(targets[row.sme_id]), row.sme_id
        assert row.export_value_usd > 0 and row.contracts >= 1
    for _, rows in exported.groupby("sme_id"):
        assert rows["first_export_date"].nunique() == 1
        assert rows["export_value_usd"].is_monotonic_increasing
        assert rows["contracts"].is_monotonic_increasing
    assert no_export[["first_export_date", "export_value_usd", "contracts"]].isna().all().all()
    assert (no_export["destination_markets"].map(len) == 0).all()
    learned = set(outcome_labels("id")["learned_via"].values())
    assert set(followups["learned_via"]) == learned  # every way of learning occurs


def test_labels_follow_the_ground_truth_with_some_censored(cohort, decisions, followups):
    labels = _labels(followups)
    values = [labels[sme_id].value for sme_id in cohort["sme_id"]]
    known = [v for v in values if v is not None]
    assert len(known) == 78 and values.count(None) == 7
    assert sum(known) == 28
    probability = synth.true_probability(cohort)
    assert abs(sum(known) / len(known) - probability.mean()) < 0.1
    supported = set(decisions.loc[decisions["decision"] == "support", "sme_id"])
    assert sum(labels[s].known for s in supported) >= 30  # enough for the evaluation


def test_outcome_csvs_are_written_like_an_indonesian_excel_export(tmp_path):
    decisions_csv, followups_csv = synth.write_example_outcomes(tmp_path)
    for path, columns in (
        (decisions_csv, synth.DECISION_COLUMNS),
        (followups_csv, OUTCOME_COLUMNS),
    ):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\r\n")
        assert raw[3:].split(b"\r\n", 1)[0].decode() == ";".join(columns)
    text = followups_csv.read_text(encoding="utf-8-sig")
    assert ";Ya;" in text and ";Tidak;" in text
    assert re.search(r";\d{2}/\d{2}/\d{4};Ya;", text)
    assert re.search(r";\d{1,3}(\.\d{3})*,\d{2};\d+;", text)  # value 12.345,60 then contracts
    assert "16/06/2025" in decisions_csv.read_text(encoding="utf-8-sig")
