"""Alembic environment: runs on the connection handed over by ``api.migrate``.

Run through ``api.migrate.upgrade`` (or ``sme-export db upgrade``); the programmatic
config passes an open connection in ``config.attributes["connection"]``. A config
with only ``sqlalchemy.url`` set also works (engine made by ``api.db.make_engine``).
"""

from __future__ import annotations

from alembic import context

from api.db import make_engine
from api.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
