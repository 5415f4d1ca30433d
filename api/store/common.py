"""What the store's modules share: UTC timestamps as text, the dialect's upsert, IN lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

#: ids per IN (...) list: well under SQLite's and PostgreSQL's limits
IN_CHUNK = 500


def parse_time(text: str) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 text (naive text is taken as UTC)."""
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def format_time(value: dt.datetime) -> str:
    """ISO 8601 text in UTC ending in "Z", like a score record's ``scored_at``."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def upsert(session: Session, table):
    """The dialect's INSERT that supports ON CONFLICT (SQLite and PostgreSQL)."""
    return _upsert(session.get_bind().dialect.name, table)


def _upsert(dialect: str, table):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise NotImplementedError(f"no upsert for database {dialect!r}")
    return insert(table)


#: Upsert statements already built, by dialect and the caller's key (``built_upsert``).
_BUILT: dict[tuple, Any] = {}


def built_upsert(session: Session, table, key: Hashable, build: Callable):
    """``build(insert)`` of the dialect's upsert ``insert`` of ``table``, built once per
    dialect and ``key`` and reused: building an ON CONFLICT statement (its ``excluded``
    columns) costs more than running it for one row."""
    dialect = session.get_bind().dialect.name
    cache_key = (dialect, table.name, key)
    statement = _BUILT.get(cache_key)
    if statement is None:
        statement = _BUILT[cache_key] = build(_upsert(dialect, table))
    return statement


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in slices of at most ``IN_CHUNK``, one IN (...) list each."""
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]
