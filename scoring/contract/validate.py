"""Validate whole tables of SME profiles against the contract, column by column.

Readers hand over a ``RawTable`` with values as read; this module turns it into the
canonical profile frame of the valid rows and one ``RowError`` per rejected row. The
work is vectorised per column (pandas/numpy); Python loops run only over the errors
found. The single-profile schema (``scoring.contract.schema``) shares the messages and text
rules defined here, and a property test keeps the two validators in agreement.
"""

from __future__ import annotations

import decimal
import difflib
import math
import numbers
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from scoring.contract.fields import (
    FALSE_WORDS,
    FIELD_BY_NAME,
    FIELDS,
    HS_CODE_PATTERN,
    LABEL,
    LABEL_FIELD,
    NUMBER_FIELDS,
    OPTIONAL_BOOL_FIELDS,
    PERSONAL_COLUMNS,
    PROFILE_COLUMNS,
    SME_ID_PATTERN,
    TRUE_WORDS,
    Field,
    Kind,
    list_to_mask,
    masks_to_lists,
)
from scoring.errors import FileFormatError

if TYPE_CHECKING:
    from scoring.files.readers import RawTable

# --- messages, shared with scoring.contract.schema ------------------------------------------------

MISSING = "Missing data for required field."
NOT_STRING = "Not a valid string."
NOT_INTEGER = "Not a valid integer."
NOT_WHOLE = "Must be a whole number."
NOT_NUMBER = "Not a valid number."
NOT_BOOLEAN = "Not a valid boolean."
NOT_LIST = "Not a valid list."
NOT_OBJECT = "Invalid input type."
TOO_LONG = "Longer than maximum length {max}."
UNKNOWN_VALUE = "Unknown value '{input}'. Must be one of: {choices}."
#: A personal field's value is never quoted: a row error is shown to readers and stored.
UNKNOWN_PERSONAL_VALUE = "Unknown value (not shown: personal data). Must be one of: {choices}."
DUPLICATES = "Duplicate values: {values}."
EXPORT_YEARS_WITHOUT_EXPORTS = "Must be 0 when has_exported is false."
#: A file-only rule (one JSON profile cannot repeat itself): the first row with an id wins.
DUPLICATE_ID = (
    "Duplicate sme_id: row {row} of this file has the same sme_id; only that row is kept."
)
PATTERN_MESSAGES = {
    SME_ID_PATTERN: "Must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.",
    HS_CODE_PATTERN: "Must be 4 to 10 digits.",
}


def range_message(spec: Field) -> str:
    """The out-of-range message of a number field (its bounds as the contract states them)."""
    low, high = spec.min, spec.max_value
    if low is not None and high is not None:
        return f"Must be between {_bound_text(low)} and {_bound_text(high)}."
    if low is not None:
        return f"Must be at least {_bound_text(low)}."
    return f"Must be at most {_bound_text(high)}."


def _bound_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --- text rules, shared with scoring.contract.schema ----------------------------------------------
# Defined on explicit character sets (not Unicode classes) so that Python's ``re`` in the
# schema and Arrow's RE2 kernels here give the same answer for every input.

#: Characters stripped from both ends of text; text of nothing else is blank (missing).
BLANK_CHARS = " \t\n\r\f\v\xa0\u2007\u202f\ufeff"
#: Separators between the values of a list written in one cell.
LIST_SEPARATORS = "[;,]"
#: Characters ignored when matching enum values ("Food Beverage", "ISO 9001", "OEKO-TEX").
_CHOICE_NOISE = f"[{BLANK_CHARS}_\\-]+"
_CHOICE_NOISE_RE = re.compile(_CHOICE_NOISE)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
#: Largest whole number read as text in a text field (beyond it a float is not exact).
_EXACT_WHOLE = 2.0**53


#: A cell of only one of these means "not applicable": read as empty.
NOT_APPLICABLE = ("-", "\u2013", "\u2014")
#: Written before the number of these fields and ignored ("Rp 2.400.000.000", "Rp.850.000").
CURRENCY_PREFIXES = {"annual_revenue_idr": "^[Rr][Pp]\\.?[ \xa0]*"}
#: Fields (shares 0 to 1) that may be written as percentages: "80%" is 0.8.
PERCENT = "[ \xa0]*%$"
PERCENT_FIELDS = ("capacity_utilization",)
#: Digits grouped with dots ("0901.21" for an HS code) mean the digits alone.
DOTTED_DIGITS = "^[0-9]+(?:\\.[0-9]+)+$"
DOTTED_DIGIT_FIELDS = ("hs_code",)
_CURRENCY_RE = {name: re.compile(pattern) for name, pattern in CURRENCY_PREFIXES.items()}
_PERCENT_RE = re.compile(PERCENT)
_DOTTED_DIGITS_RE = re.compile(DOTTED_DIGITS)


def field_text(name: str, text: str, decimal_mark: str = ".") -> str | float:
    """A stripped text of field ``name`` without the decorations offices add: a currency
    prefix, a percent sign (the share as a number), dots between digits; the schema's
    twin of what the table validator does to whole columns."""
    if name in _CURRENCY_RE:
        return _CURRENCY_RE[name].sub("", text, count=1)
    if name in PERCENT_FIELDS and _PERCENT_RE.search(text):
        number = number_from_text(_PERCENT_RE.sub("", text), decimal_mark)
        return text if number is None else number / 100
    if name in DOTTED_DIGIT_FIELDS and _DOTTED_DIGITS_RE.fullmatch(text):
        return text.replace(".", "")
    return text


def strip_text(text: str) -> str:
    return text.strip(BLANK_CHARS)


def fold_case(text: str) -> str:
    """ASCII lower case: every word and value of the contract is ASCII."""
    return text.translate(_ASCII_LOWER)


def choice_key(text: str) -> str:
    """Key an enum value is matched on: letter case, spaces, '_' and '-' do not matter."""
    return _CHOICE_NOISE_RE.sub("", fold_case(text))


#: Names of enum values as the staff pages show them, both languages (``choices.<lang>.yaml``);
#: market names are those of the shipped ruleset, which the pages show for markets.
CHOICE_LABELS_DIR = Path(__file__).resolve().parent / "labels"
_RULESET_FILE = Path(__file__).resolve().parent / "rulesets" / "default.yaml"
_MARKET_FIELDS = ("export_markets", "target_markets")


@cache
def choice_labels(lang: str) -> dict[str, dict[str, str]]:
    """``{field: {value: name}}`` as the staff pages show them in ``lang`` (``id`` or ``en``);
    the pages' option names are these, so files may give what the form shows."""
    path = CHOICE_LABELS_DIR / f"choices.{lang}.yaml"
    return {
        name: {value: str(label) for value, label in values.items()}
        for name, values in yaml.safe_load(path.read_text(encoding="utf-8")).items()
    }


def choice_names() -> dict[str, dict[str, list[str]]]:
    """``{field: {value: [names shown on the staff pages]}}`` for every enum and list field
    whose values have names (certificates are shown as they are)."""
    names: dict[str, dict[str, list[str]]] = {}
    for path in sorted(CHOICE_LABELS_DIR.glob("choices.*.yaml")):
        for name, values in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            for value, label in values.items():
                names.setdefault(name, {}).setdefault(value, []).append(str(label))
    markets = yaml.safe_load(_RULESET_FILE.read_text(encoding="utf-8"))["markets"]
    for name in _MARKET_FIELDS:
        names[name] = {value: [str(v) for v in label.values()] for value, label in markets.items()}
    return names


@cache
def choice_lookup(name: str) -> dict[str, str]:
    """``choice_key(text) -> canonical value`` for an enum or list field: the values, in
    choice order, then their names on the staff pages in either language ("Kerajinan",
    "Laki-laki", "Jepang"), so a form's label typed into a spreadsheet is read."""
    choices = FIELD_BY_NAME[name].choices
    lookup = {choice_key(choice): choice for choice in choices}
    assert len(lookup) == len(choices), name
    for value, labels in choice_names().get(name, {}).items():
        for label in labels:
            seen = lookup.setdefault(choice_key(label), value)
            if seen != value:
                raise ValueError(f"{name}: the name {label!r} means both {seen!r} and {value!r}")
    return lookup


@cache
def _choice_positions(name: str) -> np.ndarray:
    """Position in the field's choices of each ``choice_lookup`` entry, in lookup order."""
    choices = FIELD_BY_NAME[name].choices
    return np.array([choices.index(v) for v in choice_lookup(name).values()], dtype=np.int64)


def _number_pattern(decimal_mark: str) -> str:
    thousands = re.escape("," if decimal_mark == "." else ".")
    mark = re.escape(decimal_mark)
    whole = rf"(?:[0-9]+|[0-9]{{1,3}}(?:{thousands}[0-9]{{3}})+)"
    return rf"[+-]?(?:{whole}(?:{mark}[0-9]*)?|{mark}[0-9]+)(?:[eE][+-]?[0-9]+)?"


#: Numbers written as text, by decimal separator ("1.500.000,50" or "1,500,000.50").
NUMBER_TEXT = {mark: _number_pattern(mark) for mark in ".,"}
_NUMBER_TEXT_RE = {mark: re.compile(pattern) for mark, pattern in NUMBER_TEXT.items()}


#: Decimal mark of spreadsheet text cells (XLSX): the Indonesian rules first ("3.000" is
#: three thousand, "0,8" is 0.8); a text they do not read is read with a decimal point
#: ("0.8"); a text both read, differently ("12.500", "1,500"), is read the Indonesian way
#: and reported as assumed.
SPREADSHEET_DECIMAL = "auto"


def number_from_text(text: str, decimal_mark: str = ".") -> float | None:
    """The number a stripped text stands for, or None if it is not one."""
    if decimal_mark == SPREADSHEET_DECIMAL:
        indonesian = number_from_text(text, ",")
        return indonesian if indonesian is not None else number_from_text(text, ".")
    if _NUMBER_TEXT_RE[decimal_mark].fullmatch(text) is None:
        return None
    if decimal_mark == ",":
        return float(text.replace(".", "").replace(",", "."))
    return float(text.replace(",", ""))


def to_float(value: Any) -> float:
    """A real number as float; integers too large for a float become infinite."""
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


def whole_number_text(number: float) -> str | None:
    """A whole number given where text is expected, as text ("1001"); None if not whole."""
    if math.isfinite(number) and number.is_integer() and abs(number) < _EXACT_WHOLE:
        return str(int(number))
    return None


def is_missing(value: Any) -> bool:
    """None, NaN and blank text all mean "not given"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        text = strip_text(value)
        return not text or text in NOT_APPLICABLE
    return isinstance(value, float) and math.isnan(value)


# --- results ------------------------------------------------------------------------------


@dataclass
class RowError:
    """Every contract violation of one rejected row."""

    row: int
    sme_id: str | None
    errors: list[dict[str, str]]

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "sme_id": self.sme_id, "errors": [dict(e) for e in self.errors]}


#: Why a spreadsheet row without an ``sme_id`` is skipped as not a profile (``SkippedRow``).
TOTAL_ROW = "total row"
NOTE_ROW = "note or signature row"
#: A row naming no ``sme_id`` with text in at most this many cells is a title, note or
#: signature line ("Catatan: ...", "Bandung, 3 Desember 2026", "Kepala Dinas").
NOTE_MAX_CELLS = 2
#: How an office labels a totals row ("Jumlah", "Total", "Sub total", "Grand total").
TOTAL_LABEL = re.compile(r"^(jumlah|total|sub[ -]?total|grand[ -]?total)\b", re.IGNORECASE)
_SME_ID_RE = re.compile(SME_ID_PATTERN)
_NUMBER_CELL = re.compile(r"^(rp\.?)?[\s\d.,%+\-]*\d[\s\d.,%]*$", re.IGNORECASE)


@dataclass
class SkippedRow:
    """A spreadsheet row that is not a profile (a total, a note, a signature): not read,
    not counted in ``received``."""

    row: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "reason": self.reason}


@dataclass
class ValidatedBatch:
    """The valid rows in canonical form, and a report for each rejected row."""

    profiles: pd.DataFrame
    personal: pd.DataFrame
    assumed: pd.DataFrame
    row_numbers: np.ndarray
    errors: list[RowError]
    labels: np.ndarray | None
    received: int
    #: Rows of a CSV or XLSX file that are no profiles; not in ``received``.
    skipped: list[SkippedRow] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return len(self.profiles)

    @property
    def rejected(self) -> int:
        return len(self.errors)


class SeenIds:
    """The ``sme_id`` of every row of one file read so far, with the row that gave it first:
    validating chunk after chunk with one ``SeenIds`` rejects a repeated id in any later
    chunk. Memory grows with the distinct ids only (one dict entry each)."""

    def __init__(self) -> None:
        self._first: dict[str, int] = {}

    def first_rows(self, ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each id (None: not given) the row that gave it first, -1 where this row is
        the first; the ids of this chunk are remembered."""
        out = np.full(len(ids), -1, dtype=np.int64)
        first = self._first
        for position, (sme_id, row) in enumerate(zip(ids.tolist(), rows.tolist(), strict=True)):
            if sme_id is None:
                continue
            seen = first.setdefault(sme_id, row)
            if seen != row:
                out[position] = seen
        return out

    def remember(self, raw: RawTable) -> None:
        """Note the ids of a chunk that is not validated (a resumed run skips it)."""
        spec = FIELD_BY_NAME["sme_id"]
        column = raw.frame.get("sme_id", pd.Series(np.full(len(raw.frame), None, dtype=object)))
        self.first_rows(_parse(column, spec, raw.decimal).values, raw.source_rows())


# --- cells: what each cell of a column holds ----------------------------------------------

_MISSING, _TEXT, _BOOL, _NUMBER, _LIST, _OTHER = range(6)
_FAST_KINDS = {
    "string": _TEXT,
    "empty": _TEXT,
    "boolean": _BOOL,
    "integer": _NUMBER,
    "floating": _NUMBER,
    "mixed-integer-float": _NUMBER,
}


def _kind_of(value: Any) -> int:
    if value is None or value is pd.NA or value is pd.NaT:
        return _MISSING
    if isinstance(value, str):
        return _TEXT
    if isinstance(value, bool | np.bool_):
        return _BOOL
    if isinstance(value, numbers.Real | decimal.Decimal):
        return _MISSING if value != value else _NUMBER  # NaN is "not given"
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return _LIST
    return _OTHER


#: Cell kinds that follow from a value's exact type alone (a float may be NaN: not here).
_KIND_BY_TYPE = {
    type(None): _MISSING,
    str: _TEXT,
    bool: _BOOL,
    np.bool_: _BOOL,
    int: _NUMBER,
    list: _LIST,
    tuple: _LIST,
    np.ndarray: _LIST,
}


def _kinds(values: np.ndarray) -> np.ndarray:
    """``_kind_of`` of every cell of a mixed column (list columns are): looked up once per
    type, and cell by cell only for the types the lookup does not decide."""
    codes, types = pd.factorize(np.fromiter(map(type, values), dtype=object, count=len(values)))
    kind = np.array([_KIND_BY_TYPE.get(t, -1) for t in types], dtype=np.int8)[codes]
    undecided = np.flatnonzero(kind < 0)
    kind[undecided] = [_kind_of(value) for value in values[undecided]]
    return kind


def _arrow(values: pd.Series) -> pa.Array:
    """Cells that all hold text, as an Arrow array (text kernels run in C++)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        array = pa.array(values.array)
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        return array.cast(pa.large_string())
    return pa.array(values.to_numpy(dtype=object), type=pa.large_string())


def _numpy(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)


@dataclass
class _Cells:
    """One column: the values as read, the kind of every cell, and the stripped text cells."""

    values: pd.Series
    kind: np.ndarray
    text_rows: np.ndarray
    text: pa.Array = field(repr=False)

    def rows(self, *kinds: int) -> np.ndarray:
        return np.flatnonzero(np.isin(self.kind, kinds))

    def numbers(self) -> np.ndarray:
        """float64 of the number cells, NaN elsewhere."""
        out = np.full(len(self.kind), np.nan)
        rows = self.rows(_NUMBER)
        if rows.size:
            cells = self.values.iloc[rows]
            try:
                out[rows] = cells.to_numpy(dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                out[rows] = cells.map(to_float).to_numpy(dtype=np.float64)
        return out

    def text_numbers(self, decimal_mark: str) -> tuple[np.ndarray, np.ndarray]:
        """float64 of the text cells that are numbers in the file's locale (NaN elsewhere),
        and which of them are ambiguous (``SPREADSHEET_DECIMAL``: both marks read them,
        differently); ``number_from_text`` of every cell, vectorised."""
        if decimal_mark != SPREADSHEET_DECIMAL:
            return _text_numbers(self.text, self.text_rows, len(self.kind), decimal_mark), (
                np.zeros(len(self.kind), dtype=bool)
            )
        indonesian = _text_numbers(self.text, self.text_rows, len(self.kind), ",")
        point = _text_numbers(self.text, self.text_rows, len(self.kind), ".")
        ambiguous = ~np.isnan(indonesian) & ~np.isnan(point) & (indonesian != point)
        return np.where(np.isnan(indonesian), point, indonesian), ambiguous


def _text_numbers(text: pa.Array, rows: np.ndarray, n: int, decimal_mark: str) -> np.ndarray:
    out = np.full(n, np.nan)
    matched = _numpy(pc.match_substring_regex(text, f"^(?:{NUMBER_TEXT[decimal_mark]})$"))
    text = text.filter(matched)
    if decimal_mark == ",":
        text = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    else:
        text = pc.replace_substring(text, ",", "")
    out[rows[matched]] = _numpy(pc.cast(text, pa.float64()))
    return out


def _cells(column: pd.Series) -> _Cells:
    column = column.reset_index(drop=True)
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    dtype = column.dtype
    missing = column.isna().to_numpy(dtype=bool)
    if pd.api.types.is_bool_dtype(dtype):
        kind = np.where(missing, _MISSING, _BOOL)
    elif pd.api.types.is_numeric_dtype(dtype):
        kind = np.where(missing, _MISSING, _NUMBER)
    elif isinstance(dtype, pd.StringDtype):
        kind = np.where(missing, _MISSING, _TEXT)
    elif pd.api.types.is_object_dtype(dtype):
        fast = _FAST_KINDS.get(pd.api.types.infer_dtype(column, skipna=True))
        kind = _kinds(column.to_numpy()) if fast is None else np.where(missing, _MISSING, fast)
    else:  # dates and other things no field holds
        kind = np.where(missing, _MISSING, _OTHER)
    kind = kind.astype(np.int8)
    rows = np.flatnonzero(kind == _TEXT)
    text = pc.utf8_trim(_arrow(column.iloc[rows]), characters=BLANK_CHARS)
    blank = _numpy(pc.equal(pc.utf8_length(text), 0))
    blank |= _numpy(pc.is_in(text, value_set=pa.array(NOT_APPLICABLE, type=pa.large_string())))
    kind[rows[blank]] = _MISSING
    return _Cells(column, kind, rows[~blank], text.filter(~blank))


# --- one parser per kind of field -----------------------------------------------------------

#: (positions, one message for all or one per position)
Problem = tuple[np.ndarray, str | list[str]]


@dataclass
class _Parsed:
    """One field of the table: canonical values, which cells were given, what is wrong."""

    values: np.ndarray
    given: np.ndarray
    problems: list[Problem] = field(default_factory=list)
    #: Cells read by an assumption (an ambiguous number), reported in ``assumed``.
    assumed: np.ndarray | None = None

    def add(self, rows: np.ndarray, messages: str | list[str]) -> None:
        if len(rows):
            self.problems.append((rows, messages))

    def bad(self) -> np.ndarray:
        out = np.zeros(len(self.given), dtype=bool)
        for rows, _ in self.problems:
            out[rows] = True
        return out


@dataclass
class _Texts:
    """The cells that are text or can be read as text (whole numbers: 1001 -> "1001")."""

    rows: np.ndarray
    text: pa.Array
    not_text: np.ndarray  # rows that hold something else (a boolean, a list, 3.5...)

    def values(self, n: int) -> np.ndarray:
        out = np.full(n, None, dtype=object)
        out[self.rows] = _numpy(self.text)
        return out


def _texts(cells: _Cells) -> _Texts:
    number_rows = cells.rows(_NUMBER)
    numbers_ = cells.numbers()[number_rows]
    whole = np.isfinite(numbers_) & (np.floor(numbers_) == numbers_)
    whole &= np.abs(numbers_) < _EXACT_WHOLE
    as_text = pa.array(numbers_[whole].astype(np.int64).astype(str), type=pa.large_string())
    return _Texts(
        rows=np.concatenate([cells.text_rows, number_rows[whole]]),
        text=pa.concat_arrays([cells.text, as_text]),
        not_text=np.union1d(cells.rows(_BOOL, _LIST, _OTHER), number_rows[~whole]),
    )


def _choices(texts: _Texts, spec: Field) -> tuple[np.ndarray, np.ndarray]:
    """Index of each text's value in ``spec.choices`` (-1 if unknown), and unknown messages."""
    keys = pc.replace_substring_regex(pc.ascii_lower(texts.text), _CHOICE_NOISE, "")
    known = pa.array(list(choice_lookup(spec.name)), type=pa.large_string())
    index = _numpy(pc.fill_null(pc.index_in(keys, value_set=known), -1)).astype(np.int64)
    index = np.where(index < 0, -1, _choice_positions(spec.name)[index])
    unknown = np.flatnonzero(index < 0)
    choices = ", ".join(spec.choices)
    if spec.personal:
        return index, [UNKNOWN_PERSONAL_VALUE.format(choices=choices)] * len(unknown)
    given = _numpy(texts.text.take(pa.array(unknown, type=pa.int64())))
    messages = [UNKNOWN_VALUE.format(input=value, choices=choices) for value in given]
    return index, messages


def _parse_string(cells: _Cells, spec: Field, decimal_mark: str) -> _Parsed:
    if spec.name in DOTTED_DIGIT_FIELDS and len(cells.text):
        dotted = pc.match_substring_regex(cells.text, DOTTED_DIGITS)
        text = pc.if_else(dotted, pc.replace_substring(cells.text, ".", ""), cells.text)
        cells = replace(cells, text=text)
    texts = _texts(cells)
    parsed = _Parsed(texts.values(len(cells.kind)), cells.kind != _MISSING)
    parsed.add(texts.not_text, NOT_STRING)
    if spec.max_length is not None:
        too_long = _numpy(pc.greater(pc.utf8_length(texts.text), spec.max_length))
        parsed.add(np.sort(texts.rows[too_long]), TOO_LONG.format(max=spec.max_length))
    if spec.pattern is not None:
        matches = _numpy(pc.match_substring_regex(texts.text, spec.pattern))
        parsed.add(np.sort(texts.rows[~matches]), PATTERN_MESSAGES[spec.pattern])
    return parsed


def _parse_enum(cells: _Cells, spec: Field, decimal_mark: str) -> _Parsed:
    texts = _texts(cells)
    index, messages = _choices(texts, spec)
    values = np.full(len(cells.kind), None, dtype=object)
    values[texts.rows] = np.array([*spec.choices, None], dtype=object)[index]
    parsed = _Parsed(values, cells.kind != _MISSING)
    parsed.add(texts.not_text, NOT_STRING)
    parsed.add(texts.rows[index < 0], messages)
    return parsed


def _parse_number(cells: _Cells, spec: Field, decimal_mark: str) -> _Parsed:
    values = cells.numbers()
    ambiguous = np.zeros(len(values), dtype=bool)
    scale = np.ones(len(values))
    if spec.name in CURRENCY_PREFIXES and len(cells.text):
        text = pc.replace_substring_regex(
            cells.text, CURRENCY_PREFIXES[spec.name], "", max_replacements=1
        )
        cells = replace(cells, text=text)
    if spec.name in PERCENT_FIELDS and len(cells.text):
        percent = pc.match_substring_regex(cells.text, PERCENT)
        scale[cells.text_rows[_numpy(percent)]] = 0.01
        cells = replace(cells, text=pc.replace_substring_regex(cells.text, PERCENT, ""))
    if len(cells.text):
        text_values, ambiguous = cells.text_numbers(decimal_mark)
        values = np.where(cells.kind == _TEXT, text_values * scale, values)
    given = cells.kind != _MISSING
    parsed = _Parsed(values, given, assumed=ambiguous)
    invalid = given & ~np.isfinite(values)
    parsed.add(np.flatnonzero(invalid), NOT_INTEGER if spec.kind is Kind.INT else NOT_NUMBER)
    usable = given & ~invalid
    if spec.kind is Kind.INT:
        fraction = usable & (np.floor(values) != values)
        parsed.add(np.flatnonzero(fraction), NOT_WHOLE)
        usable &= ~fraction
    low, high = spec.min, spec.max_value
    outside = np.zeros(len(values), dtype=bool)
    if low is not None:
        outside |= values < low
    if high is not None:
        outside |= values > high
    parsed.add(np.flatnonzero(usable & outside), range_message(spec))
    return parsed


def _parse_bool(cells: _Cells, spec: Field, decimal_mark: str) -> _Parsed:
    n = len(cells.kind)
    values = np.zeros(n, dtype=bool)
    read = np.zeros(n, dtype=bool)
    rows = cells.rows(_BOOL)
    values[rows] = cells.values.iloc[rows].to_numpy(dtype=bool)
    read[rows] = True
    numbers_ = cells.numbers()
    values |= numbers_ == 1
    read |= (numbers_ == 1) | (numbers_ == 0)
    words = pc.ascii_lower(cells.text)
    is_true = _numpy(pc.is_in(words, value_set=pa.array(sorted(TRUE_WORDS))))
    is_false = _numpy(pc.is_in(words, value_set=pa.array(sorted(FALSE_WORDS))))
    values[cells.text_rows[is_true]] = True
    read[cells.text_rows[is_true | is_false]] = True
    given = cells.kind != _MISSING
    parsed = _Parsed(values, given)
    parsed.add(np.flatnonzero(given & ~read), NOT_BOOLEAN)
    return parsed


def _list_items(cells: _Cells) -> tuple[np.ndarray, _Cells]:
    """Every value of every list cell, in order, with the row it belongs to."""
    parts = pc.split_pattern_regex(cells.text, LIST_SEPARATORS)
    text_items = pc.list_flatten(parts)
    text_rows = cells.text_rows[_numpy(pc.list_parent_indices(parts))]
    lists = cells.values.iloc[cells.rows(_LIST)].explode()
    lists = lists[lists.notna().to_numpy(dtype=bool)]
    items = pd.concat(
        [pd.Series(_numpy(text_items), dtype=object), lists],
        ignore_index=True,
    )
    rows = np.concatenate([text_rows, lists.index.to_numpy(dtype=np.int64)])
    order = np.argsort(rows, kind="stable")  # a row's items stay in their order
    return rows[order], _cells(items.iloc[order])


def _parse_list(cells: _Cells, spec: Field, decimal_mark: str) -> _Parsed:
    masks = np.zeros(len(cells.kind), dtype=np.int64)
    parsed = _Parsed(masks, cells.kind != _MISSING)
    parsed.add(cells.rows(_BOOL, _NUMBER, _OTHER), NOT_LIST)
    item_rows, items = _list_items(cells)
    texts = _texts(items)  # blank items ("SNI;;HALAL") are neither text nor bad: dropped
    index, unknown_messages = _choices(texts, spec)
    # one problem per bad item, in item order: what the schema reports per list index
    bad = np.concatenate([texts.not_text, texts.rows[index < 0]])
    messages = np.array([NOT_STRING] * len(texts.not_text) + unknown_messages, dtype=object)
    order = np.argsort(bad, kind="stable")
    parsed.add(item_rows[bad[order]], messages[order].tolist())
    good = index >= 0
    good &= ~np.isin(item_rows[texts.rows], item_rows[bad])
    order = np.argsort(texts.rows[good], kind="stable")
    rows, values = item_rows[texts.rows[good]][order], index[good][order]
    repeated = pd.Series(rows * 64 + values).duplicated().to_numpy(dtype=bool)
    if repeated.any():
        seen = pd.DataFrame({"row": rows[repeated], "value": values[repeated]}).drop_duplicates()
        seen["value"] = np.asarray(spec.choices, dtype=object)[seen["value"].to_numpy()]
        names = seen.groupby("row", sort=True)["value"].agg(", ".join)
        parsed.add(names.index.to_numpy(), [DUPLICATES.format(values=v) for v in names])
    np.bitwise_or.at(masks, rows, np.left_shift(1, values))
    return parsed


_PARSERS: dict[Kind, Callable[[_Cells, Field, str], _Parsed]] = {
    Kind.STRING: _parse_string,
    Kind.ENUM: _parse_enum,
    Kind.INT: _parse_number,
    Kind.FLOAT: _parse_number,
    Kind.BOOL: _parse_bool,
    Kind.ENUM_LIST: _parse_list,
}


def _parse(column: pd.Series, spec: Field, decimal_mark: str) -> _Parsed:
    parsed = _PARSERS[spec.kind](_cells(column), spec, decimal_mark)
    if spec.required:
        parsed.problems.insert(0, (np.flatnonzero(~parsed.given), MISSING))
    return parsed


def _check_export_years(parsed: dict[str, _Parsed]) -> None:
    """``export_years`` must be 0 when ``has_exported`` is false (or left out)."""
    exported, years = parsed["has_exported"], parsed["export_years"]
    years_read = years.given & ~years.bad()
    rows = np.flatnonzero(~exported.bad() & ~exported.values & years_read & (years.values != 0))
    years.add(rows, EXPORT_YEARS_WITHOUT_EXPORTS)


# --- columns ------------------------------------------------------------------------------


def _checked_columns(frame: pd.DataFrame, specs: Sequence[Field], source: str) -> pd.DataFrame:
    """Refuse unknown or repeated columns; drop header-less columns that hold nothing."""
    names = [str(c) for c in frame.columns]
    empty = [
        i
        for i, name in enumerate(names)
        if not name.strip() and (_cells(frame.iloc[:, i]).kind == _MISSING).all()
    ]
    if empty:
        frame = frame.drop(columns=frame.columns[empty])
        names = [str(c) for c in frame.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FileFormatError(f"{source}: repeated columns {', '.join(map(repr, repeated))}.")
    known = [spec.name for spec in specs]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise FileFormatError(
            f"{source}: unknown columns {_describe_unknown(unknown, known)}.",
            code="unknown_columns",
            columns=", ".join(unknown),
        )
    return frame


def _describe_unknown(unknown: list[str], known: list[str]) -> str:
    described = []
    for name in unknown:
        if name == LABEL:
            described.append(f"'{name}' (the training label, accepted only in training data)")
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        described.append(f"'{name}' (did you mean '{close[0]}'?)" if close else f"'{name}'")
    return ", ".join(described)


# --- frames ---------------------------------------------------------------------------------


_DTYPES = {Kind.FLOAT: np.float64, Kind.BOOL: bool, Kind.ENUM_LIST: np.int64}


def _column(spec: Field, values: np.ndarray) -> np.ndarray:
    """A parsed column as an array in the dtype of the canonical frame."""
    if spec.kind in (Kind.STRING, Kind.ENUM):
        dtype = object
    elif spec.kind is Kind.INT:
        dtype = np.int64 if spec.required else np.float64
    else:
        dtype = _DTYPES[spec.kind]
    return np.asarray(values, dtype=dtype)


def array_frame(columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """A frame of equal-length arrays, built in one step; object arrays stay ``object``.

    Text columns go in as object Series on the frame's own index (pandas would otherwise
    infer its string dtype), numeric ones as arrays, so that nothing is aligned or
    copied: for the one-row frame of a single profile this is ten times faster than
    building a Series per column.
    """
    n = len(next(iter(columns.values()))) if columns else 0
    index = pd.RangeIndex(n)
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=object, index=index, copy=False)
            if values.dtype == object
            else values
            for name, values in columns.items()
        },
        index=index,
        copy=False,
    )


def _frame(specs: Sequence[Field], columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    return array_frame({spec.name: _column(spec, columns[spec.name]) for spec in specs})


_PROFILE_SPECS = tuple(FIELD_BY_NAME[name] for name in PROFILE_COLUMNS)
_PERSONAL_SPECS = tuple(FIELD_BY_NAME[name] for name in PERSONAL_COLUMNS)


def _validate_frame(
    frame: pd.DataFrame,
    row_numbers: np.ndarray,
    *,
    decimal_mark: str,
    source: str,
    require_label: bool,
    seen_ids: SeenIds | None = None,
) -> ValidatedBatch:
    specs = (*FIELDS, LABEL_FIELD) if require_label else FIELDS
    frame = _checked_columns(frame, specs, source)
    n = len(frame)
    absent = pd.Series(np.full(n, None, dtype=object))
    parsed = {spec.name: _parse(frame.get(spec.name, absent), spec, decimal_mark) for spec in specs}
    _check_export_years(parsed)
    ids = parsed["sme_id"]
    first = (seen_ids or SeenIds()).first_rows(ids.values, np.asarray(row_numbers))
    repeated = np.flatnonzero(first >= 0)
    ids.add(repeated, [DUPLICATE_ID.format(row=row) for row in first[repeated].tolist()])

    rejected = np.zeros(n, dtype=bool)
    by_row: dict[int, list[dict[str, str]]] = {}
    for spec in specs:
        for rows, messages in parsed[spec.name].problems:
            rejected[rows] = True
            texts = [messages] * len(rows) if isinstance(messages, str) else messages
            for row, message in zip(rows.tolist(), texts, strict=True):
                by_row.setdefault(row, []).append({"field": spec.name, "message": message})
    sme_ids = parsed["sme_id"].values
    errors = [RowError(int(row_numbers[r]), sme_ids[r], by_row[r]) for r in by_row]
    errors.sort(key=lambda e: e.row)

    keep = ~rejected
    kept = {name: p.values[keep] for name, p in parsed.items()}
    assumed = {name: ~parsed[name].given[keep] for name in OPTIONAL_BOOL_FIELDS}
    for name in NUMBER_FIELDS:
        flags = parsed[name].assumed
        assumed[name] = np.zeros(keep.sum(), dtype=bool) if flags is None else flags[keep]
    return ValidatedBatch(
        profiles=_frame(_PROFILE_SPECS, kept),
        personal=_frame(_PERSONAL_SPECS, kept),
        assumed=array_frame({k: np.asarray(v, dtype=bool) for k, v in assumed.items()}),
        row_numbers=np.asarray(row_numbers, dtype=np.int64)[keep],
        errors=errors,
        labels=kept[LABEL].astype(bool) if require_label else None,
        received=n,
    )


# --- public entry points --------------------------------------------------------------------


def validate_table(
    raw: RawTable, *, require_label: bool = False, seen_ids: SeenIds | None = None
) -> ValidatedBatch:
    """Validate every row of a table read from a file; bad rows are reported, not raised.

    A row repeating the ``sme_id`` of an earlier row is rejected; the chunks of one
    ``iter_tables`` share ``raw.seen_ids``, so repeats across chunks are caught too
    (``seen_ids``, if given, is used instead).
    Raises ``FileFormatError`` when the table has unknown or repeated columns.
    """
    row_numbers = raw.source_rows().astype(np.int64)
    frame, skipped = raw.frame, []
    if raw.columns is not None:  # a spreadsheet: totals, notes and signatures are no profiles
        skip, skipped = _non_data_rows(frame, row_numbers)
        if skip.any():
            frame, row_numbers = frame[~skip].reset_index(drop=True), row_numbers[~skip]
    batch = _validate_frame(
        frame,
        row_numbers,
        decimal_mark=raw.decimal,
        source=raw.source,
        require_label=require_label,
        seen_ids=seen_ids or raw.seen_ids,
    )
    batch.skipped = skipped
    if raw.columns is not None:
        _locate_errors(batch.errors, frame, row_numbers, raw.columns)
    return batch


def _non_data_rows(frame: pd.DataFrame, row_numbers: np.ndarray) -> tuple[np.ndarray, list]:
    """Which rows are no profiles, and a ``SkippedRow`` for each: no ``sme_id`` (an empty
    cell or text that cannot be one), and either a total label beside numbers, or text in at
    most ``NOTE_MAX_CELLS`` cells and nothing else."""
    skip = np.zeros(len(frame), dtype=bool)
    if "sme_id" not in frame.columns:
        return skip, []
    skipped = []
    no_id = np.flatnonzero([not _is_sme_id(v) for v in frame["sme_id"].tolist()])
    for position in no_id.tolist():
        cells = [v for v in frame.iloc[position].tolist() if not is_missing(v)]
        texts = [
            strip_text(v)
            for v in cells
            if isinstance(v, str) and not _NUMBER_CELL.match(strip_text(v))
        ]
        if any(isinstance(v, bool | list) for v in cells) or len(texts) > NOTE_MAX_CELLS:
            continue
        if any(TOTAL_LABEL.match(text) for text in texts):
            reason = TOTAL_ROW
        elif texts and len(texts) == len(cells):
            reason = NOTE_ROW
        else:
            continue
        skip[position] = True
        skipped.append(SkippedRow(int(row_numbers[position]), reason))
    return skip, skipped


def _is_sme_id(value: Any) -> bool:
    """Whether a cell holds an ``sme_id`` (a note in that column does not: "Catatan: ...")."""
    if is_missing(value):
        return False
    return not isinstance(value, str) or _SME_ID_RE.match(strip_text(value)) is not None


def _locate_errors(
    errors: list[RowError], frame: pd.DataFrame, row_numbers: np.ndarray, letters: dict[str, str]
) -> None:
    """Add to each field error of a spreadsheet row its ``column`` letter and, unless the
    field is personal, the ``value`` as read, so the web page can point at the cell."""
    positions = {int(row): i for i, row in enumerate(row_numbers.tolist())}
    for error in errors:
        position = positions.get(error.row)
        for item in error.errors:
            name = item["field"]
            if name not in letters or name not in frame.columns or position is None:
                continue
            item["column"] = letters[name]
            spec = FIELD_BY_NAME.get(name)
            value = frame[name].iloc[position]
            if (spec is None or not spec.personal) and not is_missing(value):
                item["value"] = _cell_text(value)


def _cell_text(value: Any) -> str:
    """A cell's value as a person reads it back: whole numbers without ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return strip_text(str(value))


def validate_records(
    records: Sequence[Any],
    *,
    require_label: bool = False,
    source: str = "records",
    first_row: int = 1,
    seen_ids: SeenIds | None = None,
) -> ValidatedBatch:
    """Validate a parsed JSON array of profiles; rows are numbered from ``first_row`` (1:
    the whole array; a chunk of it starts at its first item's number). Repeated ``sme_id``s
    are rejected as in ``validate_table``."""
    records = list(records)
    is_object = np.array([isinstance(r, Mapping) for r in records], dtype=bool)
    objects = [dict(r) for r, ok in zip(records, is_object, strict=True) if ok]
    frame = pd.DataFrame(objects) if objects else pd.DataFrame(index=pd.RangeIndex(0))
    batch = _validate_frame(
        frame,
        np.flatnonzero(is_object) + first_row,
        decimal_mark=".",
        source=source,
        require_label=require_label,
        seen_ids=seen_ids,
    )
    if not is_object.all():
        not_objects = [
            RowError(int(i) + first_row, None, [{"field": "_schema", "message": NOT_OBJECT}])
            for i in np.flatnonzero(~is_object)
        ]
        batch.errors = sorted(batch.errors + not_objects, key=lambda e: e.row)
    batch.received = len(records)
    return batch


def canonical_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Canonical profile frame of profiles that are already valid and canonical.

    Lists are lists of canonical values; optional fields may be None or left out. Built
    from plain arrays in one step: this is the path every single profile takes.
    """
    records = list(records)
    columns: dict[str, np.ndarray] = {}
    for spec in _PROFILE_SPECS:
        raw = [r.get(spec.name) for r in records]
        if spec.kind is Kind.ENUM_LIST:
            columns[spec.name] = np.array(
                [0 if _absent(v) else _mask_of(spec, v) for v in raw], dtype=np.int64
            )
        elif spec.kind is Kind.BOOL:
            columns[spec.name] = np.array([not _absent(v) and bool(v) for v in raw], dtype=bool)
        elif spec.kind is Kind.FLOAT or (spec.kind is Kind.INT and not spec.required):
            columns[spec.name] = np.array(
                [np.nan if _absent(v) else float(v) for v in raw], dtype=np.float64
            )
        elif spec.kind is Kind.INT:
            columns[spec.name] = np.array(raw, dtype=np.int64)
        else:
            text = np.empty(len(raw), dtype=object)
            text[:] = [None if _absent(v) else v for v in raw]
            columns[spec.name] = text
    return _frame(_PROFILE_SPECS, columns)


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _mask_of(spec: Field, values: Sequence[str]) -> int:
    unknown = sorted(set(values) - set(spec.choices))
    if unknown:
        raise ValueError(f"{spec.name}: not canonical values {unknown}")
    return list_to_mask(spec.name, values)


def profiles_to_records(profiles: pd.DataFrame) -> list[dict[str, Any]]:
    """Contract dicts of a canonical frame (lists decoded, missing values as None)."""
    columns = []
    for spec in _PROFILE_SPECS:
        column = profiles[spec.name]
        if spec.kind is Kind.ENUM_LIST:
            columns.append(masks_to_lists(spec.name, column.to_numpy()))
        elif spec.kind is Kind.BOOL:
            columns.append(column.astype(bool).tolist())
        elif spec.kind in (Kind.INT, Kind.FLOAT):
            numbers_ = column.to_numpy(dtype=np.float64)
            out = np.full(len(numbers_), None, dtype=object)
            given = ~np.isnan(numbers_)
            if spec.kind is Kind.INT:
                out[given] = numbers_[given].astype(np.int64).astype(object)
            else:
                out[given] = numbers_[given].astype(object)
            columns.append(out.tolist())
        else:
            values = column.astype(object)
            columns.append(values.where(values.notna(), None).tolist())
    return [dict(zip(PROFILE_COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)]
