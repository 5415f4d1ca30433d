"""Synthetic SME profiles with a documented ground-truth export outcome.

No public firm-level export-outcome data exists, so the shipped demonstration
model is trained on rows drawn here. A latent firm capability drives size, age,
certifications, digital presence, export experience and practices; the label
``exported_within_12m`` is drawn from a monotone logistic model of the observed
columns (``true_probability``) whose intercept is calibrated to the outcome
figures in DOMAIN.md. Everything is vectorised numpy and deterministic for a
seed. The data card is ``data/README.md``.

How firms are drawn is ``scoring.model.population``; how the files in data/ are written is
``scoring.model.data_files``. This module holds the label model and the two populations:
the training rows and the Bandung example cohort, and the cohort's year after the
programme: the office's support decisions and its export follow-ups, drawn from the same
ground truth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from scoring.contract import fields
from scoring.contract.fields import LABEL, LEGAL_FORMS, SECTORS, Kind
from scoring.contract.outcomes import OUTCOME_COLUMNS, outcome_labels
from scoring.model.data_files import (
    write_office_csv,
    write_profile_json,
    write_training_parquet,
    write_xlsx,
)
from scoring.model.population import (
    REFERENCE_YEAR,
    SECTOR_PROFILES,
    STRING,
    business_names,
    draw_profiles,
    personal_fields,
    sigmoid,
)

#: Columns of ``generate_profiles``: the contract without contact data, plus the label.
TRAINING_COLUMNS: tuple[str, ...] = (
    *(f.name for f in fields.FIELDS if not f.personal or f.name == "owner_gender"),
    LABEL,
)
#: Columns of ``generate_cohort``: the whole contract, personal fields included.
COHORT_COLUMNS: tuple[str, ...] = fields.ALL_COLUMNS

TRAINING_FILE = "training.parquet"
COHORT_CSV = "cohort_bandung_2020.csv"
COHORT_XLSX = "cohort_bandung_2020.xlsx"
EXAMPLE_PROFILE = "example_profile.json"
DECISIONS_CSV = "cohort_bandung_2020_decisions.csv"
FOLLOWUPS_CSV = "cohort_bandung_2020_followups.csv"


#: Certificates recognised by foreign buyers; the rest are domestic registrations.
INTERNATIONAL_CERTIFICATES = (
    "HACCP", "ISO9001", "ISO22000", "ISO13485", "GMP", "CE", "FDA", "SVLK", "OEKOTEX",
    "ORGANIC", "FSC",
)  # fmt: skip
DOMESTIC_CERTIFICATES = ("SNI", "HALAL", "BPOM", "PIRT")
#: The certificate(s) importers of each sector ask for first (any one counts).
KEY_CERTIFICATES: dict[str, tuple[str, ...]] = {
    "apparel": ("OEKOTEX",),
    "textile": ("OEKOTEX",),
    "footwear_leather": ("ISO9001",),
    "jewelry_accessories": ("ISO9001",),
    "handicraft": ("SVLK", "FSC"),
    "furniture_wood": ("SVLK", "FSC"),
    "food_beverage": ("HACCP", "ISO22000", "FDA"),
    "cosmetics_herbal": ("GMP", "FDA"),
    "medical_devices": ("ISO13485", "CE", "FDA"),
    "other": ("ISO9001",),
}

#: Bandung's main exports 2018-2021 (DOMAIN.md), the rest split over the smaller sectors.
BANDUNG_SECTOR_SHARES: dict[str, float] = {
    "apparel": 0.41,
    "textile": 0.255,
    "jewelry_accessories": 0.127,
    "medical_devices": 0.017,
    "food_beverage": 0.060,
    "handicraft": 0.045,
    "footwear_leather": 0.040,
    "furniture_wood": 0.025,
    "cosmetics_herbal": 0.021,
}
#: Bandung's first go-export contract was with an Australian buyer: the cohort leans that way.
BANDUNG_MARKET_TILT = (1.0, 1.0, 1.2, 1.0, 1.0, 1.2, 2.0, 0.6)
#: Bandung's 30 kecamatan.
BANDUNG_DISTRICTS = (
    "Andir", "Antapani", "Arcamanik", "Astanaanyar", "Babakan Ciparay", "Bandung Kidul",
    "Bandung Kulon", "Bandung Wetan", "Batununggal", "Bojongloa Kaler", "Bojongloa Kidul",
    "Buahbatu", "Cibeunying Kaler", "Cibeunying Kidul", "Cibiru", "Cicendo", "Cidadap",
    "Cinambo", "Coblong", "Gedebage", "Kiaracondong", "Lengkong", "Mandalajati",
    "Panyileukan", "Rancasari", "Regol", "Sukajadi", "Sukasari", "Sumur Bandung",
    "Ujungberung",
)  # fmt: skip
#: Known clusters: footwear in Cibaduyut (Bojongloa Kidul), knitwear in Binong Jati (Batununggal).
DISTRICT_CLUSTERS = {
    "footwear_leather": "Bojongloa Kidul",
    "textile": "Batununggal",
    "apparel": "Cibeunying Kidul",
}

# --------------------------------------------------------------------------- example outcomes

#: The day the office decided whom of the cohort to support further (a Monday).
DECISION_DATE = dt.date(2025, 6, 16)
#: Places of the follow-on support programme; the other graduates are not supported.
SUPPORT_PLACES = 50
#: How the places are split over the kinds of support (sums to ``SUPPORT_PLACES``).
SUPPORT_PLACES_BY_KIND: dict[str, int] = {
    "export_coaching": 12,
    "business_matching": 12,
    "trade_fair": 10,
    "certification_support": 8,
    "financing_referral": 5,
    "other": 3,
}
#: Standard deviation (logit scale) of the committee's error in judging readiness.
SELECTION_NOISE = 0.8
DECIDED_BY = "Komite Go Export Kota Bandung"
NO_PLACE_REASON = "Kuota dukungan sudah penuh"
OTHER_SUPPORT = "Kurasi produk untuk katalog ekspor daring"
#: The columns of the decisions file: the store's decision fields an office would type.
DECISION_COLUMNS: tuple[str, ...] = (
    "sme_id",
    "decision",
    "support_kind",
    "support_other",
    "target_market",
    "decided_on",
    "decided_by",
    "reason",
)
#: Follow-up rounds about 3, 6 and 12 months after the decision: the first working day and
#: how many working days the calls and visits take. The last round starts on day 365, so a
#: "not exported" answer in it closes the 12-month window.
FOLLOWUP_ROUNDS: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2025, 9, 15), 10),
    (dt.date(2025, 12, 15), 8),
    (dt.date(2026, 6, 16), 11),
)
#: Exporters whose first shipment falls before the first round (Bandung 2020: 3 contracts
#: within months), and the days after the decision those shipments fall in.
EARLY_CONTRACTS = 3
EARLY_EXPORT_DAYS = (40, 85)
#: Graduates the office did not reach in the first round, and in the last one (censored
#: unless an earlier round already reported an export); of them, some reached only in the
#: second round (one follow-up, about 6 months after the decision).
MISSED_FIRST_ROUND = 5
UNREACHABLE_LAST_ROUND = 7
ONLY_SECOND_ROUND = 2
DECISIONS_SEED = 2025
FOLLOWUPS_SEED = 2026
#: How the office learned of an export, and of no export yet (weights, in LEARNED_VIA order).
_LEARNED_EXPORT = {"customs_peb": 0.30, "self_report": 0.25, "visit": 0.20, "phone_call": 0.25}
_LEARNED_NO_EXPORT = {"phone_call": 0.60, "visit": 0.25, "self_report": 0.15}
_NOTES_NO_EXPORT = (
    "Masih negosiasi harga dengan calon pembeli",
    "Menunggu persetujuan sampel dari pembeli",
    "Sedang mengurus sertifikasi produk",
    "Belum ada pesanan dari luar negeri",
)
_NOTE_EARLY = "Kontrak ekspor pertama ditandatangani"
_NOTE_FIRST_EXPORT = "Pengiriman ekspor pertama"

# --------------------------------------------------------------------------- label model


class LabelTerm(NamedTuple):
    """One term of the label model: coefficient times a never-decreasing feature."""

    name: str
    coefficient: float
    feature: str  # how the feature is computed from the profile, for the data card


#: Logit of P(export within 12 months) = LABEL_INTERCEPT + sum(coefficient * feature)
#: + SECTOR_OFFSETS + LEGAL_FORM_OFFSETS. Every coefficient is >= 0 and every feature
#: is non-decreasing in its "more is better" inputs, so the probability is monotone.
LABEL_TERMS: tuple[LabelTerm, ...] = (
    LabelTerm("has_nib", 0.25, "1 if has_nib"),
    LabelTerm("has_npwp", 0.10, "1 if has_npwp"),
    LabelTerm("log_employees", 0.10, "ln(1 + employees)"),
    LabelTerm("log_revenue", 0.05, "ln(1 + annual_revenue_idr / 100 million)"),
    LabelTerm("log_firm_age", 0.10, "ln(1 + max(0, 2026 - year_established))"),
    LabelTerm("international_certificates", 0.30, "ln(1 + number of international certificates)"),
    LabelTerm("domestic_certificates", 0.10, "ln(1 + number of SNI, HALAL, BPOM, PIRT)"),
    LabelTerm("key_certificate", 0.20, "1 if it holds a key certificate of its sector"),
    LabelTerm("trademark_registered", 0.05, "1 if trademark_registered"),
    LabelTerm("has_website", 0.20, "1 if has_website"),
    LabelTerm("has_english_catalog", 0.15, "1 if has_english_catalog"),
    LabelTerm("on_b2b_marketplace", 0.15, "1 if on_b2b_marketplace"),
    LabelTerm("social_media_active", 0.05, "1 if social_media_active"),
    LabelTerm("has_exported", 2.00, "1 if has_exported"),
    LabelTerm("log_export_years", 0.15, "ln(1 + export_years)"),
    LabelTerm("exported_last_year", 0.20, "1 if export_value_usd_last_year > 0"),
    LabelTerm("log_buyer_contacts", 0.20, "ln(1 + foreign_buyer_contacts)"),
    LabelTerm("buyer_contacts_3plus", 0.25, "1 if foreign_buyer_contacts >= 3 (threshold)"),
    LabelTerm("log_trade_fairs", 0.20, "ln(1 + trade_fairs_last_3y)"),
    LabelTerm("log_english_staff", 0.10, "ln(1 + english_capable_staff)"),
    LabelTerm("completed_export_training", 1.40, "1 if completed_export_training"),
    LabelTerm("export_packaging", 0.15, "1 if export_packaging"),
    LabelTerm("knows_incoterms", 0.10, "1 if knows_incoterms"),
    LabelTerm("has_export_pricing", 0.15, "1 if has_export_pricing"),
    LabelTerm("has_logistics_partner", 0.10, "1 if has_logistics_partner"),
    LabelTerm("access_to_finance", 0.10, "1 if access_to_finance"),
    LabelTerm("has_quality_control", 0.15, "1 if has_quality_control"),
    LabelTerm("can_supply_continuously", 0.15, "1 if can_supply_continuously"),
    LabelTerm(
        "export_practice_bundle",
        0.15,
        "1 if export_packaging and knows_incoterms and has_export_pricing (complementarity)",
    ),
)
LABEL_INTERCEPT = -4.0
SECTOR_OFFSETS: dict[str, float] = {
    "apparel": 0.10,
    "textile": 0.05,
    "footwear_leather": 0.05,
    "jewelry_accessories": 0.10,
    "handicraft": 0.0,
    "furniture_wood": 0.15,
    "food_beverage": -0.10,
    "cosmetics_herbal": 0.0,
    "medical_devices": 0.20,
    "other": -0.10,
}
#: Missing legal form counts as 0, like ``individual``.
LEGAL_FORM_OFFSETS: dict[str, float] = {
    "individual": 0.0,
    "cv": 0.15,
    "pt": 0.25,
    "cooperative": 0.05,
    "other": 0.0,
}

# --------------------------------------------------------------------------- public API


def generate_profiles(n: int, *, seed: int, trained_share: float = 0.3) -> pd.DataFrame:
    """``n`` synthetic training rows (contract format, no contact data) with their label."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= trained_share <= 1.0:
        raise ValueError("trained_share must be between 0 and 1")
    rng = np.random.default_rng(seed)
    shares = np.array([SECTOR_PROFILES[s].share for s in SECTORS])
    sector = rng.choice(len(SECTORS), size=n, p=shares / shares.sum())
    trained = rng.random(n) < trained_share
    cols = draw_profiles(rng, sector, trained, selection_shift=0.4)
    cols["sme_id"] = np.strings.add("SYN-", np.strings.zfill(np.arange(1, n + 1).astype(STRING), 7))
    cols[LABEL] = rng.random(n) < _probability(cols)
    return _contract_frame(cols, TRAINING_COLUMNS)


def true_probability(frame: pd.DataFrame) -> np.ndarray:
    """The ground-truth P(export within 12 months) of each row, as used to draw the labels.

    Accepts the frame ``generate_profiles`` returns (lists) or a canonical frame (bit masks).
    ``owner_gender`` and contact data are never read.
    """
    cols: dict[str, np.ndarray] = {}
    for name in _LABEL_INPUTS:
        field = fields.FIELD_BY_NAME[name]
        series = frame[name]
        if field.kind is Kind.BOOL:
            cols[name] = series.fillna(False).to_numpy(dtype=bool)
        elif field.kind in (Kind.INT, Kind.FLOAT):
            cols[name] = np.nan_to_num(pd.to_numeric(series).to_numpy(dtype=float), nan=0.0)
        elif field.kind is Kind.ENUM_LIST:
            cols[name] = _as_masks(series, name)
        else:
            cols[name] = _as_codes(series, field.choices, required=field.required)
    return _probability(cols)


def generate_cohort(n: int = 85, *, seed: int) -> pd.DataFrame:
    """An example cohort of Bandung "go export" graduates, with synthetic personal fields."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.default_rng(seed)
    sector = rng.permutation(_bandung_sectors(n))
    trained = np.ones(n, dtype=bool)
    # A city programme open to all rather than a competitive selection: no capability shift;
    # every graduate names at least one target market.
    cols = draw_profiles(
        rng,
        sector,
        trained,
        selection_shift=0.0,
        market_tilt=BANDUNG_MARKET_TILT,
        no_target_share=0.0,
    )
    cols["sme_id"] = np.strings.add(
        "BDG-2020-", np.strings.zfill(np.arange(1, n + 1).astype(STRING), 3)
    )
    duplicated = pd.Series(cols["name"]).duplicated().to_numpy()
    while duplicated.any():  # an office's register has no two firms of the same name
        cols["name"][duplicated] = business_names(
            rng, sector[duplicated], cols["legal_form"][duplicated]
        )
        duplicated = pd.Series(cols["name"]).duplicated().to_numpy()
    cols.update(
        personal_fields(
            rng,
            sector,
            cols["owner_gender"],
            districts=BANDUNG_DISTRICTS,
            clusters=DISTRICT_CLUSTERS,
        )
    )
    return _contract_frame(cols, COHORT_COLUMNS)


def write_training_data(out_dir: Path, *, n: int = 30_000, seed: int = 20201) -> Path:
    """Write ``training.parquet`` (list columns as list<string>) and return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = generate_profiles(n, seed=seed)
    path = out_dir / TRAINING_FILE
    write_training_parquet(frame, path)
    return path


def write_example_cohort(out_dir: Path, *, seed: int = 2020) -> list[Path]:
    """Write the example cohort as an Indonesian-office CSV, an XLSX and one JSON profile."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cohort = generate_cohort(seed=seed)
    paths = [out_dir / COHORT_CSV, out_dir / COHORT_XLSX, out_dir / EXAMPLE_PROFILE]
    write_office_csv(cohort, paths[0])
    write_xlsx(cohort, paths[1])
    write_profile_json(cohort.iloc[0], paths[2])
    return paths


def generate_decisions(cohort: pd.DataFrame, *, seed: int = DECISIONS_SEED) -> pd.DataFrame:
    """The office's support decisions about a cohort, one per SME in ``sme_id`` order.

    The ``SUPPORT_PLACES`` SMEs the committee judges readiest are supported: readiness is
    the ground truth's logit plus normal noise (``SELECTION_NOISE``), so the committee
    mostly, not always, picks the likelier exporters. Kinds of support are dealt at random
    in the numbers of ``SUPPORT_PLACES_BY_KIND``; a supported SME's target market is one of
    its own. The others are ``no_support`` because no place was left. Support changes
    nothing in ``generate_followups``: any difference between the groups is selection.
    """
    n = len(cohort)
    rng = np.random.default_rng(seed)
    probability = true_probability(cohort)
    readiness = np.log(probability / (1 - probability)) + SELECTION_NOISE * rng.standard_normal(n)
    supported = np.zeros(n, dtype=bool)
    supported[np.argsort(-readiness, kind="stable")[: min(SUPPORT_PLACES, n)]] = True
    kinds = np.repeat(list(SUPPORT_PLACES_BY_KIND), list(SUPPORT_PLACES_BY_KIND.values()))
    kinds = rng.permutation(kinds)
    rows = []
    place = 0
    for i in np.argsort(cohort["sme_id"].to_numpy(dtype=str), kind="stable"):
        row = dict.fromkeys(DECISION_COLUMNS)
        row.update(sme_id=cohort["sme_id"].iat[i], decided_on=DECISION_DATE, decided_by=DECIDED_BY)
        if supported[i]:
            kind = str(kinds[place % len(kinds)])
            place += 1
            markets = list(cohort["target_markets"].iat[i])
            row.update(decision="support", support_kind=kind)
            row["support_other"] = OTHER_SUPPORT if kind == "other" else None
            row["target_market"] = str(rng.choice(markets)) if markets else None
        else:
            row.update(decision="no_support", reason=NO_PLACE_REASON)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(DECISION_COLUMNS), dtype=object)


def generate_followups(cohort: pd.DataFrame, *, seed: int = FOLLOWUPS_SEED) -> pd.DataFrame:
    """The office's export follow-ups of a cohort in the year after ``DECISION_DATE``, in
    the outcome contract's columns (dates as ``datetime.date``), by follow-up date.

    Whether an SME exports within the 12 months is drawn from ``true_probability``, the
    ground truth of the training labels. ``EARLY_CONTRACTS`` exporters (weighted by their
    probability, twice for those wanting Australia) ship before the first round; the other
    exporters' first shipments fall uniformly between the first round and day 365. Every
    SME is followed up in each round of ``FOLLOWUP_ROUNDS`` on a random working day, except
    ``MISSED_FIRST_ROUND`` not reached in the first round (never an early exporter) and
    ``UNREACHABLE_LAST_ROUND`` not reached in the last one, ``ONLY_SECOND_ROUND`` of them in
    neither. A follow-up after the first shipment reports it with the markets, value and
    contracts so far (more shipments may follow); one before it says "not exported".
    """
    n = len(cohort)
    rng = np.random.default_rng(seed)
    probability = true_probability(cohort)
    exports = rng.random(n) < probability
    wants_au = cohort["target_markets"].map(lambda m: "AU" in m).to_numpy(dtype=bool)
    exporters = np.flatnonzero(exports)
    weights = probability[exporters] * np.where(wants_au[exporters], 2.0, 1.0)
    early = rng.choice(
        exporters, min(EARLY_CONTRACTS, exporters.size), replace=False, p=weights / weights.sum()
    )
    rounds = [_round_dates(rng, start, days, n) for start, days in FOLLOWUP_ROUNDS]
    first_day = np.full(n, -1)
    late_from = (max(rounds[0]) - DECISION_DATE).days + 1
    first_day[exporters] = rng.integers(late_from, WINDOW_DAYS + 1, exporters.size)
    first_day[early] = rng.integers(EARLY_EXPORT_DAYS[0], EARLY_EXPORT_DAYS[1] + 1, early.size)
    reached = np.ones((len(rounds), n), dtype=bool)
    missed = rng.choice(np.setdiff1d(np.arange(n), early), MISSED_FIRST_ROUND, replace=False)
    reached[0, missed] = False
    reached[-1, missed[:ONLY_SECOND_ROUND]] = False
    others = rng.choice(
        np.setdiff1d(np.arange(n), missed),
        UNREACHABLE_LAST_ROUND - ONLY_SECOND_ROUND,
        replace=False,
    )
    reached[-1, others] = False
    names = outcome_labels("id")["learned_via"]
    rows = []
    for i in range(n):
        history = _ExportHistory(rng, cohort.iloc[i], early=i in early)
        for r, dates in enumerate(rounds):
            if not reached[r, i]:
                continue
            day = dates[i]
            row = dict.fromkeys(OUTCOME_COLUMNS)
            row.update(sme_id=cohort["sme_id"].iat[i], followup_date=day, destination_markets=[])
            shipped = exports[i] and (day - DECISION_DATE).days >= first_day[i]
            row["exported"] = bool(shipped)
            if shipped:
                first = DECISION_DATE + dt.timedelta(days=int(first_day[i]))
                row.update(history.report(first))
                row["learned_via"] = names[_pick(rng, _LEARNED_EXPORT)]
            else:
                row["learned_via"] = names[_pick(rng, _LEARNED_NO_EXPORT)]
                if rng.random() < 0.35:
                    row["note"] = str(rng.choice(_NOTES_NO_EXPORT))
            rows.append(row)
    rows.sort(key=lambda row: (row["followup_date"], row["sme_id"]))
    frame = pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS), dtype=object)
    return frame.astype({"exported": bool})


def write_example_outcomes(
    out_dir: Path,
    *,
    cohort_seed: int = 2020,
    decisions_seed: int = DECISIONS_SEED,
    followups_seed: int = FOLLOWUPS_SEED,
) -> list[Path]:
    """Write the example cohort's decisions and follow-ups as an Indonesian office's CSVs:
    UTF-8 with BOM, ``;``, CRLF, dates ``dd/mm/yyyy``, ``Ya``/``Tidak``, decimal comma."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cohort = generate_cohort(seed=cohort_seed)
    paths = [out_dir / DECISIONS_CSV, out_dir / FOLLOWUPS_CSV]
    write_office_csv(_office_text(generate_decisions(cohort, seed=decisions_seed)), paths[0])
    write_office_csv(_office_text(generate_followups(cohort, seed=followups_seed)), paths[1])
    return paths


# --------------------------------------------------------------------------- the cohort


def _bandung_sectors(n: int) -> np.ndarray:
    """Sector codes in Bandung's export mix, apportioned by largest remainder."""
    names = list(BANDUNG_SECTOR_SHARES)
    quotas = np.array([BANDUNG_SECTOR_SHARES[s] for s in names]) * n
    counts = np.floor(quotas).astype(int)
    remainder_order = np.argsort(-(quotas - counts), kind="stable")
    counts[remainder_order[: n - counts.sum()]] += 1
    return np.repeat([SECTORS.index(s) for s in names], counts)


# --------------------------------------------------------------------------- label model


#: Profile columns the label model reads (never owner_gender or contact data).
_LABEL_INPUTS: tuple[str, ...] = (
    "sector",
    "legal_form",
    "year_established",
    "employees",
    "annual_revenue_idr",
    "has_quality_control",
    "can_supply_continuously",
    "has_nib",
    "has_npwp",
    "trademark_registered",
    "certifications",
    "has_exported",
    "export_years",
    "export_value_usd_last_year",
    "foreign_buyer_contacts",
    "trade_fairs_last_3y",
    "english_capable_staff",
    "completed_export_training",
    "has_website",
    "has_english_catalog",
    "on_b2b_marketplace",
    "social_media_active",
    "export_packaging",
    "knows_incoterms",
    "has_export_pricing",
    "has_logistics_partner",
    "access_to_finance",
)


def _label_features(cols: Mapping[str, np.ndarray], sector: np.ndarray) -> dict[str, np.ndarray]:
    """The non-decreasing features of ``LABEL_TERMS`` from profile columns (lists as masks)."""
    certs = np.asarray(cols["certifications"], dtype=np.int64)
    key_masks = np.array(
        [fields.list_to_mask("certifications", KEY_CERTIFICATES[s]) for s in SECTORS]
    )
    international = fields.list_to_mask("certifications", INTERNATIONAL_CERTIFICATES)
    domestic = fields.list_to_mask("certifications", DOMESTIC_CERTIFICATES)
    contacts = np.asarray(cols["foreign_buyer_contacts"], dtype=float)

    def flag(name: str) -> np.ndarray:
        return np.asarray(cols[name], dtype=float)

    features = {t.name: flag(t.name) for t in LABEL_TERMS if t.name in fields.BOOL_FIELDS}
    features.update(
        log_employees=np.log1p(np.asarray(cols["employees"], dtype=float)),
        log_revenue=np.log1p(np.asarray(cols["annual_revenue_idr"], dtype=float) / 1e8),
        log_firm_age=np.log1p(
            np.maximum(REFERENCE_YEAR - np.asarray(cols["year_established"], dtype=float), 0)
        ),
        international_certificates=np.log1p(fields.count_values(certs & international)),
        domestic_certificates=np.log1p(fields.count_values(certs & domestic)),
        key_certificate=((certs & key_masks[sector]) != 0).astype(float),
        log_export_years=np.log1p(np.asarray(cols["export_years"], dtype=float)),
        exported_last_year=(np.asarray(cols["export_value_usd_last_year"], dtype=float) > 0).astype(
            float
        ),
        log_buyer_contacts=np.log1p(contacts),
        buyer_contacts_3plus=(contacts >= 3).astype(float),
        log_trade_fairs=np.log1p(np.asarray(cols["trade_fairs_last_3y"], dtype=float)),
        log_english_staff=np.log1p(np.asarray(cols["english_capable_staff"], dtype=float)),
        export_practice_bundle=flag("export_packaging")
        * flag("knows_incoterms")
        * flag("has_export_pricing"),
    )
    return features


def _probability(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    """P(label) from profile columns with enums as codes and lists as bit masks."""
    sector = np.asarray(cols["sector"], dtype=np.int64)
    legal = np.asarray(cols["legal_form"], dtype=np.int64)
    features = _label_features(cols, sector)
    logit = np.full(len(sector), LABEL_INTERCEPT)
    for term in LABEL_TERMS:
        logit = logit + term.coefficient * features[term.name]
    logit = logit + np.array([SECTOR_OFFSETS[s] for s in SECTORS])[sector]
    legal_offsets = np.array([LEGAL_FORM_OFFSETS[f] for f in LEGAL_FORMS] + [0.0])
    logit = logit + legal_offsets[legal]  # -1 (not given) picks the trailing 0
    return sigmoid(logit)


# --------------------------------------------------------------------------- outcomes

#: Days after the decision within which an export counts (scoring.outcomes.labels).
WINDOW_DAYS = 365


class _ExportHistory:
    """One exporter's shipments so far: the first one when first reported, then at each
    later follow-up perhaps another shipment, contract and market."""

    def __init__(self, rng: np.random.Generator, profile: pd.Series, *, early: bool):
        self.rng = rng
        self.early = early
        self.scale = np.log(4_000.0) + 0.3 * np.log1p(float(profile["employees"]))
        self.targets = list(profile["target_markets"]) or ["OTHER"]
        self.markets: list[str] = []
        self.value = 0.0
        self.contracts = 0

    def _shipment(self) -> float:
        return float(np.exp(self.scale + 0.7 * self.rng.standard_normal()))

    def report(self, first: dt.date) -> dict:
        note = None
        if not self.markets:
            if self.early and "AU" in self.targets:
                market = "AU"
            else:
                market = str(self.rng.choice(self.targets))
            self.markets, self.value, self.contracts = [market], self._shipment(), 1
            note = _NOTE_EARLY if self.early else _NOTE_FIRST_EXPORT
        elif self.rng.random() < 0.6:
            self.value += self._shipment()
            self.contracts += int(self.rng.random() < 0.5)
            others = [m for m in self.targets if m not in self.markets]
            if others and self.rng.random() < 0.25:
                self.markets.append(str(self.rng.choice(others)))
        return {
            "first_export_date": first,
            "destination_markets": list(self.markets),
            "export_value_usd": round(self.value, 2),
            "contracts": self.contracts,
            "note": note,
        }


def _round_dates(rng: np.random.Generator, start: dt.date, days: int, n: int) -> list[dt.date]:
    """A random working day of the ``days`` working days from ``start`` for each of ``n``."""
    offsets = rng.integers(0, days, n)
    found = np.busday_offset(np.datetime64(start, "D"), offsets, roll="forward")
    return [dt.date.fromisoformat(str(day)) for day in found]


def _pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    shares = np.array(list(weights.values()))
    return str(rng.choice(list(weights), p=shares / shares.sum()))


def _office_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Decisions or follow-ups as the texts an office's Excel (Indonesian locale) writes:
    dates ``dd/mm/yyyy``, ``Ya``/``Tidak``, money ``1.234,50``, lists ``A, B``."""

    def cell(value: object, name: str) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, list):
            return ", ".join(value) or None
        if isinstance(value, bool | np.bool_):
            return "Ya" if value else "Tidak"
        if isinstance(value, dt.date):
            return value.strftime("%d/%m/%Y")
        if name == "export_value_usd":
            return f"{float(value):,.2f}".translate(str.maketrans(",.", ".,"))
        return str(value)

    return pd.DataFrame(
        {name: [cell(v, name) for v in frame[name].tolist()] for name in frame.columns},
        columns=frame.columns,
        dtype=object,
    )


# --------------------------------------------------------------------------- frames


def _contract_frame(cols: Mapping[str, np.ndarray], columns: Sequence[str]) -> pd.DataFrame:
    """Internal arrays to a contract-format frame: lists of str, str (object), bool, int, float."""
    data: dict[str, object] = {}
    for name in columns:
        values = cols[name]
        kind = fields.LABEL_FIELD.kind if name == LABEL else fields.FIELD_BY_NAME[name].kind
        if kind is Kind.ENUM_LIST:
            data[name] = pd.Series(_masks_to_lists(name, values), dtype=object)
        elif kind is Kind.ENUM:
            data[name] = pd.Series(_codes_to_labels(values, fields.FIELD_BY_NAME[name].choices))
        elif values.dtype == object or isinstance(values.dtype, np.dtypes.StringDType):
            data[name] = pd.Series(values.astype(object), dtype=object)
        else:
            data[name] = values
    return pd.DataFrame(data, columns=list(columns))


def _masks_to_lists(field: str, masks: np.ndarray) -> list[list[str]]:
    """Decode masks to fresh lists (no row shares a list); each distinct mask is decoded once."""
    masks = np.asarray(masks, dtype=np.int64)
    decoded = np.empty(1 << len(fields.FIELD_BY_NAME[field].choices), dtype=object)
    for m in np.flatnonzero(np.bincount(masks, minlength=len(decoded))):
        decoded[m] = tuple(fields.mask_to_list(field, int(m)))
    return list(map(list, decoded[masks]))


def _as_masks(series: pd.Series, field: str) -> np.ndarray:
    """A list column (lists of strings, or int bit masks already) as bit masks."""
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.to_numpy(dtype=np.int64)
    exploded = series.reset_index(drop=True).explode()
    exploded = exploded[exploded.notna()]
    choices = fields.FIELD_BY_NAME[field].choices
    codes = pd.Index(choices).get_indexer(exploded.to_numpy(dtype=object))
    if (codes < 0).any():
        unknown = sorted(set(exploded[codes < 0].astype(str)))
        raise ValueError(f"{field}: unknown value(s) {unknown}")
    masks = np.zeros(len(series), dtype=np.int64)
    np.bitwise_or.at(
        masks, exploded.index.to_numpy(dtype=np.int64), np.int64(1) << codes.astype(np.int64)
    )
    return masks


def _as_codes(series: pd.Series, choices: Sequence[str], *, required: bool) -> np.ndarray:
    """Positions of enum values in ``choices``; -1 for a missing optional value."""
    values = series.to_numpy(dtype=object)
    codes = pd.Index(list(choices)).get_indexer(values).astype(np.int64)
    missing = pd.isna(values)
    if ((codes < 0) & (~missing | required)).any():
        unknown = sorted({str(v) for v, c in zip(values, codes, strict=True) if c < 0})
        raise ValueError(f"unknown value(s) {unknown}; expected one of {list(choices)}")
    return codes


def _codes_to_labels(codes: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Enum codes to an object array of labels, None where the code is -1."""
    table = np.array([*labels, None], dtype=object)
    return table[codes]
