"""How synthetic firms and their owners are drawn: sector tables, a latent capability behind
size, age, certificates, markets and practices, business names and contact details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from scoring.contract.fields import CERTIFICATIONS, GENDERS, LEGAL_FORMS, MARKETS, SECTORS

#: Year the synthetic profiles describe; fixed so that a seed gives the same data every year.
REFERENCE_YEAR = 2026
#: Rupiah per US dollar used to keep export value below turnover (a simplification).
IDR_PER_USD = 15_500.0
#: numpy's variable-width string dtype, in which names, codes and contacts are built.
STRING = np.dtypes.StringDType()

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
MOBILE_PREFIXES = ("811", "812", "813", "821", "822", "852", "853", "857", "877", "878", "896")
#: Reserved example domains (RFC 2606): no real mailbox can receive these addresses.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")

# --------------------------------------------------------------------------- the generator


def draw_profiles(
    rng: np.random.Generator,
    sector: np.ndarray,
    trained: np.ndarray,
    *,
    selection_shift: float,
    market_tilt: Sequence[float] | None = None,
    no_target_share: float = 0.08,
) -> dict[str, np.ndarray]:
    """Draw every profile column (enums as codes, lists as bit masks) for the given rows.

    The steps below draw from the one random stream in a fixed order, and that order is part
    of what a seed means: the files in data/ are checked byte for byte against it.
    """
    n = len(sector)
    table = [SECTOR_PROFILES[s] for s in SECTORS]
    t = trained.astype(float)
    # Latent capability; competitive coaching programmes admit stronger firms.
    z = rng.standard_normal(n) + selection_shift * t

    female = np.array([p.female_owners for p in table])[sector]
    u = rng.random(n)
    gender = np.where(u >= 0.95, 2, np.where(u < 0.95 * female, 0, 1))

    cols, age = _draw_firm(rng, table, sector, z)
    log_emp = np.log1p(cols["employees"])
    cols.update(_draw_practices(rng, z, t, log_emp))
    cols["certifications"] = _draw_certificates(rng, sector, z, t)
    weights = np.array([MARKET_WEIGHTS[s] for s in SECTORS])[sector]
    if market_tilt is not None:
        weights = weights * np.asarray(market_tilt)
    cols.update(
        _draw_exports(rng, z, t, age, log_emp, cols["annual_revenue_idr"], weights, no_target_share)
    )
    cols.update(_draw_outreach(rng, z, t, log_emp, cols))
    cols["name"] = business_names(rng, sector, cols["legal_form"])
    cols["sector"] = sector
    cols["completed_export_training"] = trained.astype(bool)
    cols["owner_gender"] = gender
    return cols


def _coin(rng: np.random.Generator, logit: np.ndarray) -> np.ndarray:
    """One yes/no per row, yes with probability sigmoid(logit)."""
    return rng.random(len(logit)) < sigmoid(logit)


def _draw_firm(
    rng: np.random.Generator, table: Sequence[SectorProfile], sector: np.ndarray, z: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Age, size, turnover, legal form, product and capacity (more for more capable firms);
    the columns and the firms' ages in years."""
    n = len(sector)
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
    columns = {
        "hs_code": hs_code,
        "legal_form": legal,
        "year_established": (REFERENCE_YEAR - age).astype(np.int64),
        "employees": employees,
        "annual_revenue_idr": revenue,
        "monthly_capacity_units": capacity,
        "capacity_utilization": utilization,
    }
    return columns, age


def _draw_practices(
    rng: np.random.Generator, z: np.ndarray, t: np.ndarray, log_emp: np.ndarray
) -> dict[str, np.ndarray]:
    """Registrations, quality, digital presence and finance: coins weighted by capability."""
    out = {
        "has_nib": _coin(rng, -0.2 + 0.9 * z + 0.3 * log_emp + 1.5 * t),
        "has_npwp": _coin(rng, 0.3 + 0.8 * z + 0.3 * log_emp + 0.8 * t),
        "trademark_registered": _coin(rng, -1.8 + 0.8 * z + 0.5 * t),
        "has_quality_control": _coin(rng, -0.6 + 0.8 * z + 0.6 * t),
        "can_supply_continuously": _coin(rng, -0.4 + 0.6 * z + 0.3 * log_emp),
        "social_media_active": _coin(rng, 0.8 + 0.5 * z + 0.5 * t),
    }
    website = _coin(rng, -1.3 + 0.9 * z + 0.5 * t)
    out["has_website"] = website
    out["has_english_catalog"] = _coin(rng, -2.2 + 0.8 * z + 1.0 * t + 0.8 * website)
    out["on_b2b_marketplace"] = _coin(rng, -2.0 + 0.7 * z + 0.8 * t)
    out["access_to_finance"] = _coin(rng, -0.7 + 0.6 * z + 0.3 * log_emp + 0.3 * t)
    return out


def _draw_exports(
    rng: np.random.Generator,
    z: np.ndarray,
    t: np.ndarray,
    age: np.ndarray,
    log_emp: np.ndarray,
    revenue: np.ndarray,
    weights: np.ndarray,
    no_target_share: float,
) -> dict[str, np.ndarray]:
    """Export history, value, markets sold to and markets wanted (``weights`` per market)."""
    n = len(z)
    has_exported = _coin(rng, -2.9 + 1.0 * z + 0.3 * np.log1p(age) + 0.3 * t)
    years = 1 + rng.poisson(0.25 * age * sigmoid(z))
    export_years = np.where(has_exported, np.minimum(years, np.maximum(age, 1)), 0).astype(np.int64)
    value = np.exp(np.log(20_000.0) + 0.5 * log_emp + 0.4 * z + 0.8 * rng.standard_normal(n))
    value = np.minimum(value, 0.8 * revenue / IDR_PER_USD)
    sold_last_year = has_exported & (rng.random(n) < 0.8)
    export_value = np.where(sold_last_year, np.round(value, 2), 0.0)

    n_sold = 1 + rng.binomial(2, np.where(export_years > 3, 0.4, 0.25))
    export_markets = np.where(has_exported, _draw_markets(rng, weights, n_sold), 0)
    n_wanted = np.where(rng.random(n) < no_target_share, 0, 1 + rng.binomial(3, 0.3, size=n))
    keep_sold = np.where(rng.random(n) < 0.5, export_markets, 0)
    target_markets = _draw_markets(rng, weights, n_wanted) | keep_sold
    return {
        "has_exported": has_exported,
        "export_years": export_years,
        "export_value_usd_last_year": export_value,
        "export_markets": export_markets.astype(np.int64),
        "target_markets": target_markets.astype(np.int64),
    }


def _draw_outreach(
    rng: np.random.Generator,
    z: np.ndarray,
    t: np.ndarray,
    log_emp: np.ndarray,
    cols: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Fairs, English-capable staff, buyer contacts and export practices, which grow with
    export experience, training and the channels already drawn in ``cols``."""
    n = len(z)
    exp_ = cols["has_exported"].astype(float)
    fairs = np.minimum(rng.poisson(np.exp(-1.5 + 0.6 * z + 0.7 * t + 0.6 * exp_)), 30)
    english = rng.poisson(np.exp(-1.2 + 0.5 * z + 0.4 * log_emp + 0.6 * exp_ + 0.3 * t))
    english = np.minimum(english, np.maximum(cols["employees"], 1))
    contact_rate = np.exp(
        -1.3
        + 0.6 * z
        + 1.2 * exp_
        + 0.5 * t
        + 0.5 * cols["on_b2b_marketplace"]
        + 0.3 * cols["has_website"]
        + 0.3 * np.log1p(fairs)
    )
    contacts = np.minimum(rng.poisson(contact_rate * rng.gamma(1.0, 1.0, size=n)), 500)
    return {
        "foreign_buyer_contacts": contacts.astype(np.int64),
        "trade_fairs_last_3y": fairs.astype(np.int64),
        "english_capable_staff": english.astype(np.int64),
        "export_packaging": _coin(rng, -1.6 + 0.7 * z + 1.2 * t + 0.8 * exp_),
        "knows_incoterms": _coin(rng, -2.3 + 0.6 * z + 1.8 * t + 1.8 * exp_),
        "has_export_pricing": _coin(rng, -2.2 + 0.6 * z + 1.5 * t + 1.6 * exp_),
        "has_logistics_partner": _coin(rng, -2.5 + 0.5 * z + 0.7 * t + 2.2 * exp_),
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
    held = rng.random(logit.shape, dtype=np.float32) < sigmoid(logit)
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


def business_names(rng: np.random.Generator, sector: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Names like "CV Busana Sinar Priangan": legal prefix, sector word, two name words."""
    n = len(sector)
    prefixes = [LEGAL_FORM_PREFIX[f] + " " if f in LEGAL_FORM_PREFIX else "" for f in LEGAL_FORMS]
    prefixes = np.array([*prefixes, ""], dtype=STRING)
    name = prefixes[legal]  # legal == -1 picks the trailing "" (form not given)
    name = np.strings.add(
        name, _pick_ragged(rng, [SECTOR_PROFILES[s].words for s in SECTORS], sector)
    )
    for words in (NAME_WORDS_1, NAME_WORDS_2):
        pick = np.array(words, dtype=STRING)[rng.integers(0, len(words), size=n)]
        name = np.strings.add(np.strings.add(name, " "), pick)
    return name


def personal_fields(
    rng: np.random.Generator,
    sector: np.ndarray,
    gender: np.ndarray,
    *,
    districts: Sequence[str],
    clusters: Mapping[str, str],
) -> dict[str, np.ndarray]:
    """Synthetic owner names, phones, reserved-domain e-mails and a district of the city;
    half the firms of a sector with a known cluster are placed in its district."""
    n = len(sector)
    female = (gender == GENDERS.index("female")) | (
        (gender == GENDERS.index("undisclosed")) & (rng.random(n) < 0.5)
    )
    first = np.where(
        female,
        np.array(FEMALE_FIRST_NAMES, dtype=STRING)[rng.integers(0, len(FEMALE_FIRST_NAMES), n)],
        np.array(MALE_FIRST_NAMES, dtype=STRING)[rng.integers(0, len(MALE_FIRST_NAMES), n)],
    )
    last = np.array(LAST_NAMES, dtype=STRING)[rng.integers(0, len(LAST_NAMES), n)]
    owner = np.strings.add(np.strings.add(first, " "), last)
    digits = rng.integers(0, 10, size=(n, 8)).astype(STRING)
    block = [
        np.strings.add(np.strings.add(d[:, 0], d[:, 1]), np.strings.add(d[:, 2], d[:, 3]))
        for d in (digits[:, :4], digits[:, 4:])
    ]
    prefix = np.array(MOBILE_PREFIXES, dtype=STRING)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    phone = np.strings.add(np.strings.add("+62 ", prefix), np.strings.add("-", block[0]))
    phone = np.strings.add(np.strings.add(phone, "-"), block[1])
    local = np.strings.lower(np.strings.add(np.strings.add(first, "."), last))
    domain = np.array(EMAIL_DOMAINS, dtype=STRING)[rng.integers(0, len(EMAIL_DOMAINS), n)]
    email = np.strings.add(np.strings.add(local, "@"), domain)
    names = np.array(districts, dtype=STRING)
    district = names[rng.integers(0, len(names), n)]
    for s, cluster in clusters.items():
        in_cluster = (sector == SECTORS.index(s)) & (rng.random(n) < 0.5)
        district = np.where(in_cluster, np.array(cluster, dtype=STRING), district)
    return {
        "owner_name": owner,
        "contact_phone": phone,
        "contact_email": email,
        "district": district,
    }


def _pick_ragged(
    rng: np.random.Generator, groups: Sequence[Sequence[str]], group: np.ndarray
) -> np.ndarray:
    """For each row, one value drawn uniformly from the row's group of strings."""
    flat = np.array([v for g in groups for v in g], dtype=STRING)
    lengths = np.array([len(g) for g in groups])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pick = offsets[group] + np.floor(rng.random(len(group)) * lengths[group]).astype(np.int64)
    return flat[pick]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)
