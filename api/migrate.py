"""Schema migrations (Alembic), configured from code: no alembic.ini needed, any cwd works.

The scripts live in ``api/migrations``; ``upgrade(url)`` brings a database to the
newest revision and does nothing when it is there already; ``downgrade(url, revision=...)``
undoes them. ``init_app(app)`` migrates the app's database on start when
``AUTO_MIGRATE`` is set (the embedded SQLite default; PostgreSQL in production is
migrated once with ``sme-export db upgrade`` before the workers start).

A new revision, from the models' differences with a migrated database::

    from alembic import command
    command.revision(alembic_config(url=URL), message="...", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from api.db import get_database, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for our scripts, running on ``connection`` (or on ``url``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def init_app(app: Flask) -> None:
    """Bring the database of ``app`` (``api.db.init_app`` first) up to date, if
    ``app.config["AUTO_MIGRATE"]`` asks for it."""
    if app.config.get("AUTO_MIGRATE", False):
        upgrade(get_database(app).engine)


def upgrade(target: str | URL | Engine, *, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (default: the newest); idempotent."""
    _run(command.upgrade, target, revision)


def downgrade(target: str | URL | Engine, *, revision: str) -> None:
    """Undo migrations down to ``revision`` ("base": an empty schema)."""
    _run(command.downgrade, target, revision)


def _run(step, target: str | URL | Engine, revision: str) -> None:
    """Run an Alembic command in one transaction, on an engine of our own unless given one.

    SQLite alters a table by copying it into a new one and dropping the old, which its
    foreign-key checks refuse while other tables' rows refer to it: they are switched off
    for the migration (outside the transaction, where SQLite honours it), every reference
    is checked before the commit, and they are on again afterwards.
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
                connection.commit()
            try:
                with connection.begin():
                    step(alembic_config(connection=connection), revision)
                    if sqlite:
                        _check_references(connection)
            finally:
                if sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                    connection.commit()
    finally:
        if engine is not target:
            engine.dispose()


class MigrationError(RuntimeError):
    """A migration would leave rows that refer to rows that are gone."""


def _check_references(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise MigrationError(
            f"the migration would leave {len(broken)} row(s) of {', '.join(tables)} referring "
            "to rows that are gone; nothing was changed"
        )


def head_revision() -> str:
    """The newest revision among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for a database never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    """True when the database schema is at the newest revision."""
    return current_revision(engine) == head_revision()
