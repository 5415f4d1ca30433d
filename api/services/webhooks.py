"""Webhooks: subscription URLs and secrets, signing, and delivery by the background worker.

Each event is POSTed as JSON (``{"id", "type", "occurred_at", "data"}``, as the feed
gives it) with the Standard Webhooks headers: ``webhook-id`` (the event's id, the same on
every retry: receivers deduplicate on it), ``webhook-timestamp`` (unix seconds of the
attempt) and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256, keyed with the
secret's decoded bytes, of ``{id}.{timestamp}.{body}``. A 2xx answer is a delivery; any
other answer, a timeout or a refused connection is retried after the next interval of
``WEBHOOKS_RETRY_SECONDS`` (with jitter), after the last one the delivery is failed, and
``WEBHOOKS_DISABLE_AFTER_FAILURES`` failed deliveries in a row disable the subscription.
Redirects are not followed. Deliveries are sent by the worker (``Dispatcher``, run by
``api.services.batch_jobs.Worker``), never in a request.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import random
import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask

from api import store
from api.db import get_database
from api.tables import utcnow

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
SECRET_BYTES = 32
USER_AGENT = "sme-export-webhooks/1"
MAX_URL_LENGTH = 2000
log = logging.getLogger(__name__)


class UrlRefused(ValueError):
    """A webhook URL the service will not send to."""


def new_secret() -> str:
    """A new signing secret, ``whsec_`` and 32 random bytes in base64 (Standard Webhooks)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of ``body``: ``v1,`` and the base64 HMAC-SHA256 of
    ``{id}.{timestamp}.{body}`` keyed with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, ``localhost`` and names under ``.localhost``."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_loopback: bool) -> str:
    """``url`` if the service may POST events to it: ``https``, or ``http`` to a loopback
    receiver when ``allow_loopback`` (``WEBHOOKS_ALLOW_LOOPBACK``); no credentials in it.
    Raises ``UrlRefused`` saying why not."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"Not a URL: {exc}.") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UrlRefused("The URL must be https://host/...")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("The URL must not hold a user name or password.")
    if port == 0:
        raise UrlRefused("Port 0 cannot be reached.")
    loopback = is_loopback(parts.hostname)
    if loopback and not allow_loopback:
        raise UrlRefused("Loopback receivers are not allowed here (WEBHOOKS_ALLOW_LOOPBACK).")
    if parts.scheme == "http" and not loopback:
        raise UrlRefused("The URL must be https (http only for a loopback receiver).")
    return url


def loopback_allowed(config: Mapping) -> bool:
    return bool(config.get("WEBHOOKS_ALLOW_LOOPBACK", False))


@dataclass(frozen=True)
class Settings:
    """A dispatcher's settings, from the app's ``WEBHOOKS_*`` configuration."""

    timeout_seconds: float
    retry_seconds: tuple[float, ...]
    retry_jitter: float
    disable_after: int
    lease_seconds: float
    per_pass: int
    allow_loopback: bool
    send_pause_seconds: float

    @property
    def max_attempts(self) -> int:
        return len(self.retry_seconds) + 1

    @classmethod
    def of(cls, config: Mapping) -> Settings:
        return cls(
            timeout_seconds=float(config["WEBHOOKS_TIMEOUT_SECONDS"]),
            retry_seconds=tuple(float(s) for s in config["WEBHOOKS_RETRY_SECONDS"]),
            retry_jitter=float(config["WEBHOOKS_RETRY_JITTER"]),
            disable_after=int(config["WEBHOOKS_DISABLE_AFTER_FAILURES"]),
            lease_seconds=float(config["WEBHOOKS_LEASE_SECONDS"]),
            per_pass=int(config["WEBHOOKS_PER_PASS"]),
            allow_loopback=loopback_allowed(config),
            send_pause_seconds=float(config["WEBHOOKS_SEND_PAUSE_SECONDS"]),
        )

    def retry_at(self, attempts: int, now: dt.datetime) -> dt.datetime | None:
        """When to try again after ``attempts`` failed attempts; None: no retry left."""
        if attempts > len(self.retry_seconds):
            return None
        delay = self.retry_seconds[attempts - 1]
        delay *= 1 + random.uniform(-self.retry_jitter, self.retry_jitter)  # noqa: S311
        return now + dt.timedelta(seconds=max(0.0, delay))


@dataclass(frozen=True)
class Answer:
    """What came of one attempt: the HTTP status (if any), how long it took, and the error
    (None for a 2xx answer)."""

    status_code: int | None
    duration_ms: int
    error: str | None


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> Answer:
    """POST ``body`` to ``url`` (no redirects followed); ``timeout`` bounds the connection
    and each read."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    if https:
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    status, error = None, None
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        status = response.status
        response.read(64 * 1024)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    finally:
        connection.close()
    return Answer(status, round((time.monotonic() - started) * 1000), error)


def request_of(claimed: store.Claimed, *, now: float | None = None) -> tuple[bytes, dict]:
    """The body and headers of a claimed delivery, signed."""
    body = json.dumps(claimed.event, ensure_ascii=False, separators=(",", ":")).encode()
    message_id = str(claimed.event["id"])
    timestamp = int(now if now is not None else time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(claimed.secret, message_id, timestamp, body),
    }
    return body, headers


class Dispatcher:
    """Makes the deliveries of new events and sends those due, for one app's database."""

    def __init__(self, app: Flask, *, name: str):
        self.app = app
        self.name = name
        self.settings = Settings.of(app.config)
        self._sessions = get_database(app).sessions

    def run_once(self) -> int:
        """Make the deliveries of events committed since the last pass, then send up to
        ``per_pass`` due ones, one claim at a time; how many were sent."""
        settings = self.settings
        with self._sessions() as session:
            store.fail_abandoned_deliveries(
                session, max_attempts=settings.max_attempts, disable_after=settings.disable_after
            )
            session.commit()
            for subscription_id in store.subscriptions_behind(session):
                while store.make_deliveries(session, subscription_id):
                    session.commit()
                session.commit()
            sent = 0
            while sent < settings.per_pass:
                claimed = store.claim_delivery(
                    session,
                    worker=self.name,
                    lease_seconds=settings.lease_seconds,
                    max_attempts=settings.max_attempts,
                )
                session.commit()
                if claimed is None:
                    break
                self._send(session, claimed)
                sent += 1
        return sent

    def _send(self, session, claimed: store.Claimed) -> None:
        settings = self.settings
        if settings.send_pause_seconds:
            time.sleep(settings.send_pause_seconds)
        try:
            check_url(claimed.url, allow_loopback=settings.allow_loopback)
        except UrlRefused as exc:
            answer = Answer(None, 0, str(exc))
        else:
            body, headers = request_of(claimed)
            answer = post(claimed.url, body, headers, timeout=settings.timeout_seconds)
        retry_at = None
        if answer.error is not None:
            retry_at = settings.retry_at(claimed.attempts, utcnow())
        status = store.finish_attempt(
            session,
            claimed.delivery_id,
            worker=self.name,
            status_code=answer.status_code,
            duration_ms=answer.duration_ms,
            error=answer.error,
            retry_at=retry_at,
            disable_after=settings.disable_after,
        )
        session.commit()
        if answer.error is not None:
            log.warning(
                "webhook %d, event %d, attempt %d: %s (%s)",
                claimed.subscription_id,
                claimed.event["id"],
                claimed.attempts,
                answer.error,
                status,
            )
