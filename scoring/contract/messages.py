"""The messages of contract violations, shared by the table validator and the single-profile
schema (``scoring.contract.schema``) so both say the same thing about the same mistake."""

from __future__ import annotations

from scoring.contract.fields import HS_CODE_PATTERN, SME_ID_PATTERN, Field

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
