"""JSON answers written by orjson: Flask's JSON, several times faster to write.

A score record is 7 KB of JSON; the standard library's encoder takes about 90 µs for
it, orjson about 10. The text is Flask's compact JSON, byte for byte (text outside ASCII
and DEL escaped as ``\\u`` sequences, as Flask writes them), but for two things: a float below
1e-4 or from 1e16 on is written in orjson's shortest form (``1e-7`` for ``1e-07``,
``0.00001`` for ``1e-05``: the same number), and a float that is not a number is ``null``
rather than ``NaN``, which is not JSON. Dates, decimals, dataclasses and markup are turned
into JSON by Flask's own rules, and whatever orjson does not take (integers past 64 bits,
keys that are not text, keyword options such as ``indent``) goes to Flask's encoder as
before. Reading JSON stays with the standard library (``api.http.request_guard`` relies on
it).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
#: What the standard library escapes and orjson writes as it is: DEL and beyond ASCII.
_NOT_ASCII = re.compile(r"[^\x00-\x7e]")


def _escaped(match: re.Match) -> str:
    """A character (DEL or outside ASCII) as JSON's ``\\u`` escape (a pair past the BMP), lower-case
    hex as the standard library writes it."""
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


class OrjsonProvider(DefaultJSONProvider):
    """``app.json``: answers written by orjson, everything else as Flask does it."""

    sort_keys = False  # records keep the contract's field order

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs or self.sort_keys:
            return super().dumps(obj, **kwargs)
        encoded = self._encoded(obj)
        return encoded.decode() if encoded is not None else super().dumps(obj)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if (self.compact is None and self._app.debug) or self.compact is False or self.sort_keys:
            return super().response(*args, **kwargs)  # indented for reading
        obj = self._prepare_response_obj(args, kwargs)
        encoded = self._encoded(obj)
        if encoded is None:
            return super().response(obj)
        return self._app.response_class(encoded + b"\n", mimetype=self.mimetype)

    def _encoded(self, obj: Any) -> bytes | None:
        """orjson's text of ``obj`` in ASCII; None for what only Flask's encoder takes."""
        try:
            encoded = orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return None
        if encoded.isascii() and b"\x7f" not in encoded:
            return encoded
        return _NOT_ASCII.sub(_escaped, encoded.decode()).encode()
