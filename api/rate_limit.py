"""Requests per API key: beyond ``RATE_LIMIT`` a key is answered 429 with ``Retry-After``.

The limit is a moving window in the notation of the ``limits`` package ("600/minute",
"10/second"); ``None`` turns it off. Counts live in ``RATELIMIT_STORAGE_URI``: the default
``memory://`` counts per process (so with several gunicorn workers a key may get up to
that many times the limit); ``redis://host:6379`` shares the counts between every worker
and host. Requests are counted after the key is authenticated, so unknown keys never
fill the storage.
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


@dataclass(frozen=True)
class RateLimit:
    """The configured limit and the limiter that keeps its counts."""

    spec: str
    item: RateLimitItem
    limiter: MovingWindowRateLimiter


def init_app(app: Flask) -> None:
    """Read ``RATE_LIMIT`` and open its storage; a malformed limit fails at start."""
    spec = app.config.get("RATE_LIMIT")
    limit = None
    if spec:
        storage = storage_from_string(app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
        limit = RateLimit(spec, parse(spec), MovingWindowRateLimiter(storage))
    app.extensions[_EXTENSION] = limit


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
