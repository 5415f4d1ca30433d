"""The outcome contract: support decisions and export follow-ups as the API, the pages and
outcome files give them, their allowed values (named in ``scoring/labels/outcomes.*.yaml``)
and their checks.

A follow-up row from a file is read like a profile row from an office's spreadsheet: blank
and "-" cells are empty, ``Ya``/``Tidak`` are booleans, numbers may be written the
Indonesian way, values may be given by their names on the staff pages in either language,
and dates may be ISO (``2026-03-14``), day first (``14/03/2026``, ``14-03-2026``,
``14.03.2026``), with a month name in either language (``14 Maret 2026``) or a date cell.
Every problem of a row is reported at once, each naming its field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from scoring.contract.cells import LIST_SEPARATORS, is_missing, number_from_text, strip_text
from scoring.contract.choices import choice_key, choice_lookup
from scoring.contract.fields import FALSE_WORDS, MARKETS, SME_ID_PATTERN, TRUE_WORDS
from scoring.contract.messages import MISSING, PATTERN_MESSAGES, TOO_LONG, UNKNOWN_VALUE

LABELS_DIR = Path(__file__).resolve().parents[1] / "labels"
LANGUAGES = ("id", "en")

#: The columns of an outcome file, in the template's order; the first four are required.
OUTCOME_COLUMNS = (
    "sme_id",
    "followup_date",
    "exported",
    "learned_via",
    "first_export_date",
    "destination_markets",
    "export_value_usd",
    "contracts",
    "note",
)
REQUIRED_OUTCOME_COLUMNS = OUTCOME_COLUMNS[:4]
#: A free-text note or reason: long enough for a sentence or two, never a document.
TEXT_MAX = 1000
#: Export values above this (USD) are taken for a typing mistake.
MAX_EXPORT_VALUE_USD = 1e10
MAX_CONTRACTS = 100_000
#: The first date any record may carry (the office's programmes are younger).
EARLIEST_DATE = dt.date(2000, 1, 1)

NOT_A_DATE = "Not a valid date; write it as 2026-03-14 or 14/03/2026."
IN_THE_FUTURE = "Must not be in the future."
TOO_EARLY = f"Must not be before {EARLIEST_DATE.isoformat()}."
EXPORT_AFTER_FOLLOWUP = "Must not be after the follow-up date."
ONLY_WHEN_EXPORTED = "Must be empty when exported is no."
NOT_NON_NEGATIVE = "Must be at least 0."
TOO_LARGE = "Must be at most {max}."
NOT_WHOLE_NUMBER = "Must be a whole number."
NOT_NUMBER = "Not a valid number."
NOT_BOOLEAN = "Not a valid boolean."
REQUIRED_FOR_OTHER = "Required when support_kind is other."
REQUIRED_FOR_SUPPORT = "Required when decision is support."
REQUIRED_FOR_NO_SUPPORT = "Required when decision is no_support: say why."
ONLY_FOR_SUPPORT = "Must be empty when decision is no_support."

_SME_ID_RE = re.compile(SME_ID_PATTERN)
_LIST_SPLIT = re.compile(LIST_SEPARATORS)

#: Month names, both languages and their usual abbreviations, by month number.
_MONTHS = {
    **{
        name: i + 1
        for i, names in enumerate(
            (
                ("januari", "january", "jan"),
                ("februari", "february", "feb", "pebruari"),
                ("maret", "march", "mar"),
                ("april", "apr"),
                ("mei", "may"),
                ("juni", "june", "jun"),
                ("juli", "july", "jul"),
                ("agustus", "august", "agu", "agt", "aug"),
                ("september", "sep", "sept"),
                ("oktober", "october", "okt", "oct"),
                ("november", "nopember", "nov", "nop"),
                ("desember", "december", "des", "dec"),
            )
        )
        for name in names
    }
}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]00:00(?::00(?:\.0+)?)?)?$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_NAMED_MONTH = re.compile(r"^(\d{1,2})[ \-]([A-Za-z]+)\.?[ \-,]+(\d{4})$")


@cache
def outcome_labels(lang: str) -> dict[str, dict[str, str]]:
    """``{"decision"|"support_kind"|"learned_via": {value: name}}`` in ``lang``."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    path = LABELS_DIR / f"outcomes.{lang}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {section: {k: str(v) for k, v in values.items()} for section, values in data.items()}


DECISIONS: tuple[str, ...] = tuple(outcome_labels("en")["decision"])
SUPPORT_KINDS: tuple[str, ...] = tuple(outcome_labels("en")["support_kind"])
LEARNED_VIA: tuple[str, ...] = tuple(outcome_labels("en")["learned_via"])


@cache
def _value_lookup(section: str) -> dict[str, str]:
    """``choice_key(text) -> value`` for a section's values and their names in both languages."""
    lookup: dict[str, str] = {}
    for lang in LANGUAGES:
        for value, name in outcome_labels(lang)[section].items():
            lookup[choice_key(value)] = value
            lookup[choice_key(name)] = value
    return lookup


@cache
def _market_lookup() -> dict[str, str]:
    """Markets by code or by their names in the ruleset, as the profile's market lists."""
    return choice_lookup("export_markets")


def error(field: str, message: str) -> dict:
    return {"field": field, "message": message}


# --- single values ----------------------------------------------------------------------------


def parse_date(value: Any) -> dt.date:
    """The date a cell or JSON value stands for; ``ValueError(NOT_A_DATE)`` if none."""
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            raise ValueError(NOT_A_DATE)
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(NOT_A_DATE)
    text = strip_text(value)
    try:
        if match := _ISO_DATE.match(text):
            year, month, day = (int(g) for g in match.groups())
        elif match := _DAY_FIRST.match(text):
            day, month, year = (int(g) for g in match.groups())
        elif match := _NAMED_MONTH.match(text):
            day, year = int(match.group(1)), int(match.group(3))
            month = _MONTHS[match.group(2).lower()]
        else:
            raise ValueError(NOT_A_DATE)
        return dt.date(year, month, day)
    except (KeyError, ValueError) as exc:
        raise ValueError(NOT_A_DATE) from exc


def check_date(field: str, day: dt.date, *, today: dt.date) -> list[dict]:
    if day > today:
        return [error(field, IN_THE_FUTURE)]
    if day < EARLIEST_DATE:
        return [error(field, TOO_EARLY)]
    return []


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = strip_text(value).lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError(NOT_BOOLEAN)


def _number(value: Any, decimal: str) -> float:
    if isinstance(value, bool):
        raise ValueError(NOT_NUMBER)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        parsed = number_from_text(strip_text(value), decimal)
        if parsed is None:
            raise ValueError(NOT_NUMBER)
        number = parsed
    else:
        raise ValueError(NOT_NUMBER)
    if not math.isfinite(number):
        raise ValueError(NOT_NUMBER)
    return number


def _choice(section: str, value: Any, choices: tuple[str, ...]) -> str:
    text = strip_text(str(value))
    found = _value_lookup(section).get(choice_key(text))
    if found is None:
        raise ValueError(UNKNOWN_VALUE.format(input=text, choices=", ".join(choices)))
    return found


def _markets(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else _LIST_SPLIT.split(str(value))
    markets: list[str] = []
    for item in items:
        text = strip_text(str(item))
        if not text:
            continue
        market = _market_lookup().get(choice_key(text))
        if market is None:
            raise ValueError(UNKNOWN_VALUE.format(input=text, choices=", ".join(MARKETS)))
        if market not in markets:
            markets.append(market)
    return markets


def _text(value: Any) -> str:
    text = strip_text(str(value))
    if len(text) > TEXT_MAX:
        raise ValueError(TOO_LONG.format(max=TEXT_MAX))
    return text


# --- follow-ups -------------------------------------------------------------------------------


def read_outcome(
    row: Mapping[str, Any], *, today: dt.date, decimal: str = "."
) -> tuple[dict, list[dict]]:
    """A follow-up record from one row of a file (or one JSON object) and its problems.

    The record has every column of ``OUTCOME_COLUMNS`` (None when empty; dates as
    ``datetime.date``); the problems are ``{field, message}``, all of them at once.
    """
    record: dict[str, Any] = dict.fromkeys(OUTCOME_COLUMNS)
    record["destination_markets"] = []
    errors: list[dict] = []
    readers = {
        "sme_id": _sme_id,
        "followup_date": parse_date,
        "exported": _boolean,
        "learned_via": lambda v: _choice("learned_via", v, LEARNED_VIA),
        "first_export_date": parse_date,
        "destination_markets": _markets,
        "export_value_usd": lambda v: _number(v, decimal),
        "contracts": lambda v: _number(v, decimal),
        "note": _text,
    }
    for name, read in readers.items():
        value = row.get(name)
        if is_missing(value) or (isinstance(value, list | tuple) and not value):
            if name in REQUIRED_OUTCOME_COLUMNS:
                errors.append(error(name, MISSING))
            continue
        try:
            record[name] = read(value)
        except ValueError as exc:
            errors.append(error(name, str(exc)))
    errors += outcome_problems(record, today=today, failed={e["field"] for e in errors})
    return record, errors


def _sme_id(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = strip_text(str(value))
    if not _SME_ID_RE.match(text):
        raise ValueError(PATTERN_MESSAGES[SME_ID_PATTERN])
    return text


def outcome_problems(record: Mapping[str, Any], *, today: dt.date, failed=frozenset()) -> list:
    """The checks of a follow-up that span fields or need today's date (``failed``: fields
    already found wrong, not judged again)."""
    errors: list[dict] = []
    followup = record.get("followup_date")
    for name in ("followup_date", "first_export_date"):
        if record.get(name) is not None and name not in failed:
            errors += check_date(name, record[name], today=today)
    first = record.get("first_export_date")
    if first is not None and followup is not None and first > followup and not errors:
        errors.append(error("first_export_date", EXPORT_AFTER_FOLLOWUP))
    if record.get("exported") is False:
        for name in ("first_export_date", "destination_markets", "export_value_usd", "contracts"):
            if record.get(name) not in (None, []) and name not in failed:
                errors.append(error(name, ONLY_WHEN_EXPORTED))
    value = record.get("export_value_usd")
    if value is not None and "export_value_usd" not in failed:
        if value < 0:
            errors.append(error("export_value_usd", NOT_NON_NEGATIVE))
        elif value > MAX_EXPORT_VALUE_USD:
            errors.append(error("export_value_usd", TOO_LARGE.format(max="10000000000")))
    contracts = record.get("contracts")
    if contracts is not None and "contracts" not in failed:
        if not float(contracts).is_integer():
            errors.append(error("contracts", NOT_WHOLE_NUMBER))
        elif contracts < 0:
            errors.append(error("contracts", NOT_NON_NEGATIVE))
        elif contracts > MAX_CONTRACTS:
            errors.append(error("contracts", TOO_LARGE.format(max=MAX_CONTRACTS)))
    return errors


def outcome_record(record: Mapping[str, Any]) -> dict:
    """A follow-up with contract types: ``contracts`` a whole number, markets a list."""
    out = {name: record.get(name) for name in OUTCOME_COLUMNS}
    if out["contracts"] is not None:
        out["contracts"] = int(out["contracts"])
    out["destination_markets"] = list(out["destination_markets"] or [])
    return out


# --- decisions --------------------------------------------------------------------------------


def decision_problems(record: Mapping[str, Any], *, today: dt.date) -> list[dict]:
    """The checks of a support decision that span fields or need today's date."""
    errors: list[dict] = []
    if record.get("decided_on") is not None:
        errors += check_date("decided_on", record["decided_on"], today=today)
    kind = record.get("support_kind")
    if record.get("decision") == "support":
        if kind is None:
            errors.append(error("support_kind", REQUIRED_FOR_SUPPORT))
        elif kind == "other" and not (record.get("support_other") or "").strip():
            errors.append(error("support_other", REQUIRED_FOR_OTHER))
    elif record.get("decision") == "no_support":
        if not (record.get("reason") or "").strip():
            errors.append(error("reason", REQUIRED_FOR_NO_SUPPORT))
        for name in ("support_kind", "support_other"):
            if record.get(name):
                errors.append(error(name, ONLY_FOR_SUPPORT))
    return errors
