"""How the text of one cell is read: blanks and "-", numbers the Indonesian way or with a
decimal point, "Rp" before money, "%" after shares, dots between HS code digits.

Defined on explicit character sets (not Unicode classes) so that Python's ``re`` in the
schema and Arrow's RE2 kernels in ``scoring.contract.parsing`` give the same answer for
every input.
"""

from __future__ import annotations

import math
import re
import string
from typing import Any

import pandas as pd

#: Characters stripped from both ends of text; text of nothing else is blank (missing).
BLANK_CHARS = " \t\n\r\f\v\xa0\u2007\u202f\ufeff"
#: Separators between the values of a list written in one cell.
LIST_SEPARATOR_CHARS = ";,"
LIST_SEPARATORS = f"[{re.escape(LIST_SEPARATOR_CHARS)}]"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
#: Largest whole number read as text in a text field (beyond it a float is not exact).
EXACT_WHOLE = 2.0**53


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
    if math.isfinite(number) and number.is_integer() and abs(number) < EXACT_WHOLE:
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
