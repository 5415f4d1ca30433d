"""The database engine and one session per application context.

``init_app(app)`` builds the engine from ``app.config["DATABASE_URL"]`` (None: SQLite
file ``sme_export.db`` in the instance folder); the schema is ``api.migrate``'s business
(its ``init_app`` brings it up to date when ``AUTO_MIGRATE`` is set). ``get_session()``
hands out the context's session; it is closed (uncommitted work rolled back) when the
context ends. ``make_engine(url)`` works without Flask (command line, tests).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from api import json_columns
from api.sqlite_writers import WAL_FILE_LIMIT_BYTES, Checkpointer, WriterQueueConnection

log = logging.getLogger(__name__)

DEFAULT_SQLITE_FILENAME = "sme_export.db"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
_EXTENSION = "sme_export_db"


def sqlite_url(path: str | os.PathLike) -> str:
    """The URL of a SQLite database file (made absolute, so the working directory can change)."""
    return f"sqlite:///{Path(path).resolve()}"


# Statement parameters (personal data) kept out of logs and errors; JSON columns through
# orjson (``api.json_columns``).
_COMMON = {
    "hide_parameters": True,
    "json_serializer": json_columns.dump,
    "json_deserializer": json_columns.load,
}


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url``: SQLite with foreign keys and WAL, or PostgreSQL via psycopg 3.

    A SQLite file's folder is created if missing; ``sqlite://`` (in memory) keeps one
    shared connection so every session sees the same database. Pooled connections that
    no longer reach the database are replaced when checked out: PostgreSQL ones by a
    ping, SQLite ones when the file was replaced, removed or made unreadable. Statement
    parameters (which carry personal data) are kept out of logs and error messages. A
    SQLite file's writers, in every thread and process, queue on one lock file
    (``api.sqlite_writers``).
    """
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **_COMMON)
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        engine = create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            **_COMMON,
        )
    else:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                # writers wait their turn on a lock file, not in SQLite's busy handler
                "factory": WriterQueueConnection,
            },
            **_COMMON,
        )
        _replace_connections_to_a_lost_file(engine, url.database)
        _checkpoint_in_the_background(engine, url.database)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # the log is copied into the database by a background thread, not by a commit
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
            cursor.execute(f"PRAGMA journal_size_limit = {WAL_FILE_LIMIT_BYTES}")
            # Deleted rows (erased personal data) are overwritten, not left in free pages.
            cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()

    return engine


def _file_identity(path: str) -> tuple[int, int] | None:
    """Device and inode of a readable and writable file, else None."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if not os.access(path, os.R_OK | os.W_OK):
        return None
    return status.st_dev, status.st_ino


def _replace_connections_to_a_lost_file(engine: Engine, path: str) -> None:
    """An open SQLite connection keeps working on its file even after the file is made
    unreadable, removed or replaced (by a restored backup, say), and would go on reading
    and writing a file nobody else sees. On checkout, such a connection is discarded, so
    the pool opens a new one: the service then fails visibly while the file is unusable
    and works again, without a restart, once it is back."""

    @event.listens_for(engine, "connect")
    def _remember_file(dbapi_connection, connection_record) -> None:
        connection_record.info["sqlite_file"] = _file_identity(path)

    @event.listens_for(engine, "checkout")
    def _check_file(dbapi_connection, connection_record, connection_proxy) -> None:
        identity = _file_identity(path)
        if identity is None or identity != connection_record.info.get("sqlite_file"):
            raise DisconnectionError("the SQLite database file was replaced or is unreadable")


def _checkpoint_in_the_background(engine: Engine, path: str) -> None:
    """The write-ahead log copied into the database off the request path (``Checkpointer``)."""
    checkpointer = Checkpointer(path)
    event.listen(engine, "commit", lambda connection: checkpointer.committed())


_CHECKPOINT_AFTER_COMMIT = "sme_export.checkpoint_after_commit"
#: How long the checkpoint after an erasure tries again while another checkpoint runs.
ERASURE_CHECKPOINT_SECONDS = 5.0


def checkpoint_after_commit(session: Session) -> None:
    """Ask for a SQLite checkpoint once ``session`` commits: the write-ahead log keeps the
    earlier images of changed pages (erased personal data among them) until then."""
    session.info[_CHECKPOINT_AFTER_COMMIT] = True


@event.listens_for(Session, "after_commit")
def _checkpoint(session: Session) -> None:
    if not session.info.pop(_CHECKPOINT_AFTER_COMMIT, False):
        return
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or not isinstance(bind, Engine):
        return
    # A checkpoint that another one (the background thread's) is running at that moment
    # answers busy and leaves the log as it is: tried again for a while.
    deadline = time.monotonic() + ERASURE_CHECKPOINT_SECONDS
    while True:
        try:
            with bind.connect() as connection:
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
        except OperationalError:
            busy = 1
        if not busy:
            return
        if time.monotonic() >= deadline:
            # committed all the same; the log is emptied when the database is next idle
            log.warning("the write-ahead log could not be emptied after an erasure")
            return
        time.sleep(0.01)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (results are serialised after it)."""
    return sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True)
class Database:
    """What ``init_app`` keeps on the app: the engine and its session factory."""

    engine: Engine
    sessions: sessionmaker[Session]


def database_url(app: Flask) -> str:
    """The app's database URL: ``DATABASE_URL``, else the SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        return str(url)
    filename = app.config.get("SQLITE_FILENAME", DEFAULT_SQLITE_FILENAME)
    return sqlite_url(Path(app.instance_path) / filename)


def init_app(app: Flask) -> None:
    """Give ``app`` an engine and a session per app context."""
    engine = make_engine(database_url(app))
    app.extensions[_EXTENSION] = Database(engine, make_sessionmaker(engine))
    app.teardown_appcontext(close_session)


def get_database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions[_EXTENSION]


def get_engine() -> Engine:
    """The current app's engine (for readiness checks)."""
    return get_database().engine


def get_session() -> Session:
    """The session of the current app context, opened on first use."""
    if "db_session" not in g:
        g.db_session = get_database().sessions()
    return g.db_session


def close_session(exc: BaseException | None = None) -> None:
    """Close the context's session; anything not committed is rolled back."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
