"""API keys: created with a secret shown once, found by constant-time hash, revoked."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from api.store.direct import direct
from api.tables import ApiKey, utcnow

SCOPES = ("score", "read", "personal", "admin")
KEY_PREFIX = "sme_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_MAX_KEY_LENGTH = 200
_DUMMY_DIGEST = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown of an API key: never its secret or hash."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _key_info(row, **changed) -> ApiKeyInfo:
    """The info of a key's row (an ORM object or a Core row), with ``changed`` fields."""
    info = ApiKeyInfo(
        key_id=row.key_id,
        name=row.name,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
    return replace(info, **changed) if changed else info


def _split_key(presented: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a key text ``sme_<key_id>_<secret>``, None if malformed."""
    if not isinstance(presented, str) or len(presented) > _MAX_KEY_LENGTH:
        return None
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = presented[len(KEY_PREFIX) :].partition("_")
    if not (key_id and sep and secret):
        return None
    return key_id, secret


def create_api_key(session: Session, *, name: str, scopes: Iterable[str]) -> tuple[str, str]:
    """A new key: ``(key_id, full key text)``. The text is shown once; only its hash is kept."""
    name = name.strip()
    if not name:
        raise ValueError("an API key needs a name")
    scopes = tuple(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be one or more of {', '.join(SCOPES)}; got {list(scopes)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(key_id=key_id, name=name, secret_sha256=_digest(secret), scopes=list(scopes))
    )
    session.flush()
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}"


def find_api_key(session: Session, presented: str) -> ApiKeyInfo | None:
    """The active key matching ``presented``, else None.

    The secret's hash is compared in constant time, also when the key id is unknown.
    ``last_used_at`` is recorded at most once a minute, in its own short transaction
    (bookkeeping that must not make every read request a writer holding the key's row).
    Read with a Core statement built once, straight on the driver's cursor
    (``api.store.direct``): this runs on every API request.
    """
    parts = _split_key(presented)
    row = None
    if parts is not None:
        rows = direct(_FIND).rows(session.connection(), {"key_id": parts[0]})
        row = rows[0] if rows else None
    expected = row.secret_sha256 if row is not None else _DUMMY_DIGEST
    matches = hmac.compare_digest(expected, _digest(parts[1] if parts else ""))
    if row is None or not matches or row.revoked_at is not None:
        return None
    return _key_info(row, last_used_at=_record_use(session, row))


_keys = ApiKey.__table__
_FIND = select(_keys).where(_keys.c.key_id == bindparam("key_id"))
_TOUCH = (
    update(_keys).where(_keys.c.id == bindparam("row_id")).values(last_used_at=bindparam("now"))
)


_USE_TO_COMMIT = "sme_export.key_use_to_commit"


def key_use_to_commit(session: Session) -> bool:
    """Whether ``find_api_key`` wrote the key's use in ``session``'s own transaction (only
    with one shared connection), which the caller then commits; otherwise nothing of it
    waits in the session. Asking clears the mark."""
    return bool(session.info.pop(_USE_TO_COMMIT, False))


def _record_use(session: Session, row) -> dt.datetime | None:
    """The key's ``last_used_at`` after this use (written if a minute has passed)."""
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_RESOLUTION:
        return row.last_used_at
    bind = session.get_bind()
    if not isinstance(bind, Engine) or isinstance(bind.pool, StaticPool):
        # one shared connection: only the caller's transaction exists, so the caller
        # commits the write (``key_use_to_commit``)
        session.execute(_TOUCH, {"row_id": row.id, "now": now})
        session.info[_USE_TO_COMMIT] = True
        return now
    try:
        with bind.begin() as connection:
            connection.execute(_TOUCH, {"row_id": row.id, "now": now})
    except OperationalError:
        return row.last_used_at  # best effort: a busy database does not refuse a valid key
    return now


def may_write_personal(session: Session, actor: str) -> bool:
    """Whether ``actor`` (as the audit log names it) may store personal fields: an API key
    needs the ``personal`` or ``admin`` scope; staff pages and the command line may."""
    if not actor.startswith("key:"):
        return True
    scopes = session.scalar(select(ApiKey.scopes).where(ApiKey.key_id == actor[len("key:") :]))
    return bool(scopes) and bool({"personal", "admin"} & set(scopes))


def revoke_api_key(session: Session, key_id: str) -> bool:
    """Revoke a key; False if there is no active key ``key_id``."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def list_api_keys(session: Session) -> list[ApiKeyInfo]:
    """Every key, oldest first, without secrets."""
    rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
    return [_key_info(row) for row in rows]
