"""The marshmallow schema of one JSON profile, generated from the contract table.

``ProfileSchema`` is what the API declares on its routes (and so what the OpenAPI
document shows); ``read_profile`` turns one JSON object into the canonical columns the
scoring function takes (a batch of one, as plain arrays: no frame is built for one
profile), and ``validate_profile`` into a batch of one in the same canonical form as a
validated file. Messages, word lists and text rules are those of
``scoring.contract.validate``, so a profile gets the same verdict from either validator.
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from marshmallow import RAISE, Schema, ValidationError, pre_load, validates_schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from scoring.contract.cells import (
    BLANK_CHARS,
    LIST_SEPARATORS,
    field_text,
    fold_case,
    is_missing,
    number_from_text,
    strip_text,
    to_float,
    whole_number_text,
)
from scoring.contract.choices import choice_key, choice_lookup
from scoring.contract.columns import ProfileColumns
from scoring.contract.fields import (
    FALSE_WORDS,
    FIELD_BY_NAME,
    FIELDS,
    NUMBER_FIELDS,
    OPTIONAL_BOOL_FIELDS,
    PERSONAL_COLUMNS,
    PROFILE_COLUMNS,
    TRUE_WORDS,
    Field,
    Kind,
    list_to_mask,
    mask_to_list,
)
from scoring.contract.frames import array_frame, profile_frame
from scoring.contract.messages import (
    DUPLICATES,
    EXPORT_YEARS_WITHOUT_EXPORTS,
    MISSING,
    NOT_BOOLEAN,
    NOT_INTEGER,
    NOT_NUMBER,
    NOT_STRING,
    NOT_WHOLE,
    PATTERN_MESSAGES,
    TOO_LONG,
    UNKNOWN_PERSONAL_VALUE,
    UNKNOWN_VALUE,
    range_message,
)
from scoring.contract.validate import ValidatedBatch
from scoring.errors import ProfileValidationError

# --- normalisation shared with the file validator ------------------------------------------

_DROP = object()


def _normal_item(spec: Field, value: Any) -> Any:
    if isinstance(value, str):
        if is_missing(value):
            return _DROP
        text = strip_text(value)
        return choice_lookup(spec.name).get(choice_key(text), text)
    return _DROP if is_missing(value) else value


def _normal_value(spec: Field, value: Any) -> Any:
    if is_missing(value):
        return _DROP
    if spec.kind is Kind.ENUM_LIST:
        if isinstance(value, str):
            value = re.split(LIST_SEPARATORS, value)
        if isinstance(value, list | tuple):
            items = (_normal_item(spec, item) for item in value)
            return [item for item in items if item is not _DROP]
        return value
    if not isinstance(value, str):
        return value
    text = strip_text(value)
    if spec.kind is Kind.ENUM:
        return choice_lookup(spec.name).get(choice_key(text), text)
    if spec.kind is Kind.BOOL:
        return fold_case(text)
    return field_text(spec.name, text)


def normalise_profile(data: Any) -> Any:
    """Strip text, drop blanks and nulls, match enum values whatever their case, split lists.

    Anything but a mapping is returned as is (the schema then refuses it).
    """
    if not isinstance(data, Mapping):
        return data
    out = {}
    for key, value in data.items():
        spec = FIELD_BY_NAME.get(key)
        normal = value if spec is None else _normal_value(spec, value)
        if normal is not _DROP:
            out[key] = normal
    return out


# --- field types ------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A JSON number or a number written as text ("1,500,000.50"); None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real | decimal.Decimal):
        return to_float(value)
    if isinstance(value, str):
        return number_from_text(strip_text(value))
    return None


class Text(ma.String):
    """Text; whole numbers are read as text too (a spreadsheet's 1001 is "1001")."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": NOT_STRING}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            return strip_text(value)
        number = _number(value)
        text = None if number is None else whole_number_text(number)
        if text is None:
            raise self.make_error("invalid")
        return text


class WholeNumber(ma.Integer):
    """An integer; 3.0 and "3" are read as 3, 3.5 is refused."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": NOT_INTEGER, "whole": NOT_WHOLE}

    def _validated(self, value: Any) -> int:
        number = _number(value)
        if number is None or not math.isfinite(number):
            raise self.make_error("invalid")
        if not number.is_integer():
            raise self.make_error("whole")
        return value if type(value) is int else int(number)


class Amount(ma.Float):
    """A finite number; "1,500,000.50" is read as 1500000.5."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": NOT_NUMBER}

    def _validated(self, value: Any) -> float:
        number = _number(value)
        if number is None or not math.isfinite(number):
            raise self.make_error("invalid")
        return number


class Flag(ma.Boolean):
    """true/false, 1/0, or the words of the contract (Ya/Tidak, yes/no...)."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": NOT_BOOLEAN}

    def __init__(self, **kwargs: Any):
        super().__init__(truthy=TRUE_WORDS | {True}, falsy=FALSE_WORDS | {False}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, str):
            value = fold_case(strip_text(value))
        return super()._deserialize(value, attr, data, **kwargs)


class ContractRange(mv.Range):
    """The range of a number field, read from the contract each time (the current year moves)."""

    def __init__(self, spec: Field):
        self.spec = spec
        super().__init__(min=_bound(spec.min), max=_bound(spec.max_value))

    @property
    def max(self) -> float | None:
        return _bound(self.spec.max_value)

    @max.setter
    def max(self, value: float | None) -> None:
        """The bound comes from the contract; what ``Range`` sets is ignored."""

    def _format_error(self, value: Any, message: str) -> str:
        return range_message(self.spec)


def _bound(value: float | None) -> float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _no_duplicates(values: list[str]) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    if repeated:
        raise ValidationError(DUPLICATES.format(values=", ".join(repeated)))


#: Some character that ``strip_text`` keeps (``\uXXXX`` escapes read the same in Python
#: and in the ECMA regular expressions of JSON Schema).
_NOT_BLANK = "[^" + "".join(f"\\u{ord(char):04x}" for char in BLANK_CHARS) + "]"


def _schema_field(spec: Field) -> ma.Field:
    options: dict[str, Any] = {"required": spec.required, "metadata": {"description": spec.help}}
    if not spec.required:
        defaults = {Kind.BOOL: False, Kind.ENUM_LIST: list}
        options["load_default"] = defaults.get(spec.kind)
    if spec.kind is Kind.STRING:
        checks: list[mv.Validator] = []
        if spec.required and spec.pattern is None:
            # Text is stripped first, so blank text counts as missing; the pattern puts
            # that in the OpenAPI document ("required" answers a blank value).
            checks.append(mv.Regexp(_NOT_BLANK, error=MISSING))
        if spec.max_length is not None:
            checks.append(mv.Length(max=spec.max_length, error=TOO_LONG))
        if spec.pattern is not None:
            checks.append(mv.Regexp(spec.pattern, error=PATTERN_MESSAGES[spec.pattern]))
        return Text(validate=checks, **options)
    if spec.kind is Kind.ENUM:
        unknown = UNKNOWN_PERSONAL_VALUE if spec.personal else UNKNOWN_VALUE
        return Text(validate=mv.OneOf(spec.choices, error=unknown), **options)
    if spec.kind is Kind.INT:
        return WholeNumber(validate=ContractRange(spec), **options)
    if spec.kind is Kind.FLOAT:
        return Amount(validate=ContractRange(spec), **options)
    if spec.kind is Kind.BOOL:
        return Flag(**options)
    item = Text(validate=mv.OneOf(spec.choices, error=UNKNOWN_VALUE))
    return ma.List(item, validate=_no_duplicates, **options)


# --- the schema ---------------------------------------------------------------------------


class _ProfileRules(Schema):
    """Normalisation and the cross-field rule; the fields come from the contract table."""

    class Meta:
        unknown = RAISE

    @pre_load
    def normalise(self, data: Any, **kwargs: Any) -> Any:
        return normalise_profile(data)

    @validates_schema(skip_on_field_errors=False)
    def export_years_need_exports(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        # a field that failed is absent from data: then the rule has nothing to compare
        years = data.get("export_years")
        if data.get("has_exported", True) is False and years is not None and years != 0:
            raise ValidationError(EXPORT_YEARS_WITHOUT_EXPORTS, field_name="export_years")


ProfileSchema = type(
    "ProfileSchema",
    (_ProfileRules,),
    {
        "__doc__": "One SME profile as the contract defines it (SPEC section 3).",
        "__module__": __name__,
        **{spec.name: _schema_field(spec) for spec in FIELDS},
    },
)

_SCHEMA = ProfileSchema()
_FIELD_ORDER = {spec.name: i for i, spec in enumerate(FIELDS)}


def schema_errors_to_list(messages: Any) -> list[dict[str, str]]:
    """marshmallow's nested messages as a flat list of ``{"field", "message"}``.

    An error of a list item is reported on the list field with the item's message.
    Entries follow the contract's field order; unknown fields and "_schema" come last.
    """
    if not isinstance(messages, Mapping):
        messages = {"_schema": messages}
    out = [
        {"field": str(name), "message": message}
        for name, detail in messages.items()
        for message in _flatten(detail)
    ]
    last = len(_FIELD_ORDER)
    out.sort(key=lambda e: _FIELD_ORDER.get(e["field"], last + (e["field"] == "_schema")))
    return out


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, str):
        return [detail]
    if isinstance(detail, Mapping):  # list items by index, in item order
        return [m for value in detail.values() for m in _flatten(value)]
    return [m for item in detail for m in _flatten(item)]


@dataclass(frozen=True)
class CheckedProfile:
    """One JSON profile that meets the contract, in the forms scoring and storing take."""

    #: The canonical profile columns of one row (what ``score_frame`` takes).
    columns: ProfileColumns
    #: The canonical contract dict (lists decoded, missing values as None), as
    #: ``frames.profiles_to_records`` gives it for the same profile.
    record: dict[str, Any]
    #: Each personal field's value; None where it was not given.
    personal: dict[str, Any]
    #: (1, len(fields.ASSUMED_FIELDS)) bool: the booleans that were left out.
    assumed: np.ndarray


def read_profile(data: Any, *, loaded: Mapping[str, Any] | None = None) -> CheckedProfile:
    """Validate one JSON profile into canonical columns of one row, without building frames.

    ``loaded`` is ``ProfileSchema().load(data)`` when the caller has it already (a route
    whose body the schema parsed); else the profile is loaded here. Raises
    ``ProfileValidationError`` listing every field error at once.
    """
    if loaded is None:
        try:
            loaded = _SCHEMA.load(data)
        except ValidationError as error:
            raise ProfileValidationError(schema_errors_to_list(error.messages)) from error
    columns: dict[str, np.ndarray] = {}
    record: dict[str, Any] = {}
    for spec in _PROFILE_SPECS:
        value = loaded.get(spec.name)
        absent = value is None or (isinstance(value, float) and value != value)
        if spec.kind is Kind.ENUM_LIST:
            mask = 0 if absent else _mask_of(spec, value)
            columns[spec.name] = np.array([mask], dtype=np.int64)
            record[spec.name] = mask_to_list(spec.name, mask)
        elif spec.kind is Kind.BOOL:
            flag = not absent and bool(value)
            columns[spec.name] = np.array([flag], dtype=bool)
            record[spec.name] = flag
        elif spec.kind is Kind.FLOAT or (spec.kind is Kind.INT and not spec.required):
            number = np.nan if absent else float(value)
            columns[spec.name] = np.array([number], dtype=np.float64)
            if absent:
                record[spec.name] = None
            else:
                record[spec.name] = int(number) if spec.kind is Kind.INT else number
        elif spec.kind is Kind.INT:
            columns[spec.name] = np.array([value], dtype=np.int64)
            record[spec.name] = int(columns[spec.name][0])
        else:
            text = None if absent else value
            columns[spec.name] = _one(text, object)
            record[spec.name] = text
    flags = [not _given(data, name) for name in OPTIONAL_BOOL_FIELDS]
    flags += [False] * len(NUMBER_FIELDS)  # JSON numbers are never ambiguous
    return CheckedProfile(
        columns=ProfileColumns(columns, 1),
        record=record,
        personal={name: loaded.get(name) for name in PERSONAL_COLUMNS},
        assumed=np.array([flags], dtype=bool),
    )


_PROFILE_SPECS = tuple(FIELD_BY_NAME[name] for name in PROFILE_COLUMNS)


def _mask_of(spec: Field, values: list[str]) -> int:
    unknown = sorted(set(values) - set(spec.choices))
    if unknown:
        raise ValueError(f"{spec.name}: not canonical values {unknown}")
    return list_to_mask(spec.name, values)


def validate_profile(data: Any) -> ValidatedBatch:
    """Validate one JSON profile; a batch of one in canonical form (``read_profile`` as
    frames, for callers that work on batches).

    Raises ``ProfileValidationError`` listing every field error at once.
    """
    profile = read_profile(data)
    assumed = dict(zip(OPTIONAL_BOOL_FIELDS + NUMBER_FIELDS, profile.assumed[0], strict=True))
    return ValidatedBatch(
        profiles=profile_frame(profile.columns),
        personal=array_frame({name: _one(v, object) for name, v in profile.personal.items()}),
        assumed=array_frame({name: np.array([v], dtype=bool) for name, v in assumed.items()}),
        row_numbers=np.array([1], dtype=np.int64),
        errors=[],
        labels=None,
        received=1,
    )


def _one(value: Any, dtype: type) -> np.ndarray:
    array = np.empty(1, dtype=dtype)
    array[0] = value
    return array


def _given(data: Mapping[str, Any], name: str) -> bool:
    return name in data and not is_missing(data[name])
