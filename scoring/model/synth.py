"""Synthetic SME profiles with a documented ground-truth export outcome.

No public firm-level export-outcome data exists, so the shipped demonstration
model is trained on rows drawn here. A latent firm capability drives size, age,
certifications, digital presence, export experience and practices; the label
``exported_within_12m`` is drawn from a monotone logistic model of the observed
columns (``true_probability``) whose intercept is calibrated to the outcome
figures in DOMAIN.md. Everything is vectorised numpy and deterministic for a
seed. The data card is ``data/README.md``.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.contract import fields
from scoring.contract.fields import (
    CERTIFICATIONS,
    GENDERS,
    LABEL,
    LEGAL_FORMS,
    MARKETS,
    SECTORS,
    Kind,
)

#: Year the synthetic profiles describe; fixed so that a seed gives the same data every year.
REFERENCE_YEAR = 2026
#: Rupiah per US dollar used to keep export value below turnover (a simplification).
IDR_PER_USD = 15_500.0

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


# --------------------------------------------------------------------------- sectors


class SectorProfile(NamedTuple):
    """How firms of one sector are drawn (medians at average capability)."""

    share: float  # share of the training population
    employees: float  # median number of workers
    revenue_per_worker: float  # median turnover per worker, rupiah a year
    units_per_worker: float  # median monthly output per worker, units
    female_owners: float  # share of female owners among those who disclose
    hs_codes: tuple[str, ...]  # typical HS subheadings of the main product
    words: tuple[str, ...]  # words used in synthetic business names


SECTOR_PROFILES: dict[str, SectorProfile] = {
    "apparel": SectorProfile(
        0.15, 8, 90e6, 300, 0.50, ("610910", "620442", "620520", "611020", "620462"),
        ("Busana", "Konveksi", "Fashion", "Moda", "Garmen"),
    ),
    "textile": SectorProfile(
        0.07, 12, 120e6, 400, 0.35, ("520812", "540752", "630231", "551311", "600632"),
        ("Tekstil", "Tenun", "Rajut", "Kain", "Batik"),
    ),
    "footwear_leather": SectorProfile(
        0.05, 6, 80e6, 60, 0.25, ("640399", "640419", "420221", "420310"),
        ("Sepatu", "Kulit", "Leather", "Tas"),
    ),
    "jewelry_accessories": SectorProfile(
        0.05, 4, 150e6, 50, 0.50, ("711311", "711319", "711719", "711790"),
        ("Perhiasan", "Aksesoris", "Perak", "Mutiara"),
    ),
    "handicraft": SectorProfile(
        0.12, 5, 60e6, 80, 0.55, ("460219", "442090", "691390", "460121"),
        ("Kriya", "Kerajinan", "Anyaman", "Craft"),
    ),
    "furniture_wood": SectorProfile(
        0.08, 10, 100e6, 6, 0.15, ("940360", "940161", "940169", "442199"),
        ("Mebel", "Furniture", "Kayu", "Interior"),
    ),
    "food_beverage": SectorProfile(
        0.30, 4, 70e6, 1_000, 0.65,
        ("090111", "090121", "210111", "190590", "200819", "170490", "210690", "030617"),
        ("Pangan", "Kuliner", "Rasa", "Kopi", "Snack", "Boga"),
    ),
    "cosmetics_herbal": SectorProfile(
        0.06, 5, 100e6, 500, 0.70, ("330499", "330590", "340111", "130219", "330129"),
        ("Herbal", "Kosmetik", "Jamu", "Natural"),
    ),
    "medical_devices": SectorProfile(
        0.02, 15, 200e6, 400, 0.30, ("901890", "901920", "902190", "300590", "401519"),
        ("Medika", "Alkes", "Husada", "Medical"),
    ),
    "other": SectorProfile(
        0.10, 5, 80e6, 200, 0.35, ("392690", "481920", "830630", "950300"),
        ("Industri", "Niaga", "Produk", "Kreatif"),
    ),
}  # fmt: skip

#: Probability of holding each certificate for an untrained firm of average capability.
CERTIFICATE_BASE: dict[str, dict[str, float]] = {
    "apparel": {"SNI": 0.08, "OEKOTEX": 0.03, "ISO9001": 0.02},
    "textile": {"SNI": 0.15, "OEKOTEX": 0.05, "ISO9001": 0.05, "ORGANIC": 0.01},
    "footwear_leather": {"SNI": 0.10, "ISO9001": 0.03},
    "jewelry_accessories": {"SNI": 0.03, "ISO9001": 0.02},
    "handicraft": {"SVLK": 0.08, "FSC": 0.02, "SNI": 0.02},
    "furniture_wood": {"SVLK": 0.30, "FSC": 0.05, "ISO9001": 0.04, "SNI": 0.05},
    "food_beverage": {
        "PIRT": 0.45, "HALAL": 0.40, "BPOM": 0.15, "HACCP": 0.05, "ISO22000": 0.02,
        "SNI": 0.05, "ORGANIC": 0.03, "FDA": 0.02, "ISO9001": 0.02, "GMP": 0.02,
    },
    "cosmetics_herbal": {
        "BPOM": 0.35, "HALAL": 0.30, "PIRT": 0.10, "GMP": 0.06, "ORGANIC": 0.04,
        "ISO9001": 0.02, "FDA": 0.01,
    },
    "medical_devices": {
        "GMP": 0.30, "ISO13485": 0.20, "ISO9001": 0.15, "SNI": 0.10, "CE": 0.06, "FDA": 0.04,
    },
    "other": {"SNI": 0.10, "ISO9001": 0.05, "HALAL": 0.05},
}  # fmt: skip
#: Log-odds per unit of capability of holding a certificate; 0.9 for those not listed.
#: Home-industry PIRT is for micro firms: larger ones register with BPOM instead.
CERTIFICATE_SLOPE = {"PIRT": -0.3, "SNI": 0.5, "HALAL": 0.5, "BPOM": 0.5}
#: Probability of any certificate not listed for the sector.
CERTIFICATE_RARE = 0.003
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

#: Relative weight of each market (EU, US, JP, CN, GCC, ASEAN, AU, OTHER) by sector.
MARKET_WEIGHTS: dict[str, tuple[float, ...]] = {
    "apparel": (0.15, 0.20, 0.10, 0.04, 0.12, 0.18, 0.13, 0.08),
    "textile": (0.15, 0.15, 0.12, 0.08, 0.10, 0.22, 0.10, 0.08),
    "footwear_leather": (0.22, 0.20, 0.12, 0.05, 0.06, 0.18, 0.10, 0.07),
    "jewelry_accessories": (0.18, 0.20, 0.12, 0.05, 0.12, 0.15, 0.12, 0.06),
    "handicraft": (0.20, 0.20, 0.15, 0.05, 0.05, 0.15, 0.12, 0.08),
    "furniture_wood": (0.25, 0.25, 0.15, 0.05, 0.05, 0.10, 0.10, 0.05),
    "food_beverage": (0.08, 0.10, 0.10, 0.10, 0.16, 0.26, 0.10, 0.10),
    "cosmetics_herbal": (0.10, 0.08, 0.08, 0.08, 0.15, 0.30, 0.10, 0.11),
    "medical_devices": (0.20, 0.15, 0.10, 0.05, 0.10, 0.25, 0.10, 0.05),
    "other": (0.14, 0.14, 0.12, 0.10, 0.08, 0.24, 0.10, 0.08),
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

# --------------------------------------------------------------------------- names

NAME_WORDS_1 = (
    "Sinar", "Mekar", "Karya", "Cahaya", "Sari", "Putri", "Mitra", "Berkah", "Kreasi",
    "Mulia", "Surya", "Bintang", "Harapan", "Citra", "Gemilang", "Anugerah",
)  # fmt: skip
NAME_WORDS_2 = (
    "Priangan", "Pasundan", "Parahyangan", "Sejahtera", "Abadi", "Jaya", "Mandiri",
    "Lestari", "Indah", "Makmur", "Sentosa", "Nusantara", "Kencana", "Utama", "Raya", "Asri",
)  # fmt: skip
#: Name prefix by legal form (UD = usaha dagang, a sole proprietorship).
LEGAL_FORM_PREFIX = {"individual": "UD", "cv": "CV", "pt": "PT", "cooperative": "Koperasi"}
FEMALE_FIRST_NAMES = (
    "Siti", "Dewi", "Nining", "Euis", "Neneng", "Rina", "Wulan", "Yanti", "Ratna", "Lilis",
    "Tuti", "Nurul", "Rini", "Ayu", "Intan", "Sri", "Fitri", "Anisa", "Imas", "Cucu",
)  # fmt: skip
MALE_FIRST_NAMES = (
    "Asep", "Dadang", "Ujang", "Cecep", "Deden", "Agus", "Budi", "Yudi", "Iwan", "Hendra",
    "Rudi", "Dedi", "Ade", "Eko", "Rizki", "Fajar", "Tatang", "Engkus", "Jajang", "Dodi",
)  # fmt: skip
LAST_NAMES = (
    "Suryana", "Hidayat", "Permana", "Setiawan", "Kusuma", "Nugraha", "Saputra", "Wijaya",
    "Gunawan", "Sutisna", "Supriatna", "Hermawan", "Kurniawan", "Sumarna", "Ruhiyat",
    "Sobari", "Rahayu", "Mulyana", "Sudrajat", "Firmansyah",
)  # fmt: skip
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
MOBILE_PREFIXES = ("811", "812", "813", "821", "822", "852", "853", "857", "877", "878", "896")
#: Reserved example domains (RFC 2606): no real mailbox can receive these addresses.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")

_STR = np.dtypes.StringDType()


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
    cols = _draw_profiles(rng, sector, trained, selection_shift=0.4)
    cols["sme_id"] = np.strings.add("SYN-", np.strings.zfill(np.arange(1, n + 1).astype(_STR), 7))
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
    cols = _draw_profiles(
        rng,
        sector,
        trained,
        selection_shift=0.0,
        market_tilt=BANDUNG_MARKET_TILT,
        no_target_share=0.0,
    )
    cols["sme_id"] = np.strings.add(
        "BDG-2020-", np.strings.zfill(np.arange(1, n + 1).astype(_STR), 3)
    )
    duplicated = pd.Series(cols["name"]).duplicated().to_numpy()
    while duplicated.any():  # an office's register has no two firms of the same name
        cols["name"][duplicated] = _business_names(
            rng, sector[duplicated], cols["legal_form"][duplicated]
        )
        duplicated = pd.Series(cols["name"]).duplicated().to_numpy()
    cols.update(_personal_fields(rng, sector, cols["owner_gender"]))
    return _contract_frame(cols, COHORT_COLUMNS)


def write_training_data(out_dir: Path, *, n: int = 30_000, seed: int = 20201) -> Path:
    """Write ``training.parquet`` (list columns as list<string>) and return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = generate_profiles(n, seed=seed)
    path = out_dir / TRAINING_FILE
    table = pa.Table.from_arrays(
        [_arrow_column(frame[c], c) for c in frame.columns], schema=_arrow_schema(frame.columns)
    )
    pq.write_table(table, path, compression="zstd")
    return path


def write_example_cohort(out_dir: Path, *, seed: int = 2020) -> list[Path]:
    """Write the example cohort as an Indonesian-office CSV, an XLSX and one JSON profile."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cohort = generate_cohort(seed=seed)
    paths = [out_dir / COHORT_CSV, out_dir / COHORT_XLSX, out_dir / EXAMPLE_PROFILE]
    _write_office_csv(cohort, paths[0])
    _write_xlsx(cohort, paths[1])
    profile = _profile_to_json(cohort.iloc[0])
    paths[2].write_text(json.dumps(profile, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return paths


def _profile_to_json(row: pd.Series) -> dict[str, object]:
    """One frame row as a JSON-ready contract object; missing optional values are left out."""
    out: dict[str, object] = {}
    for name, value in row.items():
        if isinstance(value, list):
            out[name] = list(value)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        elif isinstance(value, np.bool_ | bool):
            out[name] = bool(value)
        elif isinstance(value, np.integer):
            out[name] = int(value)
        elif isinstance(value, np.floating | float):
            number = float(value)
            is_int_field = (
                name in fields.FIELD_BY_NAME and fields.FIELD_BY_NAME[name].kind is Kind.INT
            )
            out[name] = int(number) if is_int_field else number
        else:
            out[name] = str(value)
    return out


# --------------------------------------------------------------------------- the generator


def _draw_profiles(
    rng: np.random.Generator,
    sector: np.ndarray,
    trained: np.ndarray,
    *,
    selection_shift: float,
    market_tilt: Sequence[float] | None = None,
    no_target_share: float = 0.08,
) -> dict[str, np.ndarray]:
    """Draw every profile column (enums as codes, lists as bit masks) for the given rows."""
    n = len(sector)
    table = [SECTOR_PROFILES[s] for s in SECTORS]
    t = trained.astype(float)
    # Latent capability; competitive coaching programmes admit stronger firms.
    z = rng.standard_normal(n) + selection_shift * t

    female = np.array([p.female_owners for p in table])[sector]
    u = rng.random(n)
    gender = np.where(u >= 0.95, 2, np.where(u < 0.95 * female, 0, 1))

    age = np.clip(np.floor(np.exp(np.log(8.0) + 0.25 * z + 0.7 * rng.standard_normal(n))), 0, 70)
    median_employees = np.array([p.employees for p in table])[sector]
    employees = np.exp(np.log1p(median_employees) + 0.6 * z + 0.7 * rng.standard_normal(n)) - 1
    employees = np.clip(np.round(employees), 0, 5_000).astype(np.int64)
    log_emp = np.log1p(employees)
    per_worker = np.array([p.revenue_per_worker for p in table])[sector]
    revenue = np.exp(
        np.log(per_worker)
        + 0.9 * np.log(np.maximum(employees, 1))
        + 0.25 * z
        + 0.5 * rng.standard_normal(n)
    )
    revenue = np.round(np.minimum(revenue, 1e13), -3)

    form_score = 0.9 * z + 0.6 * log_emp + rng.logistic(size=n)
    legal = np.where(form_score < 2.0, 0, np.where(form_score < 3.3, 1, 2))  # individual, cv, pt
    u = rng.random(n)
    legal = np.where(u < 0.04, 3, np.where(u < 0.06, 4, legal))  # cooperative, other
    legal = np.where(rng.random(n) < 0.06, -1, legal)  # not given

    hs_code = _pick_ragged(rng, [p.hs_codes for p in table], sector)
    hs_code = np.where(rng.random(n) < 0.08, None, hs_code.astype(object))

    units = np.array([p.units_per_worker for p in table])[sector]
    capacity = np.round(
        units * np.maximum(employees, 1) * np.exp(0.2 * z + 0.5 * rng.standard_normal(n))
    )
    capacity = np.where(rng.random(n) < 0.15, np.nan, capacity)
    utilization = np.round(np.clip(rng.beta(4.0, 3.0, size=n), 0.05, 1.0), 2)
    utilization = np.where(rng.random(n) < 0.15, np.nan, utilization)

    def coin(logit: np.ndarray) -> np.ndarray:
        return rng.random(n) < _sigmoid(logit)

    has_nib = coin(-0.2 + 0.9 * z + 0.3 * log_emp + 1.5 * t)
    has_npwp = coin(0.3 + 0.8 * z + 0.3 * log_emp + 0.8 * t)
    trademark = coin(-1.8 + 0.8 * z + 0.5 * t)
    quality_control = coin(-0.6 + 0.8 * z + 0.6 * t)
    continuity = coin(-0.4 + 0.6 * z + 0.3 * log_emp)
    social = coin(0.8 + 0.5 * z + 0.5 * t)
    website = coin(-1.3 + 0.9 * z + 0.5 * t)
    catalog = coin(-2.2 + 0.8 * z + 1.0 * t + 0.8 * website)
    b2b = coin(-2.0 + 0.7 * z + 0.8 * t)
    finance = coin(-0.7 + 0.6 * z + 0.3 * log_emp + 0.3 * t)

    certifications = _draw_certificates(rng, sector, z, t)

    has_exported = coin(-2.9 + 1.0 * z + 0.3 * np.log1p(age) + 0.3 * t)
    years = 1 + rng.poisson(0.25 * age * _sigmoid(z))
    export_years = np.where(has_exported, np.minimum(years, np.maximum(age, 1)), 0).astype(np.int64)
    value = np.exp(np.log(20_000.0) + 0.5 * log_emp + 0.4 * z + 0.8 * rng.standard_normal(n))
    value = np.minimum(value, 0.8 * revenue / IDR_PER_USD)
    sold_last_year = has_exported & (rng.random(n) < 0.8)
    export_value = np.where(sold_last_year, np.round(value, 2), 0.0)

    weights = np.array([MARKET_WEIGHTS[s] for s in SECTORS])[sector]
    if market_tilt is not None:
        weights = weights * np.asarray(market_tilt)
    n_sold = 1 + rng.binomial(2, np.where(export_years > 3, 0.4, 0.25))
    export_markets = np.where(has_exported, _draw_markets(rng, weights, n_sold), 0)
    n_wanted = np.where(rng.random(n) < no_target_share, 0, 1 + rng.binomial(3, 0.3, size=n))
    keep_sold = np.where(rng.random(n) < 0.5, export_markets, 0)
    target_markets = _draw_markets(rng, weights, n_wanted) | keep_sold

    exp_ = has_exported.astype(float)
    fairs = np.minimum(rng.poisson(np.exp(-1.5 + 0.6 * z + 0.7 * t + 0.6 * exp_)), 30)
    english = rng.poisson(np.exp(-1.2 + 0.5 * z + 0.4 * log_emp + 0.6 * exp_ + 0.3 * t))
    english = np.minimum(english, np.maximum(employees, 1))
    contact_rate = np.exp(
        -1.3 + 0.6 * z + 1.2 * exp_ + 0.5 * t + 0.5 * b2b + 0.3 * website + 0.3 * np.log1p(fairs)
    )
    contacts = np.minimum(rng.poisson(contact_rate * rng.gamma(1.0, 1.0, size=n)), 500)

    packaging = coin(-1.6 + 0.7 * z + 1.2 * t + 0.8 * exp_)
    incoterms = coin(-2.3 + 0.6 * z + 1.8 * t + 1.8 * exp_)
    pricing = coin(-2.2 + 0.6 * z + 1.5 * t + 1.6 * exp_)
    logistics = coin(-2.5 + 0.5 * z + 0.7 * t + 2.2 * exp_)

    return {
        "name": _business_names(rng, sector, legal),
        "sector": sector,
        "hs_code": hs_code,
        "legal_form": legal,
        "year_established": (REFERENCE_YEAR - age).astype(np.int64),
        "employees": employees,
        "annual_revenue_idr": revenue,
        "monthly_capacity_units": capacity,
        "capacity_utilization": utilization,
        "has_quality_control": quality_control,
        "can_supply_continuously": continuity,
        "has_nib": has_nib,
        "has_npwp": has_npwp,
        "trademark_registered": trademark,
        "certifications": certifications,
        "has_exported": has_exported,
        "export_years": export_years,
        "export_value_usd_last_year": export_value,
        "export_markets": export_markets.astype(np.int64),
        "target_markets": target_markets.astype(np.int64),
        "foreign_buyer_contacts": contacts.astype(np.int64),
        "trade_fairs_last_3y": fairs.astype(np.int64),
        "english_capable_staff": english.astype(np.int64),
        "completed_export_training": trained.astype(bool),
        "has_website": website,
        "has_english_catalog": catalog,
        "on_b2b_marketplace": b2b,
        "social_media_active": social,
        "export_packaging": packaging,
        "knows_incoterms": incoterms,
        "has_export_pricing": pricing,
        "has_logistics_partner": logistics,
        "access_to_finance": finance,
        "owner_gender": gender,
    }


def _draw_certificates(
    rng: np.random.Generator, sector: np.ndarray, z: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Certificate bit masks: sector-typical ones, more likely for capable and trained firms."""
    base = np.full((len(SECTORS), len(CERTIFICATIONS)), CERTIFICATE_RARE)
    for i, s in enumerate(SECTORS):
        for cert, p in CERTIFICATE_BASE[s].items():
            base[i, CERTIFICATIONS.index(cert)] = p
    slope = np.array([CERTIFICATE_SLOPE.get(c, 0.9) for c in CERTIFICATIONS])
    logit = (_logit(base)[sector] + slope * z[:, None] + 0.3 * t[:, None]).astype(np.float32)
    held = rng.random(logit.shape, dtype=np.float32) < _sigmoid(logit)
    bits = np.exp2(np.arange(len(CERTIFICATIONS)))  # exact in float64; BLAS-fast
    return (held.astype(np.float64) @ bits).astype(np.int64)


def _draw_markets(rng: np.random.Generator, weights: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Masks of ``k`` distinct markets per row, drawn by weight (Gumbel top-k)."""
    keys = np.log(weights) - np.log(-np.log(rng.random(weights.shape)))
    rows = np.arange(len(weights))
    masks = np.zeros(len(weights), dtype=np.int64)
    for j in range(min(int(k.max(initial=0)), len(MARKETS))):
        best = np.argmax(keys, axis=1)
        masks |= np.where(j < k, np.int64(1) << best.astype(np.int64), 0)
        keys[rows, best] = -np.inf
    return masks


def _bandung_sectors(n: int) -> np.ndarray:
    """Sector codes in Bandung's export mix, apportioned by largest remainder."""
    names = list(BANDUNG_SECTOR_SHARES)
    quotas = np.array([BANDUNG_SECTOR_SHARES[s] for s in names]) * n
    counts = np.floor(quotas).astype(int)
    remainder_order = np.argsort(-(quotas - counts), kind="stable")
    counts[remainder_order[: n - counts.sum()]] += 1
    return np.repeat([SECTORS.index(s) for s in names], counts)


def _business_names(rng: np.random.Generator, sector: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Names like "CV Busana Sinar Priangan": legal prefix, sector word, two name words."""
    n = len(sector)
    prefixes = [LEGAL_FORM_PREFIX[f] + " " if f in LEGAL_FORM_PREFIX else "" for f in LEGAL_FORMS]
    prefixes = np.array([*prefixes, ""], dtype=_STR)
    name = prefixes[legal]  # legal == -1 picks the trailing "" (form not given)
    name = np.strings.add(
        name, _pick_ragged(rng, [SECTOR_PROFILES[s].words for s in SECTORS], sector)
    )
    for words in (NAME_WORDS_1, NAME_WORDS_2):
        pick = np.array(words, dtype=_STR)[rng.integers(0, len(words), size=n)]
        name = np.strings.add(np.strings.add(name, " "), pick)
    return name


def _personal_fields(
    rng: np.random.Generator, sector: np.ndarray, gender: np.ndarray
) -> dict[str, np.ndarray]:
    """Synthetic owner names, phones, reserved-domain e-mails and Bandung districts."""
    n = len(sector)
    female = (gender == GENDERS.index("female")) | (
        (gender == GENDERS.index("undisclosed")) & (rng.random(n) < 0.5)
    )
    first = np.where(
        female,
        np.array(FEMALE_FIRST_NAMES, dtype=_STR)[rng.integers(0, len(FEMALE_FIRST_NAMES), n)],
        np.array(MALE_FIRST_NAMES, dtype=_STR)[rng.integers(0, len(MALE_FIRST_NAMES), n)],
    )
    last = np.array(LAST_NAMES, dtype=_STR)[rng.integers(0, len(LAST_NAMES), n)]
    owner = np.strings.add(np.strings.add(first, " "), last)
    digits = rng.integers(0, 10, size=(n, 8)).astype(_STR)
    block = [
        np.strings.add(np.strings.add(d[:, 0], d[:, 1]), np.strings.add(d[:, 2], d[:, 3]))
        for d in (digits[:, :4], digits[:, 4:])
    ]
    prefix = np.array(MOBILE_PREFIXES, dtype=_STR)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    phone = np.strings.add(np.strings.add("+62 ", prefix), np.strings.add("-", block[0]))
    phone = np.strings.add(np.strings.add(phone, "-"), block[1])
    local = np.strings.lower(np.strings.add(np.strings.add(first, "."), last))
    domain = np.array(EMAIL_DOMAINS, dtype=_STR)[rng.integers(0, len(EMAIL_DOMAINS), n)]
    email = np.strings.add(np.strings.add(local, "@"), domain)
    districts = np.array(BANDUNG_DISTRICTS, dtype=_STR)
    district = districts[rng.integers(0, len(districts), n)]
    for s, cluster in DISTRICT_CLUSTERS.items():
        in_cluster = (sector == SECTORS.index(s)) & (rng.random(n) < 0.5)
        district = np.where(in_cluster, np.array(cluster, dtype=_STR), district)
    return {
        "owner_name": owner,
        "contact_phone": phone,
        "contact_email": email,
        "district": district,
    }


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
    return _sigmoid(logit)


# --------------------------------------------------------------------------- frames and files


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


def _pick_ragged(
    rng: np.random.Generator, groups: Sequence[Sequence[str]], group: np.ndarray
) -> np.ndarray:
    """For each row, one value drawn uniformly from the row's group of strings."""
    flat = np.array([v for g in groups for v in g], dtype=_STR)
    lengths = np.array([len(g) for g in groups])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pick = offsets[group] + np.floor(rng.random(len(group)) * lengths[group]).astype(np.int64)
    return flat[pick]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _arrow_schema(columns: Sequence[str]) -> pa.Schema:
    kinds = {
        Kind.STRING: pa.string(),
        Kind.ENUM: pa.string(),
        Kind.INT: pa.int64(),
        Kind.FLOAT: pa.float64(),
        Kind.BOOL: pa.bool_(),
        Kind.ENUM_LIST: pa.list_(pa.string()),
    }
    field_of = {**fields.FIELD_BY_NAME, LABEL: fields.LABEL_FIELD}
    return pa.schema([pa.field(c, kinds[field_of[c].kind]) for c in columns])


def _arrow_column(series: pd.Series, name: str) -> pa.Array:
    kind = (fields.LABEL_FIELD if name == LABEL else fields.FIELD_BY_NAME[name]).kind
    arrow_type = _arrow_schema([name]).field(0).type
    if kind is Kind.ENUM_LIST:
        return pa.array(series.tolist(), type=arrow_type)
    return pa.array(series.to_numpy(dtype=object), type=arrow_type, from_pandas=True)


# Excel in an Indonesian locale: ";" separator, decimal comma, "." thousands, Ya/Tidak.
_MONEY_FIELDS = ("annual_revenue_idr", "export_value_usd_last_year")


def _office_cell(value: object, name: str) -> str:
    """How Excel (Indonesian locale) writes one cell to CSV."""
    if isinstance(value, list):
        return ", ".join(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "Ya" if value else "Tidak"
    if name in _MONEY_FIELDS:
        return f"{float(value):,.2f}".translate(str.maketrans(",.", ".,"))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer():
            return str(int(number))
        return repr(number).replace(".", ",")
    return str(value)


def _write_office_csv(frame: pd.DataFrame, path: Path) -> None:
    lines = [";".join(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append(";".join(_office_cell(v, c) for v, c in zip(row, frame.columns, strict=True)))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Native numbers and booleans, lists as "A, B"; fixed timestamps, so the bytes are stable."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "profiles"
    sheet.append(list(frame.columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in frame.itertuples(index=False):
        sheet.append([_xlsx_cell(v) for v in row])
    for j, name in enumerate(frame.columns, start=1):
        letter = sheet.cell(row=1, column=j).column_letter
        sheet.column_dimensions[letter].width = max(12, min(40, len(name) + 2))
        if name in _MONEY_FIELDS:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "#,##0.00"
    sheet.freeze_panes = "A2"
    fixed = pd.Timestamp(f"{REFERENCE_YEAR}-01-01").to_pydatetime()
    workbook.properties.created = fixed
    workbook.properties.modified = fixed
    workbook.properties.creator = "scoring.model.synth"

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()  # unlike Workbook.save, keeps our timestamps
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            stable = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            stable.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(stable, source.read(info.filename))


def _xlsx_cell(value: object) -> object:
    if isinstance(value, list):
        return ", ".join(value) if value else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
