"""Inputs refused before any view runs: what would otherwise fail deep inside a parser or a
database driver (a 500), or be stored by SQLite but refused by PostgreSQL.

One ``before_request`` hook checks every request:

- an integer id in the path beyond the databases' integer ids, or a NUL character in a
  path segment: 404 (it names nothing);
- a NUL character in a header: 400; in a query parameter or a form field: 422 naming it;
- a JSON body nested too deeply for the parser: 400; a number of more digits than Python
  converts, a lone surrogate (not a Unicode character) or a NUL character in a string:
  422 naming the field (``Item N:`` in front for an item of a top-level array).

Spreadsheet cells are checked by ``scoring.files.readers``; everything else reaches the views.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from flask import Flask, request
from flask_smorest import abort

from api.http.negotiation import is_json

#: Ids are 32-bit integers in SQLite and PostgreSQL alike (``api.http.schemas.MAX_ID``).
MAX_ID = 2**31 - 1
#: The longest integer Python converts from text (``sys.set_int_max_str_digits``).
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL = "\x00"
# What a body needs for any of the problems: a NUL or surrogate escape, a surrogate
# encoded as UTF-8 bytes (``json.loads`` decodes them), a run of too many digits, a NUL
# byte (a raw NUL is not JSON; UTF-16 and UTF-32 text has them), or enough brackets to
# nest past the parser. A body with none of them is not parsed here.
_SUSPECT = re.compile(
    rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]|[0-9]{%d}" % (MAX_INT_DIGITS + 1)
)
_SAFE_BRACKETS = 200

NESTED_TOO_DEEPLY = "The JSON body is nested too deeply."
NUL_TEXT = "Text with a NUL character."
SURROGATE_TEXT = "Text with a lone surrogate (not a Unicode character)."
HUGE_NUMBER = f"A number of more than {MAX_INT_DIGITS} digits."


class _HugeNumber(str):
    """A JSON integer too long to convert, kept as its text so that its field can be named."""


def _parse_int(text: str) -> int | _HugeNumber:
    digits = len(text) - text.startswith("-")
    return _HugeNumber(text) if digits > MAX_INT_DIGITS else int(text)


def check_request() -> None:
    """Refuse the request (``abort``) if it carries any of the inputs above."""
    _check_path()
    for name, value in request.headers.items():
        if _NUL in value:
            abort(400, message=f"The {name} header contains a NUL character.")
    fields = list(request.args.lists())
    if request.mimetype in _FORMS:
        fields.extend(request.form.lists())
    errors = [
        {"field": name, "message": NUL_TEXT}
        for name, values in fields
        if _NUL in name or any(_NUL in value for value in values)
    ]
    if errors:
        abort(422, errors=errors)
    if is_json(request.mimetype):
        _check_json(request.get_data(cache=True))


def _check_path() -> None:
    for value in (request.view_args or {}).values():
        if (isinstance(value, int) and not -MAX_ID <= value <= MAX_ID) or (
            isinstance(value, str) and _NUL in value
        ):
            abort(404, message="There is nothing at this address.")


def _check_json(body: bytes) -> None:
    if (
        not _SUSPECT.search(body)
        and body.count(b"[") + body.count(b"{") < _SAFE_BRACKETS
        and b"\x00" not in body
    ):
        return
    try:
        data = json.loads(body, parse_int=_parse_int)
    except RecursionError:
        abort(400, message=NESTED_TOO_DEEPLY)
    except ValueError:  # not JSON at all: the view answers that in its own words
        return
    errors = []
    for path, problem in _problems(data):
        if isinstance(data, list) and path and isinstance(path[0], int):
            item, field = path[0] + 1, _field(path[1:]) or "_schema"
            problem = f"Item {item}: {problem[0].lower()}{problem[1:]}"
        else:
            field = _field(path) or "_schema"
        errors.append({"field": field, "message": problem})
        if len(errors) >= 100:
            break
    if errors:
        abort(422, errors=errors)


def _field(path: tuple) -> str:
    """A field's name: its keys joined by dots (list items count as their list)."""
    return ".".join(str(part) for part in path if not isinstance(part, int))


def _problems(data: Any) -> Iterator[tuple[tuple, str]]:
    """``(path, problem)`` for every value in ``data`` that is refused, in document order
    (without recursion: ``data`` may be nested nearly as deep as the parser allows)."""
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _HugeNumber):
            yield path, HUGE_NUMBER
        elif isinstance(value, str):
            yield from _text_problems(value, path)
        elif isinstance(value, dict):
            for key in value:
                yield from _text_problems(key, path)
            stack.extend(((*path, key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(value))))


def _text_problems(text: str, path: tuple) -> Iterator[tuple[tuple, str]]:
    if _NUL in text:
        yield path, NUL_TEXT
    if _SURROGATE.search(text):
        yield path, SURROGATE_TEXT


def init_app(app: Flask) -> None:
    app.before_request(check_request)
