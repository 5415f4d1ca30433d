"""Request bodies: which media types a route accepts (415 for anything else)."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any

from flask import request
from flask_smorest import abort

JSON = "application/json"
MULTIPART = "multipart/form-data"


def is_json(mimetype: str) -> bool:
    return mimetype == JSON or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def accepts(*mimetypes: str) -> Callable:
    """Route decorator: the body must be one of ``mimetypes`` (JSON includes ``+json``)."""

    def matches(mimetype: str) -> bool:
        return any(is_json(mimetype) if m == JSON else mimetype == m for m in mimetypes)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not matches(request.mimetype):
                given = request.mimetype or "no Content-Type"
                abort(415, message=f"Send the body as {' or '.join(mimetypes)}, not {given}.")
            return view(*args, **kwargs)

        wrapper._apidoc = deepcopy(getattr(view, "_apidoc", {}))
        responses = wrapper._apidoc.setdefault("response", {}).setdefault("responses", {})
        responses.setdefault(415, []).append("UNSUPPORTED_MEDIA_TYPE")
        return wrapper

    return decorator
