"""Requests per API key: beyond ``RATE_LIMIT`` a key is answered 429 with ``Retry-After``.

The limit is a moving window in the notation of the ``limits`` package ("600/minute",
"10/second"); ``None`` turns it off. Counts live in ``RATELIMIT_STORAGE_URI``: the default
``memory://`` counts per process (so with several gunicorn workers a key may get up to
that many times the limit); ``redis://host:6379`` shares the counts between every worker
and host. Requests are counted after the key is authenticated, so unknown keys never
fill the storage.

Failed staff logins are limited the same way per client address (``LOGIN_RATE_LIMIT``,
counted in the same storage under an opaque key): beyond it the login page answers 429.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from flask_smorest import abort
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

_EXTENSION = "sme_export.rate_limit"
_LOGIN_EXTENSION = "sme_export.login_rate_limit"


@dataclass(frozen=True)
class RateLimit:
    """The configured limit and the limiter that keeps its counts."""

    spec: str
    item: RateLimitItem
    limiter: MovingWindowRateLimiter


def init_app(app: Flask) -> None:
    """Read ``RATE_LIMIT`` and ``LOGIN_RATE_LIMIT`` and open their storage; a malformed
    limit fails at start."""
    specs = {
        _EXTENSION: app.config.get("RATE_LIMIT"),
        _LOGIN_EXTENSION: app.config.get("LOGIN_RATE_LIMIT"),
    }
    limiter = None
    for name, spec in specs.items():
        limit = None
        if spec:
            if limiter is None:
                uri = app.config.get("RATELIMIT_STORAGE_URI", "memory://")
                limiter = MovingWindowRateLimiter(storage_from_string(uri))
            limit = RateLimit(spec, parse(spec), limiter)
        app.extensions[name] = limit


def check(key_id: str) -> None:
    """Count a request of ``key_id``; aborts with 429 once its allowance is used up."""
    limit: RateLimit | None = current_app.extensions.get(_EXTENSION)
    if limit is None or limit.limiter.hit(limit.item, key_id):
        return
    reset_at = limit.limiter.get_window_stats(limit.item, key_id).reset_time
    retry = max(1, math.ceil(reset_at - time.time()))
    abort(
        429,
        message=f"This API key made more than {limit.spec} requests; retry in {retry} s.",
        headers={"Retry-After": str(retry)},
    )


def login_retry_after(address: str) -> int | None:
    """Seconds until ``address`` (an opaque key) may try to log in again once it has used
    up its failed logins; None while it may (this does not count an attempt)."""
    limit: RateLimit | None = current_app.extensions.get(_LOGIN_EXTENSION)
    key = f"login:{address}"
    if limit is None or limit.limiter.test(limit.item, key):
        return None
    reset_at = limit.limiter.get_window_stats(limit.item, key).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def count_failed_login(address: str) -> None:
    """Count one failed login from ``address``."""
    limit: RateLimit | None = current_app.extensions.get(_LOGIN_EXTENSION)
    if limit is not None:
        limit.limiter.hit(limit.item, f"login:{address}")
