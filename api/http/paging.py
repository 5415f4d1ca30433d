"""Paging of the API's lists: numbered pages (``page``, ``per_page``) and keyset cursors
(``cursor``, ``limit``), with ``next_cursor`` in the body and a ``Link: <...>; rel="next"``
header (RFC 8288) whenever there is more.

A cursor is opaque to clients: the URL-safe base64 of a small JSON object naming the list,
a digest of its filters and the sort key of the last item sent. The next page holds the
items after that key in the list's order, so a row inserted meanwhile never shifts the
others: paging by cursor misses and repeats nothing that exists throughout the pass (a row
added during it is listed at most once, if it sorts after the cursor). Numbered pages are
kept for older clients; every page of either kind carries ``next_cursor``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import current_app, request, url_for
from flask_smorest import abort
from marshmallow import EXCLUDE, Schema, ValidationError, validates_schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.config import DefaultConfig
from api.http.request_guard import MAX_ID
from scoring.contract.fields import SME_ID_PATTERN

#: Longest cursor accepted; the keys of every list encode in far fewer characters.
CURSOR_MAX_LENGTH = 1000
_PAGING_ARGUMENTS = ("page", "per_page", "cursor", "limit")
_SME_ID = re.compile(SME_ID_PATTERN)

BAD_CURSOR = "Not a cursor of this list: pass the next_cursor of a page unchanged."
OTHER_QUERY = (
    "This cursor belongs to another query: page with the filters of the page it came from."
)


class Timestamp(ma.AwareDateTime):
    """An ISO 8601 time, loaded as an aware datetime in UTC (a time without zone is UTC)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=dt.UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+07:00 is before year 1 in UTC
            raise ValidationError("Outside the range of times this service stores.") from None


def updated_since_field(description: str) -> Timestamp:
    return Timestamp(metadata={"description": description, "example": "2026-03-01T00:00:00Z"})


def _page_size_metadata(description: str) -> dict:
    # Documented so that clients (and schemathesis) know a larger page is refused; the
    # view enforces the configured value.
    return {"description": description, "maximum": DefaultConfig.PAGE_SIZE_MAX}


class CursorQuerySchema(Schema):
    """``cursor`` and ``limit``: a list read page by page with keyset cursors."""

    cursor = ma.String(
        validate=mv.Length(min=1, max=CURSOR_MAX_LENGTH),
        metadata={
            "description": "The `next_cursor` of the previous page (also in its `Link` "
            "header), unchanged: the page after it. Opaque."
        },
    )
    limit = ma.Integer(
        validate=mv.Range(min=1),
        metadata=_page_size_metadata(
            "Items per page when paging by cursor; at most the service's PAGE_SIZE_MAX (500)."
        ),
    )


class PagingQuerySchema(CursorQuerySchema):
    """Either numbered pages (``page``, ``per_page``) or cursors (``cursor``, ``limit``)."""

    # No documented default: a generated client would send it, with `cursor` too.
    page = ma.Integer(
        validate=mv.Range(min=1, max=1_000_000),
        metadata={
            "description": "Page number, from 1 (the first when left out); not with `cursor` "
            "or `limit`."
        },
    )
    per_page = ma.Integer(
        validate=mv.Range(min=1),
        metadata=_page_size_metadata(
            "Items per numbered page; at most the service's PAGE_SIZE_MAX (500)."
        ),
    )

    @validates_schema(pass_original=True)
    def _one_kind(self, data: dict, original_data: Any, **kwargs: Any) -> None:
        given = set(original_data or ()) if isinstance(original_data, Mapping) else set()
        if given & {"cursor", "limit"}:
            mixed = sorted(given & {"page", "per_page"})
            if mixed:
                message = "Page by number (page, per_page) or by cursor (cursor, limit), not both."
                raise ValidationError({name: [message] for name in mixed})


def next_cursor_field() -> ma.String:
    return ma.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Pass as `cursor` for the next page; null on the last page. The "
            'same address is in the `Link` header (rel="next").'
        },
    )


class PageInfoSchema(Schema):
    """The paging members of a list's body (``items`` is the list's own)."""

    class Meta:
        unknown = EXCLUDE

    next_cursor = next_cursor_field()
    total = ma.Integer(metadata={"description": "Items matching the filters (numbered pages)."})
    page = ma.Integer(metadata={"description": "This page's number (numbered pages)."})
    per_page = ma.Integer(metadata={"description": "Items per page (numbered pages)."})
    limit = ma.Integer(metadata={"description": "Items per page (paging by cursor)."})


#: The ``Link`` header of a page that has a next one, for ``@blp.response(headers=...)``.
LINK_HEADER = {
    "Link": {
        "description": 'The next page: `<address>; rel="next"` (RFC 8288), with the cursor; '
        "absent on the last page.",
        "schema": {"type": "string"},
    }
}


# --- cursors -----------------------------------------------------------------------------


def _id(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_ID:
        raise ValueError(value)
    return value


def _sme_id(value: Any) -> str:
    if not isinstance(value, str) or not _SME_ID.fullmatch(value):
        raise ValueError(value)
    return value


def _date(value: Any) -> dt.date:
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError(value)
    return dt.date.fromisoformat(value)


#: What a position of a list's sort key may hold: a decoded cursor is checked with these,
#: so that a forged one is a 422, never a value the database refuses.
_KINDS: dict[str, Callable[[Any], Any]] = {"id": _id, "sme_id": _sme_id, "date": _date}


def _encode_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _digest(filters: Mapping[str, Any]) -> str:
    """A short digest of a list's filters: a cursor is valid only with those it came from."""
    given = {name: _encode_value(value) for name, value in filters.items() if value is not None}
    text = json.dumps(given, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def encode_cursor(name: str, filters: Mapping[str, Any], key: Sequence[Any]) -> str:
    """The cursor of the items after ``key`` in list ``name`` under ``filters``."""
    payload = {"l": name, "q": _digest(filters), "k": [_encode_value(v) for v in key]}
    raw = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(
    text: str, name: str, filters: Mapping[str, Any], kinds: Sequence[str]
) -> tuple[Any, ...]:
    """The sort key a cursor of list ``name`` holds; ``ValueError`` with the reason if it
    is not one, or was made under other ``filters``."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = json.loads(raw)
        key = payload["k"]
        if payload["l"] != name or not isinstance(key, list) or len(key) != len(kinds):
            raise ValueError(BAD_CURSOR)
        values = tuple(_KINDS[kind](value) for kind, value in zip(kinds, key, strict=True))
    except (binascii.Error, UnicodeDecodeError, TypeError, KeyError, ValueError):
        raise ValueError(BAD_CURSOR) from None
    if payload.get("q") != _digest(filters):
        raise ValueError(OTHER_QUERY)
    return values


# --- a list request ----------------------------------------------------------------------


def _refuse(field: str, message: str):
    abort(422, errors=[{"field": field, "message": message}])


@dataclass(frozen=True)
class Pager:
    """One request for a page of list ``name``: which page, and how its body is made.

    By cursor (``by_cursor``), read ``fetch`` items (one more than the page holds, to know
    whether there is a next page) sorting after ``after`` (None: from the start); else the
    numbered ``page`` of ``size`` items.
    """

    name: str
    filters: Mapping[str, Any]
    size: int
    page: int | None
    after: tuple[Any, ...] | None

    @classmethod
    def from_query(
        cls,
        name: str,
        kinds: Sequence[str],
        *,
        filters: Mapping[str, Any],
        cursor: str | None = None,
        limit: int | None = None,
        page: int | None = None,
        per_page: int | None = None,
        by_cursor: bool = False,
    ) -> Pager:
        """The page a request asks for: by cursor when it gives ``cursor`` or ``limit`` (or
        the list has no numbered pages: ``by_cursor``), else by number. A page size beyond
        PAGE_SIZE_MAX or a cursor that is not one of this list's is 422 naming the field."""
        largest = current_app.config["PAGE_SIZE_MAX"]
        default = min(current_app.config["PAGE_SIZE_DEFAULT"], largest)
        for field, value in (("limit", limit), ("per_page", per_page)):
            if value is not None and value > largest:
                _refuse(field, f"Must be at most {largest}.")
        if cursor is None and limit is None and not by_cursor:
            return cls(name, filters, per_page or default, page or 1, None)
        after = None
        if cursor is not None:
            try:
                after = decode_cursor(cursor, name, filters, kinds)
            except ValueError as exc:
                _refuse("cursor", str(exc))
        return cls(name, filters, limit or default, None, after)

    @property
    def by_cursor(self) -> bool:
        return self.page is None

    @property
    def fetch(self) -> int:
        """How many items to read: one more than a page by cursor, to see if there is more."""
        return self.size + 1 if self.by_cursor else self.size

    def body(
        self,
        items: Sequence[Any],
        key: Callable[[Any], Sequence[Any]],
        *,
        total: int | None = None,
    ) -> tuple[list[Any], dict[str, Any], dict[str, str]]:
        """The page's items, its paging members (``PageInfoSchema``) and headers, from the
        ``items`` read (``fetch`` of them by cursor) and, for numbered pages, the ``total``."""
        if self.by_cursor:
            more = len(items) > self.size
            items = list(items[: self.size])
            info: dict[str, Any] = {"limit": self.size}
        else:
            more = total is not None and self.page * self.size < total
            items = list(items)
            info = {"total": total, "page": self.page, "per_page": self.size}
        info["next_cursor"] = None
        headers = {}
        if more and items:
            info["next_cursor"] = encode_cursor(self.name, self.filters, key(items[-1]))
            headers["Link"] = f'<{self._address(info["next_cursor"])}>; rel="next"'
        return items, info, headers

    def _address(self, cursor: str) -> str:
        """This request's address with ``cursor`` (and the page size as ``limit``)."""
        query = [
            (name, value)
            for name, value in request.args.items(multi=True)
            if name not in _PAGING_ARGUMENTS
        ]
        query += [("cursor", cursor), ("limit", str(self.size))]
        return f"{url_for(request.endpoint, **(request.view_args or {}))}?{urlencode(query)}"
