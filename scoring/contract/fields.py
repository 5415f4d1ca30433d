"""The SME profile contract as one table of fields.

Every validator (the marshmallow schema for JSON, the vectorised validator for
files) and every encoder is derived from ``FIELDS``, so the contract lives in
one place. List fields are held in the canonical profile frame as ``int64``
bit masks, one bit per allowed value, so membership tests are vectorised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Kind(StrEnum):
    STRING = "string"
    ENUM = "enum"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    ENUM_LIST = "enum_list"


SECTORS = (
    "apparel",
    "textile",
    "footwear_leather",
    "jewelry_accessories",
    "handicraft",
    "furniture_wood",
    "food_beverage",
    "cosmetics_herbal",
    "medical_devices",
    "other",
)
LEGAL_FORMS = ("individual", "cv", "pt", "cooperative", "other")
CERTIFICATIONS = (
    "SNI",
    "HALAL",
    "BPOM",
    "PIRT",
    "HACCP",
    "ISO9001",
    "ISO22000",
    "ISO13485",
    "GMP",
    "CE",
    "FDA",
    "SVLK",
    "OEKOTEX",
    "ORGANIC",
    "FSC",
)
MARKETS = ("EU", "US", "JP", "CN", "GCC", "ASEAN", "AU", "OTHER")
GENDERS = ("female", "male", "undisclosed")

SME_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
HS_CODE_PATTERN = r"^[0-9]{4,10}$"

#: Words accepted for booleans in files and JSON (compared after strip + lower-case).
TRUE_WORDS = frozenset({"true", "1", "ya", "y", "yes", "t", "benar", "ada"})
FALSE_WORDS = frozenset({"false", "0", "tidak", "n", "no", "f", "salah", "tidak ada"})

LABEL = "exported_within_12m"


def current_year() -> int:
    return dt.datetime.now(dt.UTC).year


@dataclass(frozen=True)
class Field:
    """One profile field: its type, whether it is required, and its allowed values."""

    name: str
    kind: Kind
    required: bool = False
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    max_length: int | None = None
    personal: bool = False
    help: str = ""

    @property
    def max_value(self) -> float | None:
        """Upper bound; ``year_established`` is bounded by the current year."""
        if self.name == "year_established":
            return float(current_year())
        return self.max


_F = Field
FIELDS: tuple[Field, ...] = (
    _F(
        "sme_id",
        Kind.STRING,
        required=True,
        pattern=SME_ID_PATTERN,
        max_length=64,
        help="Identifier of the SME in the office's records.",
    ),
    _F("name", Kind.STRING, required=True, max_length=200, help="Business name."),
    _F("sector", Kind.ENUM, required=True, choices=SECTORS, help="Main sector."),
    _F(
        "hs_code",
        Kind.STRING,
        pattern=HS_CODE_PATTERN,
        max_length=10,
        help="Harmonized System code of the main product, 4 to 10 digits.",
    ),
    _F("legal_form", Kind.ENUM, choices=LEGAL_FORMS, help="Legal form of the business."),
    _F("year_established", Kind.INT, required=True, min=1900, help="Year the business started."),
    _F("employees", Kind.INT, required=True, min=0, max=100_000, help="Number of workers."),
    _F(
        "annual_revenue_idr",
        Kind.FLOAT,
        required=True,
        min=0,
        max=1e15,
        help="Turnover over the last 12 months, in rupiah.",
    ),
    _F(
        "monthly_capacity_units",
        Kind.INT,
        min=0,
        max=1e12,
        help="Units that can be produced in a month.",
    ),
    _F("capacity_utilization", Kind.FLOAT, min=0, max=1, help="Share of capacity in use, 0 to 1."),
    _F("has_quality_control", Kind.BOOL, help="Documented quality control or quality SOP."),
    _F("can_supply_continuously", Kind.BOOL, help="Can guarantee steady supply for repeat orders."),
    _F(
        "has_nib",
        Kind.BOOL,
        required=True,
        help="Has a business ID (NIB) through OSS, also the customs access ID.",
    ),
    _F("has_npwp", Kind.BOOL, required=True, help="Has a tax ID (NPWP)."),
    _F("trademark_registered", Kind.BOOL, help="Trademark registered with DJKI."),
    _F(
        "certifications",
        Kind.ENUM_LIST,
        choices=CERTIFICATIONS,
        help="Certificates held, separated by ';' or ','.",
    ),
    _F("has_exported", Kind.BOOL, help="Has exported before."),
    _F("export_years", Kind.INT, min=0, max=200, help="Years with exports; 0 if never exported."),
    _F(
        "export_value_usd_last_year",
        Kind.FLOAT,
        min=0,
        max=1e13,
        help="Export value over the last year, in US dollars.",
    ),
    _F("export_markets", Kind.ENUM_LIST, choices=MARKETS, help="Markets already sold to."),
    _F("target_markets", Kind.ENUM_LIST, choices=MARKETS, help="Markets the SME wants to enter."),
    _F(
        "foreign_buyer_contacts",
        Kind.INT,
        min=0,
        max=1_000_000,
        help="Buyer inquiries or contacts in the last 12 months.",
    ),
    _F(
        "trade_fairs_last_3y",
        Kind.INT,
        min=0,
        max=10_000,
        help="Trade fairs attended or exhibited at in the last 3 years.",
    ),
    _F(
        "english_capable_staff",
        Kind.INT,
        min=0,
        max=100_000,
        help="Staff who can handle buyers in English.",
    ),
    _F("completed_export_training", Kind.BOOL, help="Finished an export training programme."),
    _F("has_website", Kind.BOOL, help="Has a business website."),
    _F("has_english_catalog", Kind.BOOL, help="Has a product catalogue in English."),
    _F("on_b2b_marketplace", Kind.BOOL, help="Listed on a B2B marketplace."),
    _F("social_media_active", Kind.BOOL, help="Active business social media."),
    _F("export_packaging", Kind.BOOL, help="Packaging and labelling meet export standards."),
    _F("knows_incoterms", Kind.BOOL, help="Knows Incoterms (FOB, CIF, EXW...)."),
    _F("has_export_pricing", Kind.BOOL, help="FOB/CIF export costing done."),
    _F(
        "has_logistics_partner",
        Kind.BOOL,
        help="Has a freight forwarder or export logistics partner.",
    ),
    _F("access_to_finance", Kind.BOOL, help="Bank, KUR or export credit available."),
    _F(
        "owner_gender",
        Kind.ENUM,
        choices=GENDERS,
        personal=True,
        help="Used only to audit fairness; never a model input or rule condition.",
    ),
    _F("owner_name", Kind.STRING, max_length=200, personal=True, help="Owner's name."),
    _F("contact_phone", Kind.STRING, max_length=50, personal=True, help="Contact phone."),
    _F("contact_email", Kind.STRING, max_length=254, personal=True, help="Contact e-mail."),
    _F("district", Kind.STRING, max_length=100, personal=True, help="District (kecamatan)."),
)
del _F

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
LABEL_FIELD = Field(LABEL, Kind.BOOL, required=True, help="Exported within 12 months.")

#: Columns of the canonical profile frame (everything but personal data), in contract order.
PROFILE_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if not f.personal)
#: Personal and audit-only columns, kept apart from scoring inputs.
PERSONAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.personal)
BOOL_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind is Kind.BOOL)
#: Booleans that may be left out: they count as false and are reported in ``assumed``.
OPTIONAL_BOOL_FIELDS: tuple[str, ...] = tuple(
    f.name for f in FIELDS if f.kind is Kind.BOOL and not f.required
)
#: Number fields; one given as ambiguous spreadsheet text ("12.500") is reported in ``assumed``.
NUMBER_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind in (Kind.INT, Kind.FLOAT))
#: What a score's ``assumed`` may list, in this order: booleans left out (counted as false),
#: then numbers whose text was read by the documented rule for ambiguous text.
ASSUMED_FIELDS: tuple[str, ...] = OPTIONAL_BOOL_FIELDS + NUMBER_FIELDS
LIST_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind is Kind.ENUM_LIST)
ALL_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)

#: Direction in which a field makes an SME more ready: +1 more is better, -1 less is better
#: (``year_established``: an older firm). The rules refuse conditions that could fail when one of
#: these improves, and the model is constrained to be monotone in them, so a new certificate,
#: NIB, buyer contact or trade fair never lowers a score.
BETTER: dict[str, int] = {
    **dict.fromkeys(BOOL_FIELDS, 1),
    **dict.fromkeys(
        (
            "certifications",
            "export_markets",
            "employees",
            "annual_revenue_idr",
            "monthly_capacity_units",
            "export_years",
            "export_value_usd_last_year",
            "foreign_buyer_contacts",
            "trade_fairs_last_3y",
            "english_capable_staff",
        ),
        1,
    ),
    "year_established": -1,
}


def bit(field: str, value: str) -> int:
    """The bit that stands for ``value`` in the mask of list field ``field``."""
    return 1 << FIELD_BY_NAME[field].choices.index(value)


def list_to_mask(field: str, values: list[str] | tuple[str, ...]) -> int:
    mask = 0
    for value in values:
        mask |= bit(field, value)
    return mask


def mask_to_list(field: str, mask: int) -> list[str]:
    """Values of a mask in the contract's order of choices."""
    return [v for i, v in enumerate(FIELD_BY_NAME[field].choices) if mask >> i & 1]


def masks_to_lists(field: str, masks: np.ndarray) -> list[list[str]]:
    """Decode a column of masks; each distinct mask is decoded once."""
    uniques, inverse = np.unique(np.asarray(masks, dtype=np.int64), return_inverse=True)
    decoded = [mask_to_list(field, int(m)) for m in uniques]
    return [list(decoded[i]) for i in inverse.ravel()]


def has_value(masks: np.ndarray, field: str, value: str) -> np.ndarray:
    """Vectorised membership: which masks contain ``value``."""
    return (np.asarray(masks, dtype=np.int64) & bit(field, value)) != 0


def count_values(masks: np.ndarray) -> np.ndarray:
    """Number of values in each mask."""
    return np.bitwise_count(np.asarray(masks, dtype=np.int64).astype(np.uint64)).astype(np.int64)
