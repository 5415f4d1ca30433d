"""Database fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL is reached at ``SME_EXPORT_TEST_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``, trust auth). Each test session
creates its own uniquely named database (through an autocommit connection to the
``postgres`` database), migrates it once, empties its tables after every test and drops
it at the end. An unreachable server fails the tests: CI must run them, never skip them.

Use with ``pytest_plugins = ["db_fixtures"]`` (in a test module or in conftest.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from api.db import make_engine, make_sessionmaker, sqlite_url
from api.migrate import upgrade
from api.tables import Base

POSTGRES_URL = os.environ.get(
    "SME_EXPORT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")
_START_HINT = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(check with `pg_isready -h 127.0.0.1`), or point SME_EXPORT_TEST_POSTGRES at a server"
)


def _admin_engine() -> Engine:
    admin = make_url(POSTGRES_URL).set(database="postgres")
    return create_engine(admin, isolation_level="AUTOCOMMIT")


@contextmanager
def new_postgres_database(
    prefix: str = "sme_test", *, icu_locale: str | None = None
) -> Iterator[URL]:
    """A new, empty, uniquely named PostgreSQL database; dropped afterwards. With
    ``icu_locale`` (``"en-US"``), text sorts by that locale's ICU collation instead of the
    server's default."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    collation = ""
    if icu_locale is not None:
        collation = f" LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}' TEMPLATE template0"
    admin = _admin_engine()
    problem = None
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{collation}'))
    except Exception as exc:
        problem = f"{type(exc).__name__}: {' '.join(str(exc.__cause__ or exc).split())[:300]}"
    if problem is not None:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is needed for these tests and is unreachable at {POSTGRES_URL} "
            f"({problem}); {_START_HINT}",
            pytrace=False,
        )
    try:
        yield make_url(POSTGRES_URL).set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """The session's PostgreSQL database, migrated to the newest revision."""
    with new_postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def postgres_database():
    """``with postgres_database(prefix) as url:`` a new empty database, dropped afterwards."""
    return new_postgres_database


def _empty_tables(engine: Engine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def postgres_empty_engine(postgres_engine) -> Iterator[Engine]:
    """The session's PostgreSQL database, emptied before and after the test."""
    _empty_tables(postgres_engine)
    try:
        yield postgres_engine
    finally:
        _empty_tables(postgres_engine)


@pytest.fixture(params=BACKENDS)
def db_engine(request, tmp_path) -> Iterator[Engine]:
    """A migrated, empty database: a fresh SQLite file, or the session's PostgreSQL one."""
    if request.param == "sqlite":
        engine = make_engine(sqlite_url(tmp_path / "test.db"))
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    yield request.getfixturevalue("postgres_empty_engine")


@pytest.fixture
def db_session(db_engine) -> Iterator[Session]:
    """A session on ``db_engine``; whatever the test did not commit is rolled back."""
    session = make_sessionmaker(db_engine)()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def db_url(db_engine) -> str:
    """The URL of ``db_engine``'s database, password included (for commands run by URL)."""
    return db_engine.url.render_as_string(hide_password=False)
