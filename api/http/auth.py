"""API keys: the ``X-API-Key`` header, checked against the store, and scopes per route.

Scopes: ``score`` (create scores, batches, shortlists), ``read`` (read SMEs, batches,
results, model and ruleset), ``personal`` (see an SME's personal fields and export
everything held on it), ``admin`` (everything). No key or an unknown/revoked key is
401, a key without the scope 403, a key over its rate limit 429 (``api.http.rate_limit``).
The key itself is never logged or echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any

from flask import g, request
from flask_smorest import abort

from api import store
from api.db import get_session
from api.http import rate_limit
from api.http.openapi import API_KEY_HEADER, SECURITY_SCHEME

SCORE, READ, PERSONAL, ADMIN = "score", "read", "personal", "admin"
SCOPES = (SCORE, READ, PERSONAL, ADMIN)
_CHALLENGE = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}


def authenticate() -> store.ApiKeyInfo:
    """The key presented with this request; aborts with 401 if there is none or it is wrong."""
    presented = request.headers.get(API_KEY_HEADER, "").strip()
    if not presented:
        abort(401, message=f"Send an API key in the {API_KEY_HEADER} header.", headers=_CHALLENGE)
    session = get_session()
    key = store.find_api_key(session, presented)
    if key is None:
        abort(401, message="The API key is unknown or revoked.", headers=_CHALLENGE)
    if store.key_use_to_commit(session):
        session.commit()  # keeps the key's last_used_at
    # Otherwise the session keeps its connection for the view: handing it back to the pool
    # and checking it out again (on PostgreSQL, with a ping) cost more than the lookup.
    return key


def require_scope(scope: str) -> Callable:
    """Route decorator: the request needs a key with ``scope`` (or ``admin``).

    Also documents the security requirement and the 401/403 answers in OpenAPI. Put it
    under ``@blp.route`` and above the argument decorators, so that a request without a
    valid key is refused before its body is read.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = authenticate()
            rate_limit.check(key.key_id)
            if scope not in key.scopes and ADMIN not in key.scopes:
                abort(403, message=f"This API key lacks the '{scope}' scope.")
            g.api_key = key
            return view(*args, **kwargs)

        wrapper._apidoc = deepcopy(getattr(view, "_apidoc", {}))
        manual = wrapper._apidoc.setdefault("manual_doc", {})
        manual["security"] = [{SECURITY_SCHEME: []}]
        manual["x-required-scope"] = scope
        responses = wrapper._apidoc.setdefault("response", {}).setdefault("responses", {})
        responses.setdefault(401, []).append("UNAUTHORIZED")
        responses.setdefault(403, []).append("FORBIDDEN")
        responses.setdefault(429, []).append("TOO_MANY_REQUESTS")
        return wrapper

    return decorator


def has_scope(scope: str) -> bool:
    """Whether this request's key carries ``scope`` (or ``admin``)."""
    key = getattr(g, "api_key", None)
    return key is not None and (scope in key.scopes or ADMIN in key.scopes)


def current_actor() -> str:
    """Who acts in this request, for the audit log: the key's id, never the key."""
    key = getattr(g, "api_key", None)
    return f"key:{key.key_id}" if key is not None else "anonymous"
