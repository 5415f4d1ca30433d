"""What the schemas of support decisions, export follow-ups, outcome files and the
evaluation share: field makers, JSON-only booleans and numbers, path-named errors, the
office's date (WIB) and the bases of request and response bodies.

Request bodies are typed JSON (dates as ISO ``2026-03-14`` strings, booleans and numbers as
JSON booleans and numbers): the lenient readings of spreadsheets are for outcome files.
The checks that span fields or need today's date are the contract's
(``scoring.contract.outcomes``), run in the same pass as the field checks so that every
problem is named at once; an error inside a list or object is named by its path
(``decisions.3.support_kind``, items counted from 0).
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.schemas import ResponseSchema
from scoring.contract import fields as F
from scoring.contract.messages import PATTERN_MESSAGES
from scoring.contract.outcomes import (
    TEXT_MAX,
)
from scoring.outcomes import labels as L

#: Decisions one bulk request may record.
BULK_MAX = 500
TEMPLATE_LANGUAGES = ("id", "en")
TEMPLATE_FORMATS = ("csv", "xlsx")
EVALUATED_DECISIONS = ("support", "no_support", "all")
LABEL_BASES = (
    L.EXPORTED_IN_WINDOW,
    L.EXPORTED_AFTER_WINDOW,
    L.NO_EXPORT_AFTER_WINDOW,
    L.NO_FOLLOWUP,
    L.WINDOW_OPEN,
)
NAME_MAX = 200
PLACES_MAX = 100_000
NOT_CHANGEABLE = "Cannot be changed: record a new {what} instead."
#: Western Indonesian Time (UTC+7 all year), the office's clock.
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")


def office_today() -> dt.date:
    """Today in the office's time zone (WIB, UTC+7): what "in the future" is judged by."""
    return dt.datetime.now(WIB).date()


def sme_id_field(**options: Any) -> ma.String:
    return ma.String(
        validate=mv.Regexp(F.SME_ID_PATTERN, error=PATTERN_MESSAGES[F.SME_ID_PATTERN]),
        metadata={"description": "The SME's id, as in its profile."},
        **options,
    )


def text_field(description: str, *, max_length: int = TEXT_MAX, **options: Any) -> ma.String:
    return ma.String(
        validate=mv.Length(min=1, max=max_length), metadata={"description": description}, **options
    )


def day_field(**options: Any) -> ma.String:
    """A date in a response: ISO ``2026-03-14``."""
    return ma.String(metadata={"format": "date", **options.pop("metadata", {})}, **options)


def choice_field(choices: tuple[str, ...], description: str, **options: Any) -> ma.String:
    return ma.String(validate=mv.OneOf(choices), metadata={"description": description}, **options)


class JsonBoolean(ma.Boolean):
    """A JSON ``true`` or ``false``, nothing else (``"yes"`` or ``1`` is an outcome file's)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JsonNumber(ma.Float):
    """A JSON number (not a numeric string, not a boolean)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


def flat_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages keyed by each field's path (``decisions.3.reason``)."""
    if not isinstance(messages, Mapping):
        items = messages if isinstance(messages, list) else [messages]
        if all(isinstance(m, str) for m in items):
            return {prefix or "_schema": list(items)}
        out: dict[str, list[str]] = {}
        for item in items:
            for name, found in flat_messages(item, prefix).items():
                out.setdefault(name, []).extend(found)
        return out
    out = {}
    for key, detail in messages.items():
        name = str(key)
        path = prefix if name == "_schema" and prefix else f"{prefix}.{name}" if prefix else name
        for field, found in flat_messages(detail, path).items():
            out.setdefault(field, []).extend(found)
    return out


class Documented:
    """Mixin: a response schema's own docstring is its description in the OpenAPI document
    (a schema without one has none, whatever its bases say). Not for request bodies: a
    described schema loses its ``additionalProperties: false`` there (apispec); their
    operations describe them instead."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        plain = cls.__dict__.get("Meta") or getattr(cls, "_undescribed_meta", cls.Meta)
        cls._undescribed_meta = plain
        doc = cls.__dict__.get("__doc__")
        if doc:
            plain = type("Meta", (plain,), {"description": inspect.cleandoc(doc)})
        cls.Meta = plain


class Described(Documented, ResponseSchema):
    """Base of the response bodies here: described by their docstrings."""


class RequestSchema(Schema):
    """Base of request bodies: every error named by its path; the stored record's fields
    that a body cannot change (``FIXED``) are named as such, not as unknown fields."""

    FIXED: ClassVar[dict[str, str]] = {}

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs) -> None:
        messages = flat_messages(error.messages)
        for name, message in self.FIXED.items():
            if messages.get(name) == ["Unknown field."]:
                messages[name] = [message]
        raise ValidationError(messages, data=error.data, valid_data=error.valid_data) from error


def failed_fields(original: Any, data: Mapping) -> set[str]:
    """The fields given in ``original`` that did not load (their own error is reported)."""
    if not isinstance(original, Mapping):
        return set()
    return {name for name in original if name not in data}


def raise_field_errors(errors: list[dict]) -> None:
    if errors:
        found: dict[str, list[str]] = {}
        for item in errors:
            found.setdefault(item["field"], []).append(item["message"])
        raise ValidationError(found)
