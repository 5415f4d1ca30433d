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
import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app
from flask_smorest import abort
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

#: How often the in-process storage drops expired entries (seconds).
SWEEP_SECONDS = 1.0
_EXTENSION = "sme_export.rate_limit"
_LOGIN_EXTENSION = "sme_export.login_rate_limit"


@dataclass(frozen=True)
class RateLimit:
    """The configured limit and the limiter that keeps its counts."""

    spec: str
    item: RateLimitItem
    limiter: MovingWindowRateLimiter


class SweptMemoryStorage(MemoryStorage):
    """``limits``' in-process storage, with expired entries dropped by the request that
    finds a sweep due (at most once every ``SWEEP_SECONDS``) instead of by a timer thread.

    The parent starts a new timer thread whenever its last one has ended, which on a
    busy machine costs a request up to milliseconds waiting for the scheduler. Expired
    entries never count either way: the moving window compares their times.
    """

    def __init__(self, uri: str | None = None, **options):
        super().__init__(uri, **options)
        self.timer.cancel()  # the parent's first sweep: the requests sweep from now on
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        self._sweep_lock = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # the parent's hook, by its own name
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_SECONDS
            self._MemoryStorage__expire_events()
        finally:
            self._sweep_lock.release()


def open_storage(app: Flask) -> Storage:
    """The rate-limit storage named by ``RATELIMIT_STORAGE_URI`` (``memory://`` by default:
    a ``SweptMemoryStorage``)."""
    uri = app.config.get("RATELIMIT_STORAGE_URI", "memory://")
    if uri.split("://", 1)[0] == "memory":
        return SweptMemoryStorage(uri)
    return storage_from_string(uri)


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
                limiter = MovingWindowRateLimiter(open_storage(app))
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
